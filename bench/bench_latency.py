"""Submit → routed latency through the HTTP API, on `complaints up` and on the two-worker deployment.

    .venv/bin/python bench/bench_latency.py --target up        # complaints up, its own Prefect server
    .venv/bin/python bench/bench_latency.py --target workers   # server on PostgreSQL + Redis, 2 workers
    .venv/bin/python bench/bench_latency.py --target workers --kill-worker   # + a burst with one killed
    options: --stream-seconds 180 --rate 1 --burst 2000 --burst-seconds 10 --skip-stream --skip-burst
             --warm (measure once the schedule's resident intake run is up: steady state)

Each complaint is POSTed to /api/complaints (16 client threads, paced); its latency is from the
request's start to its `routed_at`. Reported: stream p50/p95/max; burst: the last complaint routed
after the last submit; intake runs by state (cancelled ones counted apart: the target is 0); the
event → run-created lag of each run the submitted trigger created (its `event_occurred` parameter
to the run's `created`); every complaint routed exactly once (one `routed` audit event each).
Notifications go to loopback sinks (complaints.sinks: SMTP and robot receivers; robots' rate limit
lifted as in the system tests): each message's enqueue → sent time (p50/p95/max), what is still
unsent at the end, and dispatch's runs by state with the cancelled ones counted apart (target 0).
The application database is a fresh PostgreSQL database; safety-net schedules are as shipped.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from complaints.sinks import Sinks  # noqa: E402
from settings.config import REPO_ROOT  # noqa: E402
from tests import pgtest  # noqa: E402
from tests.system.cluster import Cluster, outcome, submit_paced  # noqa: E402
from tests.system.conftest import base_env, free_port, run_cli, spawn, stop, wait_for  # noqa: E402


class UpTarget:
    """`complaints up` as documented (its own Prefect server), the app on PostgreSQL."""

    def __init__(self, tmp: Path) -> None:
        self.app_db = pgtest.db_name("bench_latency_up")
        self.app_url = pgtest.create_database(self.app_db)
        self.port, self.web_port = free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.web = f"http://127.0.0.1:{self.web_port}"
        self.env = base_env(None, self.app_url, tmp / "home")
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> UpTarget:
        assert run_cli(["migrate"], self.env).returncode == 0
        self.proc = spawn(["up", "--port", str(self.port), "--web-port", str(self.web_port)], self.env,
                          self.tmp / "up.log")

        def ready() -> bool:
            try:
                r = httpx.post(f"{self.api}/deployments/filter", json={}, timeout=3)
                return r.status_code == 200 and len(r.json()) >= 5
            except httpx.HTTPError:
                return False

        wait_for(ready, 180, "complaints up to register its deployments")
        return self

    def token(self) -> str:
        added = run_cli(["user", "add", "bench1", "--role", "cpo", "--password-stdin"], self.env,
                        input_text="pass word 12\n")
        assert added.returncode == 0, added.stderr
        return str(json.loads(run_cli(["token", "add", "bench1"], self.env).stdout)["token"])

    def flow_runs(self, flow_name: str) -> list[dict[str, Any]]:
        body = {"flows": {"name": {"any_": [flow_name]}}, "limit": 200, "sort": "EXPECTED_START_TIME_DESC"}
        return list(httpx.post(f"{self.api}/flow_runs/filter", json=body, timeout=10).json())

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, signal.SIGTERM, timeout=20)

    def drop(self) -> None:
        pgtest.drop_database(self.app_db)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def measure(target: Any, token: str, prefix: str, n: int, seconds: float, *, kill: bool = False,
            wait: float = 300) -> dict[str, Any]:
    refs = [f"{prefix}{i:05d}" for i in range(n)]
    began: dict[str, float] = {}
    killed: dict[str, Any] = {}

    def load() -> None:
        began.update(submit_paced(target.web, token, refs, seconds, threads=16))

    t = threading.Thread(target=load, daemon=True)
    t.start()
    if kill:
        wait_for(lambda: target.worker_running("intake") is not None
                 and len(outcome(target.app_url, prefix)["routed_at"]) >= n // 4, 120, "intake routing the burst")
        w = target.kill_worker_running("intake")
        killed = {"pid": w.pid if w else None, "routed_at_kill": len(outcome(target.app_url, prefix)["routed_at"]),
                  "at": time.time()}
    t.join()
    last_submit = max(began.values())
    deadline = time.monotonic() + wait
    out = outcome(target.app_url, prefix)
    while len(out["routed_at"]) < n and time.monotonic() < deadline:
        time.sleep(0.5)
        out = outcome(target.app_url, prefix)
    lat = [out["routed_at"][r] - began[r] for r in out["routed_at"] if r in began]
    result: dict[str, Any] = {
        "n": n, "submit_span_s": round(last_submit - min(began.values()), 2), "routed": len(out["routed_at"]),
        "lost": n - len(out["routed_at"]),
        "doubled": sum(1 for v in out["routed_events"].values() if v > 1),
        "p50_s": round(statistics.median(lat), 2) if lat else None,
        "p95_s": round(_pct(lat, 0.95), 2) if lat else None,
        "max_s": round(max(lat), 2) if lat else None,
        "last_routed_after_last_submit_s": round(max(out["routed_at"].values()) - last_submit, 2) if lat else None,
    }
    if killed:
        result["killed"] = killed
    return result


def _since(runs: list[dict[str, Any]], since: float) -> list[dict[str, Any]]:
    return [r for r in runs if datetime.fromisoformat(r["created"].replace("Z", "+00:00")).timestamp() >= since]


def dispatch_summary(target: Any, since: float, wait: float = 120) -> dict[str, Any]:
    """Messages enqueued since `since`: enqueue → sent seconds, once dispatch has sent them all (or
    `wait` ran out); dispatch runs by state, cancelled ones counted apart."""
    from sqlalchemy import create_engine, select

    from models.outbox import OutboxMessage
    from models.sqlutil import table_of

    o = table_of(OutboxMessage)
    start = datetime.fromtimestamp(since).astimezone()
    engine = create_engine(target.app_url)
    try:
        deadline = time.monotonic() + wait
        while True:
            with engine.connect() as conn:
                rows = conn.execute(select(o.c.status, o.c.created_at, o.c.sent_at).where(o.c.created_at >= start)).all()
            if all(r.status != "pending" for r in rows) or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        engine.dispose()
    lag = [(r.sent_at - r.created_at).total_seconds() for r in rows if r.sent_at is not None]
    runs = _since(target.flow_runs("dispatch"), since)
    return {"messages": len(rows), "sent": len(lag), "unsent": Counter(r.status for r in rows if r.sent_at is None),
            "enqueue_to_sent_p50_s": round(statistics.median(lag), 2) if lag else None,
            "enqueue_to_sent_p95_s": round(_pct(lag, 0.95), 2) if lag else None,
            "enqueue_to_sent_max_s": round(max(lag), 2) if lag else None,
            "dispatch_runs": dict(Counter(r["state_name"] for r in runs if r["state_type"] != "SCHEDULED")),
            "dispatch_cancelled": sum(1 for r in runs if r["state_type"] == "CANCELLED")}


def runs_summary(target: Any, since: float) -> dict[str, Any]:
    runs = _since(target.flow_runs("intake"), since)
    states = Counter(r["state_name"] for r in runs if r["state_type"] != "SCHEDULED" or r["state_name"] != "Scheduled")
    lags = []
    for r in runs:
        occurred = (r.get("parameters") or {}).get("event_occurred")
        if occurred:
            created = datetime.fromisoformat(r["created"].replace("Z", "+00:00"))
            lags.append((created - datetime.fromisoformat(occurred)).total_seconds())
    return {"intake_runs": dict(states), "cancelled": sum(1 for r in runs if r["state_type"] == "CANCELLED"),
            "event_to_run_created_s": [round(x, 2) for x in sorted(lags)],
            "takeover_runs": sum(1 for r in runs if (r.get("parameters") or {}).get("hold_until"))}


def _channels(tmp: Path) -> Path:
    """config/channels.yaml with the robots' rate limit lifted (the bench measures dispatch, not the
    limit), as the worker system tests do."""
    import yaml

    channels = yaml.safe_load((REPO_ROOT / "config" / "channels.yaml").read_text(encoding="utf-8"))
    for spec in channels["channels"].values():
        if isinstance(spec, dict) and "rate_per_minute" in spec:
            spec["rate_per_minute"] = 100_000
    path = tmp / "channels.yaml"
    path.write_text(yaml.safe_dump(channels, allow_unicode=True), encoding="utf-8")
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", choices=["up", "workers"], default="up")
    ap.add_argument("--kill-worker", action="store_true",
                    help="workers: one more burst, the worker running intake SIGKILLed mid-burst")
    ap.add_argument("--stream-seconds", type=float, default=180)
    ap.add_argument("--rate", type=float, default=1.0)
    ap.add_argument("--burst", type=int, default=2000)
    ap.add_argument("--burst-seconds", type=float, default=10)
    ap.add_argument("--skip-stream", action="store_true")
    ap.add_argument("--skip-burst", action="store_true")
    ap.add_argument("--warm", action="store_true",
                    help="first wait (up to 4 min) for the schedule's resident intake run to be running: "
                         "steady state, not the first minutes after start")
    args = ap.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    tmp = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    target: Any = UpTarget(tmp) if args.target == "up" else Cluster(tmp, "bench_latency", workers=2)
    report: dict[str, Any] = {"target": args.target, "kill_worker": args.kill_worker, "logs": str(tmp)}
    sinks = Sinks().start()
    target.env.update({**sinks.environment(), "COMPLAINTS_CHANNELS": str(_channels(tmp))})
    try:
        target.start()
        token = target.token()
        if args.warm:
            started = time.monotonic()

            def resident() -> bool:
                return any(r["state_type"] == "RUNNING" and (r.get("parameters") or {}).get("hold_for")
                           for r in target.flow_runs("intake"))

            wait_for(resident, 240, "the resident intake run")
            report["warm_wait_s"] = round(time.monotonic() - started, 1)
        since = time.time()
        if not args.skip_stream:
            n = int(args.stream_seconds * args.rate)
            report["stream"] = measure(target, token, "ST-", n, args.stream_seconds)
            print(json.dumps({"stream": report["stream"]}), flush=True)
        if not args.skip_burst:
            time.sleep(5)
            report["burst"] = measure(target, token, "BU-", args.burst, args.burst_seconds)
            print(json.dumps({"burst": report["burst"]}), flush=True)
        if args.kill_worker:
            time.sleep(5)
            report["burst_worker_killed"] = measure(target, token, "BK-", args.burst, args.burst_seconds, kill=True)
            print(json.dumps({"burst_worker_killed": report["burst_worker_killed"]}), flush=True)
        time.sleep(3)
        report["prefect"] = runs_summary(target, since)
        report["notifications"] = dispatch_summary(target, since)
        report["notifications"]["received_by_sinks"] = len(sinks.snapshot())
    finally:
        target.stop()
        target.drop()
        sinks.stop()
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
