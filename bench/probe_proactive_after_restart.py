"""How soon after a Prefect server restart does a proactive automation fire? (docs/deploy.md)

A Prefect server as the system tests run it (tests/system/cluster.py: its own PostgreSQL database,
Redis messaging, causal ordering and docket), one proactive automation (`after` exp.start, `expect`
exp.stop within 10 s, for each resource), then: an exp.start event and the time until the
automation's `prefect.automation.triggered` event names its resource; the server SIGTERMed and
started again (2 s down) and the same, three times.

    .venv/bin/python bench/probe_proactive_after_restart.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from tests.system.cluster import Cluster  # noqa: E402

AUTOMATION = {
    "name": "probe-proactive", "enabled": True,
    "trigger": {"type": "event", "posture": "Proactive", "match": {"prefect.resource.id": "probe.r.*"},
                "after": ["probe.start"], "expect": ["probe.stop"], "for_each": ["prefect.resource.id"],
                "threshold": 1, "within": 10},
    "actions": [{"type": "do-nothing"}],
}


def emit(api: str, resource: str) -> float:
    event = {"occurred": datetime.now(UTC).isoformat(), "event": "probe.start",
             "resource": {"prefect.resource.id": resource}, "id": str(uuid.uuid4())}
    httpx.post(f"{api}/events", json=[event], timeout=10).raise_for_status()
    return time.monotonic()


def fired(api: str, automation_id: str, resource: str) -> bool:
    body = {"filter": {"event": {"name": ["prefect.automation.triggered"]},
                       "resource": {"id": [f"prefect.automation.{automation_id}"]}}, "limit": 50}
    r = httpx.post(f"{api}/events/filter", json=body, timeout=10)
    return r.status_code == 200 and any(resource in json.dumps(e) for e in r.json().get("events", []))


def measure(api: str, automation_id: str, label: str, resource: str, limit: float = 420) -> None:
    started = emit(api, resource)
    while time.monotonic() - started < limit:
        try:
            if fired(api, automation_id, resource):
                print(f"{label}: fired {time.monotonic() - started:.1f} s after its event", flush=True)
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    print(f"{label}: not fired within {limit:.0f} s", flush=True)


def main() -> None:
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="probe-restart-")), "probe_restart")
    try:
        cluster.start_server()
        r = httpx.post(f"{cluster.api}/automations/", json=AUTOMATION, timeout=10)
        r.raise_for_status()
        automation_id = str(r.json()["id"])
        time.sleep(3)  # the triggers service loads the automation
        measure(cluster.api, automation_id, "fresh server", "probe.r.0")
        for i in (1, 2, 3):
            cluster.restart_server()
            measure(cluster.api, automation_id, f"after restart {i}", f"probe.r.{i}")
    finally:
        cluster.stop()
        cluster.drop()


if __name__ == "__main__":
    main()
