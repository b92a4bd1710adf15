"""The running system: a real Prefect server process, `complaints up` serving the deployments,
the application on the real PostgreSQL, and the CLI in separate processes.

Slow by nature (a server start, flow-run subprocesses): one session, a few minutes at most.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from sqlalchemy import Engine, func, select

from models.audit import AuditEvent
from models.audit_chain import verify
from models.complaint import Complaint
from models.sqlutil import table_of
from tests.factories import complaint_data
from tests.system.conftest import base_env, free_port, fresh_pg, run_cli, spawn, stop, wait_for

C = table_of(Complaint)
A = table_of(AuditEvent)


def routed_counts(engine: Engine) -> tuple[int, Counter[int]]:
    with engine.connect() as conn:
        routed = conn.execute(select(func.count()).where(C.c.status == "routed")).scalar_one()
        events = Counter(cid for (cid,) in conn.execute(select(A.c.complaint_id).where(A.c.action == "routed")))
    return int(routed), events


def submit_file(tmp_path: Path, n: int, prefix: str) -> str:
    path = tmp_path / f"{prefix}.json"
    path.write_text(json.dumps([complaint_data(external_ref=f"{prefix}-{i:05d}") for i in range(n)],
                               ensure_ascii=False), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def system(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, dict[str, str]]]:
    """`complaints up` against the server, on its own PostgreSQL database, fast safety nets."""
    engine, url = fresh_pg("complaints_system")
    home = tmp_path_factory.mktemp("runner-home")
    env = base_env(prefect_api, url, home)
    log = home / "up.log"
    web_port = free_port()
    env["COMPLAINTS_TEST_WEB"] = f"http://127.0.0.1:{web_port}"
    # safety nets every 15 s: each scheduled run is a process of its own (~5 s of a core to start);
    # at 4 s the runner fell behind (40-50 runs skipped "at capacity") and a weekly-report run
    # asked for by hand waited a minute in that queue
    proc = spawn(["up", "--poll-seconds", "1", "--web-port", str(web_port), "--interval", "intake=15",
                  "--interval", "dispatch=15", "--interval", "escalation=15"], env, log)
    try:
        with get_client(sync_client=True) as client:
            wait_for(lambda: len(client.read_deployments()) >= 4 or proc.poll() is not None, 90,
                     "the runner to register its deployments")
        assert proc.poll() is None, log.read_text()[-3000:]
        yield engine, env
    finally:
        stop(proc)
        engine.dispose()


def _runs(client: SyncPrefectClient, flow_name: str) -> list[str]:
    """State names of the flow's runs (flow names equal deployment names here)."""
    runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])), limit=200)
    return [str(r.state_name) for r in runs]


def test_burst_of_submissions_is_routed_once_each(system: tuple[Engine, dict[str, str]], tmp_path: Path) -> None:
    """200 complaints submitted with the server configured: events trigger intake, all routed once, few runs."""
    engine, env = system
    result = run_cli(["submit", submit_file(tmp_path, 200, "BURST")], env)
    assert result.returncode == 0, result.stderr
    wait_for(lambda: routed_counts(engine)[0] >= 200, 120, "200 complaints routed")
    routed, per_case = routed_counts(engine)
    assert routed == 200 and set(per_case.values()) == {1}
    with get_client(sync_client=True) as client:
        wait_for(lambda: "Completed" in _runs(client, "intake"), 30, "the intake run to complete")
        states = _runs(client, "intake")
    # The trigger coalesces the burst's events (`within`), so only a few runs do the work (the
    # 15 s safety-net schedule adds its own; future ones wait as Scheduled).
    assert 1 <= states.count("Completed") < 20
    assert verify(engine).ok


def test_lost_event_is_caught_by_the_safety_net(system: tuple[Engine, dict[str, str]], tmp_path: Path) -> None:
    """With the Prefect server unreachable at submit time, the complaint is stored and routed by the schedule."""
    engine, env = system
    dead = {**env, "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    before = routed_counts(engine)[0]
    result = run_cli(["submit", submit_file(tmp_path, 3, "LOST")], dead)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["status"] == "received"
    wait_for(lambda: routed_counts(engine)[0] >= before + 3, 90, "the interval schedule to route the 3")


def test_escalation_and_dispatch_run_from_their_schedules(system: tuple[Engine, dict[str, str]]) -> None:
    """The escalation and dispatch deployments complete runs from their interval schedules."""
    with get_client(sync_client=True) as client:
        wait_for(lambda: "Completed" in _runs(client, "escalation") and "Completed" in _runs(client, "dispatch"),
                 90, "scheduled escalation and dispatch runs")


def test_killed_intake_run_loses_and_doubles_nothing(prefect_api: str, tmp_path: Path) -> None:
    """SIGKILL of an intake flow run mid-way: the next run routes the rest, every complaint exactly once."""
    engine, url = fresh_pg("complaints_kill")
    env = base_env(prefect_api, url, tmp_path)
    quiet = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}  # no events: nothing else runs intake
    assert run_cli(["submit", submit_file(tmp_path, 3000, "KILL")], quiet).returncode == 0
    proc = spawn(["intake", "--batch-size", "25"], env, tmp_path / "intake.log")
    wait_for(lambda: routed_counts(engine)[0] >= 100 or proc.poll() is not None, 120, "intake to start routing")
    assert proc.poll() is None, "intake finished before it could be killed: raise the count"
    stop(proc, signal.SIGKILL)
    partial = routed_counts(engine)[0]
    assert 0 < partial < 3000
    again = run_cli(["intake"], env)
    assert again.returncode == 0, again.stderr
    routed, per_case = routed_counts(engine)
    assert routed == 3000 and len(per_case) == 3000 and set(per_case.values()) == {1}
    assert verify(engine).ok
    engine.dispose()


