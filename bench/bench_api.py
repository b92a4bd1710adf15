"""HTTP API: POST /api/complaints at a fixed rate from a second process, on SQLite and PostgreSQL.

Starts `complaints web` (uvicorn, one process) on a free loopback port against a fresh database,
creates a desk account and a bearer token, then this process sends complaints open-loop at a fixed
rate (default 200 per second for 30 s; each request leaves on its schedule whether or not earlier
ones have answered, so a slow server shows up as latency, not as a lower rate). Every request has
its own Idempotency-Key. Prints p50 / p90 / p99 / max latency, errors and the rate achieved.
Target: p99 under 50 ms, zero errors. First the raw baseline (bench/bare_api.py: FastAPI on the same
uvicorn with no application behind the route) at the same rate, so a machine too slow for the rate
shows in the baseline too; each back-end's figures are then also printed as ratios to it.

    .venv/bin/python bench/bench_api.py [--rate 200] [--seconds 30] [--only sqlite|postgres] [--no-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from sqlalchemy import Engine, func, select  # noqa: E402

from bench.common import fresh_postgres, fresh_sqlite  # noqa: E402
from complaints.config import REPO_ROOT, load_config  # noqa: E402
from models.complaint import Complaint  # noqa: E402
from models.db import session_scope  # noqa: E402
from models.sqlutil import table_of  # noqa: E402
from models.users import create_token, create_user  # noqa: E402

PG_DB = "complaints_bench_api"
CLIENTS = 64  # x 4 connections each


def body(i: int) -> dict[str, Any]:
    return {
        "source": "desk", "channel": "营业现场", "category": ["银行卡", "贷款", "人民币储蓄", "支付结算"][i % 4],
        "cause": "定价收费", "branch": "dl",
        "complainant": {"name": "张三", "phone": f"138{i % 100_000_000:08d}", "id_number": "210202198001011238"},
        "request": "退还年费", "facts": f"账单扣收年费 200 元（压测 {i}）。",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "COMPLAINTS_DATABASE_URL": url}
    env.pop("PREFECT_API_URL", None)  # no event per submission: this measures the API and the database
    return subprocess.Popen([sys.executable, "-m", "complaints.cli", "web", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(f"{base}/login", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not start")


async def drive(base: str, token: str, rate: float, seconds: float,
                offset: int) -> tuple[list[float], list[str], float]:
    """Latencies, errors, and the seconds from the first request to the last answer (the clients'
    set-up, ~50 ms each for httpx's SSL context, not counted)."""
    latencies: list[float] = []
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    # Many small clients, each request on the next one: one httpx client with a pool of 200
    # connections spends O(waiting requests x connections) per request assigning them
    # (httpcore's _assign_requests_to_connections), and once the server's latency passes the
    # gap between requests that loop takes the whole core: the load generator, not the server,
    # then sets the figures (seen with py-spy: the client at 100 % CPU, the server idle).
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    pool = [httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) for _ in range(CLIENTS)]
    try:
        async def one(i: int) -> None:
            client = pool[i % len(pool)]
            start = time.perf_counter()
            try:
                r = await client.post("/api/complaints", json=body(i), headers={"Idempotency-Key": f"bench-{i}"})
                if r.status_code != 201:
                    errors.append(f"{r.status_code}: {r.text[:200]}")
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            latencies.append(time.perf_counter() - start)

        total = int(rate * seconds)
        t0 = time.perf_counter()
        tasks = []
        for n in range(total):
            delay = t0 + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(offset + n)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    finally:
        for client in pool:
            await client.aclose()
    return latencies, errors, elapsed


def pct(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def report(name: str, latencies: list[float], errors: list[str], elapsed: float, extra: str = "",
           **more: Any) -> dict[str, Any]:
    lat = sorted(latencies)
    out = {"db": name, "requests": len(lat), "rate": len(lat) / elapsed, "p50_ms": pct(lat, 50) * 1000,
           "p90_ms": pct(lat, 90) * 1000, "p99_ms": pct(lat, 99) * 1000, "max_ms": lat[-1] * 1000,
           "errors": len(errors), **more}
    print(f"{name:<10} {out['requests']} requests at {out['rate']:.1f}/s: p50 {out['p50_ms']:.1f} ms, "
          f"p90 {out['p90_ms']:.1f} ms, p99 {out['p99_ms']:.1f} ms, max {out['max_ms']:.1f} ms, "
          f"errors {out['errors']}{extra}", flush=True)
    for e in errors[:5]:
        print(f"   error: {e}")
    return out


def run_bare(rate: float, seconds: float) -> dict[str, Any]:
    """The raw baseline (bench/bare_api.py) at the same rate, in the same run."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).parent), "bare_api:app",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(base, proc)
        asyncio.run(drive(base, "-", rate, 2, offset=10_000_000))
        latencies, errors, elapsed = asyncio.run(drive(base, "-", rate, seconds, offset=0))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return report("bare", latencies, errors, elapsed, " (raw baseline: FastAPI, no application)")


@contextmanager
def web_on(engine: Engine) -> Iterator[tuple[str, str]]:
    """`complaints web` on this (fresh) database with a desk account: yields (base URL, bearer token)
    and stops the server after."""
    config = load_config(REPO_ROOT / "config")
    with session_scope(engine) as s:
        create_user(s, username="bench-desk", role="desk", password="bench-password", config=config,
                    now=datetime.now(UTC), branch="dl")
        token = create_token(s, username="bench-desk", now=datetime.now(UTC))
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(url, port)
    try:
        wait_ready(base, proc)
        yield base, token
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def run(name: str, engine: Engine, rate: float, seconds: float) -> dict[str, Any]:
    url = engine.url.render_as_string(hide_password=False)
    with web_on(engine) as (base, token):
        _, warm_errors, _ = asyncio.run(drive(base, token, rate, 2, offset=10_000_000))  # warm-up
        latencies, errors, elapsed = asyncio.run(drive(base, token, rate, seconds, offset=0))
    from models.db import make_engine

    check = make_engine(url)
    with check.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(table_of(Complaint))).scalar_one()
    check.dispose()
    return report(name, latencies, errors, elapsed,
                  f", complaints stored {stored} of {len(latencies)} + {int(rate * 2)} warm-up"
                  f" ({len(warm_errors)} warm-up errors)", stored=stored)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--no-baseline", action="store_true", help="skip the raw baseline (bench/bare_api.py)")
    args = parser.parse_args()
    results = []
    bare = None if args.no_baseline else run_bare(args.rate, args.seconds)
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            results.append(run("sqlite", fresh_sqlite(Path(tmp) / "bench_api.db"), args.rate, args.seconds))
    if args.only in (None, "postgres"):
        results.append(run("postgresql", fresh_postgres(PG_DB), args.rate, args.seconds))
    if bare is not None:
        for r in results:
            print(f"{r['db']:<10} against the raw baseline: rate {r['rate'] / bare['rate']:.2f}x, "
                  f"p50 {r['p50_ms'] / bare['p50_ms']:.1f}x, p99 {r['p99_ms'] / bare['p99_ms']:.1f}x")
    ok = all(r["p99_ms"] < 50 and r["errors"] == 0 for r in results)
    print(f"target p99 < 50 ms and zero errors: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
