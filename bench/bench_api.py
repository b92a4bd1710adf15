"""HTTP API: POST /api/complaints at a fixed rate from a second process, on SQLite and PostgreSQL.

Starts `complaints web` (uvicorn, one process) on a free loopback port against a fresh database,
creates a desk account and a bearer token, then this process sends complaints open-loop at a fixed
rate (default 200 per second for 30 s; each request leaves on its schedule whether or not earlier
ones have answered, so a slow server shows up as latency, not as a lower rate). Every request has
its own Idempotency-Key. Prints p50 / p90 / p99 / max latency, errors and the rate achieved.
Target: p99 under 50 ms, zero errors.

    .venv/bin/python bench/bench_api.py [--rate 200] [--seconds 30] [--only sqlite|postgres]
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


async def drive(base: str, token: str, rate: float, seconds: float, offset: int) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as client:
        async def one(i: int) -> None:
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
    return latencies, errors


def pct(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def run(name: str, engine: Engine, rate: float, seconds: float) -> dict[str, Any]:
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
        asyncio.run(drive(base, token, rate, 2, offset=10_000_000))  # warm-up: connections, caches
        started = time.perf_counter()
        latencies, errors = asyncio.run(drive(base, token, rate, seconds, offset=0))
        elapsed = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    from models.db import make_engine

    check = make_engine(url)
    with check.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(table_of(Complaint))).scalar_one()
    check.dispose()
    lat = sorted(latencies)
    out = {"db": name, "requests": len(lat), "rate": len(lat) / elapsed, "p50_ms": pct(lat, 50) * 1000,
           "p90_ms": pct(lat, 90) * 1000, "p99_ms": pct(lat, 99) * 1000, "max_ms": lat[-1] * 1000,
           "errors": len(errors), "stored": stored}
    print(f"{name:<10} {out['requests']} requests at {out['rate']:.1f}/s: p50 {out['p50_ms']:.1f} ms, "
          f"p90 {out['p90_ms']:.1f} ms, p99 {out['p99_ms']:.1f} ms, max {out['max_ms']:.1f} ms, "
          f"errors {out['errors']}, complaints stored {stored} (incl. warm-up)", flush=True)
    for e in errors[:5]:
        print(f"   error: {e}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    results = []
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            results.append(run("sqlite", fresh_sqlite(Path(tmp) / "bench_api.db"), args.rate, args.seconds))
    if args.only in (None, "postgres"):
        results.append(run("postgresql", fresh_postgres(PG_DB), args.rate, args.seconds))
    ok = all(r["p99_ms"] < 50 and r["errors"] == 0 for r in results)
    print(f"target p99 < 50 ms and zero errors: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
