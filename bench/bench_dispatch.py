"""Dispatch throughput: queued outbox rows delivered to a local webhook receiver.

Prints, for SQLite and PostgreSQL, messages per second for
  bare: one keep-alive httpx.Client posting the same kind of JSON payloads in a plain loop
  ours: dispatch_once, batch after batch (what the flow's loop calls) — claim with lease, render (jinja2, masking), sign (HMAC), POST, record
        outcomes with one executemany per batch
and the ratio ours/bare, measured in the same run against the same threaded receiver, one bare
chunk and one dispatch batch of the same size alternately (the machine is shared and noisy).
Target (issue #3): ratio >= 0.5.

    .venv/bin/python bench/bench_dispatch.py [--n 10000] [--batch-size 500] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from sqlalchemy import Engine, func, select  # noqa: E402

from bench.common import fresh_postgres, fresh_sqlite  # noqa: E402
from models.db import session_scope  # noqa: E402
from models.outbox import OutboxMessage, OutboxStatus  # noqa: E402
from notifications.dispatch import DispatchResult, dispatch_once  # noqa: E402
from notifications.settings import ChannelsFile, build_channels  # noqa: E402

NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]


class Receiver:
    """A threaded HTTP/1.1 keep-alive receiver that counts message ids."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.count += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/bench"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def context(i: int) -> dict[str, Any]:
    case_no = f"DL-2026-{i:06d}"
    return {
        "case_no": case_no, "role": "handler", "category": "银行卡", "severity": "一般", "tags": [],
        "triage": False, "reasons": [], "department": "信用卡部", "handler": "陈静", "complainant": "张*",
        "request": "退还信用卡年费 200 元，联系电话 138****5678", "received_at": "2026-11-27 09:00",
        "due_at": "2026-12-12 09:00", "ack_due_at": "2026-11-28 09:00",
        "link": f"http://127.0.0.1:8000/cases/{case_no}",
    }


def queue_rows(engine: Engine, n: int, url: str) -> None:
    rows = [{
        "dedupe_key": f"bench:{i}", "message_id": uuid.uuid4().hex, "kind": "routed", "complaint_id": None,
        "case_no": f"DL-2026-{i:06d}", "recipient": f"p{i}", "channel": "webhook", "address": url,
        "context": context(i), "status": OutboxStatus.PENDING, "attempts": 0, "next_attempt_at": NOW,
        "created_at": NOW,
    } for i in range(n)]
    with session_scope(engine) as session:
        session.execute(OUTBOX.insert(), rows)


def bare_loop(client: httpx.Client, start: int, n: int, url: str) -> None:
    """The floor: the same number of similar JSON posts, nothing else."""
    for i in range(start, start + n):
        message_id = uuid.uuid4().hex
        payload = {"message_id": message_id, "message_ids": [], "kind": "routed", "recipient": f"p{i}",
                   "case_nos": [f"DL-2026-{i:06d}"], "subject": "【投诉分派】", "text": json.dumps(context(i), ensure_ascii=False),
                   "links": [context(i)["link"]]}
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        response = client.post(url, content=body, headers={"Content-Type": "application/json",
                                                           "X-Complaints-Message-Id": message_id})
        response.raise_for_status()


def run(backend: str, n: int, batch_size: int) -> dict[str, float]:
    receiver = Receiver()
    os.environ["BENCH_WEBHOOK_KEY"] = "bench-signing-key"
    settings = ChannelsFile.model_validate({"channels": {"webhook": {"signing_key": "env:BENCH_WEBHOOK_KEY"}}})
    with tempfile.TemporaryDirectory() as tmp:
        engine = fresh_sqlite(Path(tmp) / "bench.db") if backend == "sqlite" else fresh_postgres("complaints_bench_dispatch")
        try:
            queue_rows(engine, n, receiver.url)
            # alternate one bare chunk and one dispatch batch of the same size, so both see the
            # same load on a shared, noisy machine
            t_bare = t_ours = 0.0
            result = DispatchResult()
            with build_channels(settings) as channels, httpx.Client(timeout=10) as client:
                for start in range(0, n, batch_size):
                    size = min(batch_size, n - start)
                    t0 = time.perf_counter()
                    bare_loop(client, start, size, receiver.url)
                    t1 = time.perf_counter()
                    result.add(dispatch_once(engine, channels=channels, now=NOW, batch_size=size, owner="bench"))
                    t_bare += t1 - t0
                    t_ours += time.perf_counter() - t1
            with session_scope(engine) as session:
                sent = session.execute(select(func.count()).where(OUTBOX.c.status == OutboxStatus.SENT)).scalar_one()
        finally:
            engine.dispose()
            receiver.stop()
    assert result.sent == n == sent and receiver.count == 2 * n, (result, sent, receiver.count)
    return {"t_bare": t_bare, "t_ours": t_ours, "bare_per_s": n / t_bare, "ours_per_s": n / t_ours,
            "ratio": t_bare / t_ours}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    print(f"dispatch benchmark: {args.n} queued webhook messages, batch {args.batch_size}")
    for backend in ("sqlite", "postgres"):
        if args.only and backend != args.only:
            continue
        r = run(backend, args.n, args.batch_size)
        print(f"  {backend:<9} bare httpx loop {r['bare_per_s']:>7,.0f}/s ({r['t_bare']:.2f} s) | "
              f"dispatch {r['ours_per_s']:>7,.0f}/s ({r['t_ours']:.2f} s) | ratio {r['ratio']:.3f} (target >= 0.5)")


if __name__ == "__main__":
    main()
