"""Audit verify: 1,000,000 chained events, verified from the last verified anchor and in full.

Builds (untimed) a fresh database with `--n` hash-chained events (version-2 rows precomputed in
Python and bulk-inserted in chunks: COPY on PostgreSQL), a signed verified anchor `--after` events
before the head (one week of growth) and an anchor file of hourly anchors over that week, then times
  incremental: `verify_with_anchors` (what `complaints audit verify`, /api/audit/verify and /audit
               run): the `--after` rows from the verified anchor, plus every anchor (file + database)
  full:        the same with `full=True` (`audit verify --full`): every link from genesis
Target (issue 12): incremental < 0.5 s on 1,000,000 events with 20,000 after the anchor.

    .venv/bin/python bench/bench_audit.py [--n 1000000] [--after 20000] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.common import drop_postgres, fresh_postgres, fresh_sqlite, timed  # noqa: E402
from models.anchors import ANCHOR, Anchor, append_to_file, verify_with_anchors  # noqa: E402
from models.audit import GENESIS_HASH  # noqa: E402
from models.audit_chain import AUDIT, HEAD, link_hash_v2  # noqa: E402
from models.sqlutil import bulk_insert  # noqa: E402

KEY = b"bench-anchor-key-0123456789abcdef"
START = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
CHUNK = 50_000


def build(engine: Engine, n: int, after: int, anchor_path: Path) -> None:
    """n chained events; a verified anchor at n - after; hourly anchors over the last `after` events."""
    prev, seq = GENESIS_HASH, 0
    hourly = {n - after + (after * k) // 168 for k in range(1, 169)}
    heads: dict[int, str] = {}
    while seq < n:
        rows: list[dict[str, Any]] = []
        for _ in range(min(CHUNK, n - seq)):
            seq += 1
            at = START + timedelta(seconds=30 * seq)
            case_no = f"DL-2026-{seq % 900_000:06d}"
            after_v = {"status": "routed", "department": "card", "handler": "chen.jing", "severity": "ordinary"}
            row_hash = f"{seq:064x}"
            h = link_hash_v2(prev, seq, at, "bench", "routed", None, case_no, {"status": "received"}, after_v,
                             "", row_hash)
            rows.append({"seq": seq, "at": at, "actor": "bench", "action": "routed", "complaint_id": None,
                         "case_no": case_no, "before": {"status": "received"}, "after": after_v, "detail": "",
                         "prev_hash": prev, "hash": h, "hash_version": 2, "row_hash": row_hash})
            if seq == n - after or seq in hourly:
                heads[seq] = h
            prev = h
        with Session(engine) as session, session.begin():
            bulk_insert(session, AUDIT, rows)
    with Session(engine) as session, session.begin():
        session.execute(HEAD.insert().values(id=1, seq=n, hash=prev))
        mark = Anchor(n - after, heads[n - after], START + timedelta(seconds=30 * (n - after)), "verified").signed(KEY)
        session.execute(ANCHOR.insert().values(seq=mark.seq, hash=mark.hash, at=mark.at, source="verified",
                                               verified=True, sig=mark.sig))
    for s in sorted(hourly):
        append_to_file(anchor_path, Anchor(s, heads[s], START + timedelta(seconds=30 * s), "schedule"), KEY)


def run(backend: str, n: int, after: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    engine = fresh_sqlite(tmp / "audit.db") if backend == "sqlite" else fresh_postgres("complaints_bench_audit")
    anchors = tmp / "anchors.jsonl"
    try:
        _, t_build = timed(lambda: build(engine, n, after, anchors))
        if backend == "postgres":
            with engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE audit_event")
                conn.commit()
        incr = []
        for _ in range(3):  # each on the same verified anchor (no checkpoint recorded)
            result, t = timed(lambda: verify_with_anchors(engine, files=[anchors], key=KEY, checkpoint=False))
            assert result.ok and result.from_seq == n - after and result.checked == after, result
            incr.append(t)
        full, t_full = timed(lambda: verify_with_anchors(engine, files=[anchors], key=KEY, full=True,
                                                        checkpoint=False))
        assert full.ok and full.checked == n, full
        # a tampered row after the anchor is found by the incremental verify too
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event"
                                 if backend == "postgres" else "DROP TRIGGER IF EXISTS audit_event_no_update")
            conn.execute(update(AUDIT).where(AUDIT.c.seq == n - 5).values(detail="tampered"))
        bad, t_bad = timed(lambda: verify_with_anchors(engine, files=[anchors], key=KEY, checkpoint=False))
        assert not bad.ok and bad.broken_seq == n - 5, bad
        return {"build": t_build, "incremental": incr, "full": t_full, "tampered": t_bad,
                "anchors": full.anchors_checked}
    finally:
        engine.dispose()
        if backend == "postgres":
            drop_postgres("complaints_bench_audit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--after", type=int, default=20_000, help="events after the last verified anchor")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    print(f"audit verify benchmark: {args.n:,} events, {args.after:,} after the last verified anchor")
    for backend in ("sqlite", "postgres"):
        if args.only and backend != args.only:
            continue
        r = run(backend, args.n, args.after)
        incr = ", ".join(f"{t:.3f}" for t in r["incremental"])
        print(f"  {backend:<9} build (untimed part) {r['build']:.1f} s | incremental {incr} s "
              f"(best {min(r['incremental']):.3f}; target < 0.5) | full {r['full']:.2f} s "
              f"({args.n / r['full']:,.0f} events/s) | tampered row found incrementally in {r['tampered']:.3f} s "
              f"| {r['anchors']} anchors checked")


if __name__ == "__main__":
    main()