def test_a_case_action_is_an_event_on_the_case(system: tuple[Engine, dict[str, str]], tmp_path: Path) -> None:
    """Acknowledging a case through the CLI leaves a complaint.acknowledged event on the case's resource."""
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    engine, env = system
    result = run_cli(["submit", submit_file(tmp_path, 1, "ACK")], env)
    case_no = json.loads(result.stdout)[0]["case_no"]
    wait_for(lambda: _status(engine, case_no) == "routed", 90, f"{case_no} routed")
    ack = run_cli(["acknowledge", case_no], env)  # recorded as the OS user (os:NAME)
    assert ack.returncode == 0, ack.stderr
    flt = EventFilter(event=EventNameFilter(name=["complaint.acknowledged"]),
                      resource=EventResourceFilter(id=[f"complaint.{case_no}"]))
    with get_client(sync_client=True) as client:
        wait_for(lambda: bool(client.read_events(filter=flt, limit=5).events), 30, "the acknowledged event")


def _status(engine: Engine, case_no: str) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(C.c.status).where(C.c.case_no == case_no)).scalar_one())


class _SlowReceiver:
    """A webhook receiver on loopback that takes 20 ms a request and counts the message ids it gets."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.ids: Counter[str] = Counter()
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(0.02)
                with lock:
                    receiver.ids[self.headers.get("X-Complaints-Message-Id", "")] += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def test_killed_dispatch_run_loses_nothing_and_duplicates_at_most_in_flight(
    prefect_api: str, tmp_path: Path
) -> None:
    """SIGKILL of a dispatch flow run mid-way: after the lease, the next run sends the rest; each
    message arrives, and only what was in flight at the kill may arrive twice (same message id)."""
    import uuid

    import yaml

    from models.outbox import OutboxMessage
    from tests.support.notify import routed_context

    engine, url = fresh_pg("complaints_kill_dispatch")
    receiver = _SlowReceiver()
    channels = yaml.safe_load((Path("config") / "channels.yaml").read_text(encoding="utf-8"))
    channels.update({"lease_seconds": 3, "batch_size": 50})
    channels_file = tmp_path / "channels.yaml"
    channels_file.write_text(yaml.safe_dump(channels, allow_unicode=True), encoding="utf-8")
    env = {**base_env(prefect_api, url, tmp_path), "COMPLAINTS_CHANNELS": str(channels_file),
           "COMPLAINTS_WEBHOOK_KEY": "system-test-key"}
    now = datetime.now(UTC)
    rows = [{"dedupe_key": f"k{i}", "message_id": uuid.uuid4().hex, "kind": "routed", "case_no": f"DL-2026-{i:06d}",
             "recipient": f"r{i}", "channel": "webhook", "address": receiver.url,
             "context": routed_context(f"DL-2026-{i:06d}"), "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now} for i in range(400)]
    with engine.begin() as conn:
        conn.execute(table_of(OutboxMessage).insert(), rows)
    proc = spawn(["dispatch"], env, tmp_path / "dispatch.log")
    wait_for(lambda: sum(receiver.ids.values()) >= 60 or proc.poll() is not None, 120, "dispatch to start sending")
    assert proc.poll() is None, (tmp_path / "dispatch.log").read_text()[-3000:]
    stop(proc, signal.SIGKILL)
    time.sleep(3.5)  # the killed run's lease expires
    again = run_cli(["dispatch"], env)
    assert again.returncode == 0, again.stderr
    expected = {r["message_id"] for r in rows}
    assert set(receiver.ids) == expected
    doubled = [m for m, n in receiver.ids.items() if n > 1]
    assert len(doubled) <= 50  # at most the batch that was being sent when the run died
    with engine.connect() as conn:
        statuses = Counter(s for (s,) in conn.execute(select(table_of(OutboxMessage).c.status)))
    assert statuses == Counter({"sent": 400})
    engine.dispose()


def test_weekly_report_deployment_leaves_its_artifacts(system: tuple[Engine, dict[str, str]], tmp_path: Path) -> None:
    """A run of the weekly-report deployment (served by `complaints up`) publishes its artifacts on the server."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    run = run_deployment("weekly-report/weekly-report", parameters={"week": "2026-W47", "output_dir": str(tmp_path)},
                         timeout=120)
    assert isinstance(run, FlowRun)  # called from sync code: a flow run, not a coroutine
    assert run.state is not None and run.state.is_completed(), run.state
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["weekly-report-2026-w47"])))
    assert artifacts and artifacts[0].type == "markdown"
    assert list(tmp_path.rglob("*.html"))


def test_up_serves_the_web_pages_and_api(system: tuple[Engine, dict[str, str]]) -> None:
    """`complaints up` also serves the web: the login page answers and the API refuses anonymous calls."""
    import httpx

    _, env = system
    web = env["COMPLAINTS_TEST_WEB"]
    assert httpx.get(f"{web}/login", timeout=10).status_code == 200
    assert httpx.get(f"{web}/api/complaints", timeout=10).status_code == 401
