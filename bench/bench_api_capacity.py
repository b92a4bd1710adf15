"""HTTP API capacity, closed loop: N clients each send the next POST /api/complaints when the last is
answered, for S seconds after 2 s of warm-up, against `complaints web` on a fresh database. Prints the
submissions served per second and p50 / p99. Where `bench_api.py`'s open loop overloads a slow machine
(and then measures the overload), this measures what the server can serve; compare commits by running
it from git worktrees of the same .venv, interleaved (docs/benchmarks.md, "The HTTP API again").

    .venv/bin/python bench/bench_api_capacity.py [--clients 16] [--seconds 10] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from sqlalchemy import Engine  # noqa: E402

from bench.bench_api import body, pct, web_on  # noqa: E402
from bench.common import fresh_postgres, fresh_sqlite  # noqa: E402


async def drive(base: str, token: str, clients: int, seconds: float, offset: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    counter = [offset]
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        end = time.perf_counter() + seconds

        async def client() -> None:
            while time.perf_counter() < end:
                i = counter[0]
                counter[0] += 1
                start = time.perf_counter()
                r = await c.post("/api/complaints", json=body(i), headers={"Idempotency-Key": f"cap-{i}"})
                if r.status_code != 201:
                    raise RuntimeError(f"{r.status_code}: {r.text[:200]}")
                latencies.append(time.perf_counter() - start)

        t0 = time.perf_counter()
        await asyncio.gather(*[client() for _ in range(clients)])
        return latencies, time.perf_counter() - t0


def run(name: str, engine: Engine, clients: int, seconds: float) -> None:
    with web_on(engine) as (base, token):
        asyncio.run(drive(base, token, clients, 2, offset=5_000_000))
        lat, elapsed = asyncio.run(drive(base, token, clients, seconds, offset=0))
    lat.sort()
    print(f"{name:<10} {clients} clients: {len(lat) / elapsed:.1f} submissions/s, "
          f"p50 {pct(lat, 50) * 1000:.1f} ms, p99 {pct(lat, 99) * 1000:.1f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            run("sqlite", fresh_sqlite(Path(tmp) / "bench_api_capacity.db"), args.clients, args.seconds)
    if args.only in (None, "postgres"):
        run("postgresql", fresh_postgres("complaints_bench_api_capacity"), args.clients, args.seconds)


if __name__ == "__main__":
    main()
