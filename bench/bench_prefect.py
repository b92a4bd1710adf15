"""Prefect costs of the running system (issue #6), measured in one run.

1. Submit-to-routed latency: a real `prefect server start`, `complaints up` serving the
   deployments, one complaint submitted at a time through the CLI with PREFECT_API_URL set;
   time from the submit's commit (its `received` audit event) to `routed_at`. Once with the
   runner's default polling (10 s), once tuned (--poll-seconds 1).
2. Amortised Prefect cost per complaint in a burst of 10,000: the intake flow run on the server
   minus `run_intake` without Prefect on an identical batch, divided by 10,000; against a naive
   flow run per complaint (a sync flow routing one complaint, median of 5), in the same run.

    .venv/bin/python bench/bench_prefect.py [--samples 5] [--burst 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, select  # noqa: E402

from bench.common import fresh_postgres  # noqa: E402
from complaints.config import REPO_ROOT, load_config  # noqa: E402
from domain.calendar import WorkingCalendar  # noqa: E402
from models.audit import AuditEvent  # noqa: E402
from models.complaint import Complaint  # noqa: E402
from models.sqlutil import table_of  # noqa: E402
from models.submission import submit  # noqa: E402
from tests.factories import complaint, complaint_data  # noqa: E402
from tests.system.conftest import base_env, run_cli, spawn, stop  # noqa: E402

C = table_of(Complaint)
A = table_of(AuditEvent)
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"


def start_server(home: Path) -> tuple[object, str]:
    import subprocess

    import httpx

    from tests.system.conftest import free_port

    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    for _ in range(180):
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return proc, api
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("Prefect server did not start")


def latency(api: str, poll: float, samples: int, tmp: Path) -> list[float]:
    engine, url = fresh_pg_named(f"complaints_bench_latency_{int(poll)}")
    env = base_env(api, url, tmp)
    up = spawn(["up", "--poll-seconds", str(poll), "--interval", "intake=3600"], env, tmp / f"up-{poll}.log")
    try:
        time.sleep(12)  # deployments registered, runner polling
        out = []
        for i in range(samples):
            data = complaint_data(external_ref=f"LAT-{poll}-{i}")
            import json

            result = run_cli(["submit", "-"], env, input_text=json.dumps(data, ensure_ascii=False))
            assert result.returncode == 0, result.stderr
            case_no = json.loads(result.stdout)["case_no"]
            deadline = time.monotonic() + 120
            routed_at = None
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    row = conn.execute(select(C.c.routed_at, C.c.created_at).where(C.c.case_no == case_no)).one()
                if row.routed_at is not None:
                    routed_at = row
                    break
                time.sleep(0.05)
            assert routed_at is not None, f"{case_no} not routed in 120 s"
            out.append((routed_at.routed_at - routed_at.created_at).total_seconds())
            time.sleep(2)
        return out
    finally:
        stop(up)
        engine.dispose()


def fresh_pg_named(name: str) -> tuple[Engine, str]:
    return fresh_postgres(name), PG + name


def burst_cost(api: str, n: int) -> tuple[float, float, float]:
    from prefect import flow
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.intake import intake, run_intake

    config = load_config(REPO_ROOT / "config")
    cal = WorkingCalendar()
    now = datetime.now(UTC)

    def seeded(name: str, count: int) -> tuple[Engine, str]:
        engine, url = fresh_pg_named(name)
        for i in range(0, count, 5000):
            submit(engine, [complaint(external_ref=f"{name}-{j}") for j in range(i, min(count, i + 5000))],
                   config=config, calendar=cal, now=now)
        return engine, url

    plain_engine, _ = seeded("complaints_bench_burst_plain", n)
    t0 = time.perf_counter()
    assert run_intake(plain_engine, config).routed == n
    t_plain = time.perf_counter() - t0
    plain_engine.dispose()

    flow_engine, flow_url = seeded("complaints_bench_burst_flow", n)
    os.environ["COMPLAINTS_DATABASE_URL"] = flow_url
    with temporary_settings(updates={PREFECT_API_URL: api}):
        t0 = time.perf_counter()
        assert intake()["routed"] == n
        t_flow = time.perf_counter() - t0

        naive_engine, naive_url = seeded("complaints_bench_naive", 5)
        os.environ["COMPLAINTS_DATABASE_URL"] = naive_url

        @flow(name="naive-intake-one")
        def naive_one() -> int:
            return run_intake(naive_engine, config, batch_size=1).routed

        naive = []
        for _ in range(5):
            t0 = time.perf_counter()
            naive_one()
            naive.append(time.perf_counter() - t0)
    flow_engine.dispose()
    naive_engine.dispose()
    return t_plain, t_flow, statistics.median(naive)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--burst", type=int, default=10_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-prefect-"))
    server, api = start_server(tmp / "home")
    try:
        t_plain, t_flow, t_naive = burst_cost(api, args.burst)
        per = (t_flow - t_plain) / args.burst * 1000
        print(f"burst of {args.burst}: intake without Prefect {t_plain:.2f} s, as a flow run {t_flow:.2f} s "
              f"→ Prefect cost {per:.3f} ms per complaint (target < 1 ms); "
              f"naive flow run per complaint {t_naive * 1000:.0f} ms (median of 5) → {t_naive * 1000 / max(per, 1e-6):,.0f}x")
        for poll in (10.0, 1.0):
            lat = sorted(latency(api, poll, args.samples, tmp))
            p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
            label = "default polling (10 s)" if poll == 10.0 else "tuned polling (1 s)"
            print(f"submit→routed, {label}: p50 {statistics.median(lat):.2f} s, p95 {p95:.2f} s "
                  f"(n={len(lat)}: {', '.join(f'{x:.1f}' for x in lat)})")
    finally:
        stop(server)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
