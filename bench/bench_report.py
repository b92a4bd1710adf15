"""Weekly report over a year of a large branch network: time and peak memory, 1M vs 100k.

Builds N complaints received over the 52 weeks up to 2026-W47 (with escalations, extensions,
pauses, withdrawals, repeat complainants) with Core executemany in batches (not timed), then
generates the frozen 2026-W47 report (SQL aggregation → content → snapshot → HTML/CSV) in a
fresh child process and prints its wall time and peak RSS (ru_maxrss of that process), for
SQLite and PostgreSQL, and the ratio of the largest size to the smallest. Targets (issue #5):
under 10 s and under 400 MB on 1M; ratio at most 10.

    .venv/bin/python bench/bench_report.py [--sizes 100000 1000000] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, insert, select  # noqa: E402

from bench.common import fresh_postgres, fresh_sqlite  # noqa: E402
from domain.deadlines import SHANGHAI, end_of_local_day  # noqa: E402
from domain.report import parse_week  # noqa: E402
from models.complaint import ClockEventRow, Complaint  # noqa: E402
from models.escalation import Escalation, Extension  # noqa: E402
from models.sqlutil import table_of  # noqa: E402

WEEK = "2026-W47"
NOW = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
BATCH = 20_000
DEPTS = [("dl", "card", "B03"), ("dl", "retail", "B12"), ("dl", "credit", "B02"), ("dl", "payments", "B04"),
         ("dl", "wealth", "B10"), ("dl", "it", "B06"), ("dl", "cpo", "B14"), ("dl-zs", "outlet", "B01"),
         ("dl-xg", "outlet", "B01"), ("dl-jz", "outlet", "B01")]
CHAIN = [{"level": "handler", "title": "经办人", "person": "chen.jing", "name": "陈静", "acting": False},
         {"level": "department_head", "title": "部门负责人", "person": "feng.yu", "name": "冯宇", "acting": False}]


def build(engine: Engine, n: int, seed: int = 5) -> None:
    """N complaints over the year up to the report week, plus escalations, extensions and pauses."""
    rng = random.Random(seed)
    C, ESC, EXT, CLOCK = (table_of(m) for m in (Complaint, Escalation, Extension, ClockEventRow))
    end = parse_week(WEEK).end
    start = end - timedelta(weeks=52)
    span = int((end - start).total_seconds())
    people = max(n // 3, 10)
    next_id = 1
    for lo in range(0, n, BATCH):
        rows, escs, exts, clocks = [], [], [], []
        for i in range(lo, min(n, lo + BATCH)):
            received = start + timedelta(seconds=rng.randrange(span))
            d = received.astimezone(SHANGHAI).date()
            due = end_of_local_day(d + timedelta(days=15))
            b, dept, cat = rng.choice(DEPTS)
            who = rng.randrange(people)
            age = (end - received).days
            fate = rng.random()
            responded = closed = None
            status = "routed"
            if fate < 0.03:
                status, closed = "withdrawn", received + timedelta(hours=rng.uniform(1, 100))
            elif age > 30 or fate < 0.85:
                responded = received + timedelta(hours=rng.uniform(2, 24 * (16 if rng.random() < 0.97 else 25)))
                status = "responded"
                if rng.random() < 0.8:
                    closed, status = responded + timedelta(days=rng.uniform(0.5, 3)), "closed"
            rows.append({
                "id": i + 1, "case_no": f"DL-B-{i + 1:08d}", "source": "desk", "channel": rng.choice(["A01", "A0302", "A0303", "A02"]),
                "category": cat, "cause": rng.choice(["C01", "C03", "C07", "C10"]),
                "severity": "major" if rng.random() < 0.001 else "ordinary",
                "tags": ["public_opinion"] if rng.random() < 0.002 else [], "vulnerable": False, "group_size": 1,
                "repeat_count": 0, "complainant_type": "individual", "complainant_name": f"客户{who}",
                "complainant_phone": f"139{who:08d}", "complainant_id_number": f"2102021980{who:08d}" if who % 2 else None,
                "branch": b, "outlet": f"网点{rng.randrange(40)}", "request": "请核实", "facts": "事实", "status": status,
                "triage": False, "triage_reasons": [], "department_branch": b, "department": dept, "handler": "chen.jing",
                "chain": CHAIN, "watchers": [], "regime": "nfra", "tier": "standard", "received_at": received,
                "clock_started_at": received, "paused_days": 0, "regulatory_due_at": due,
                "ack_due_at": end_of_local_day(d + timedelta(days=1)),
                "acknowledged_at": received + timedelta(hours=rng.uniform(1, 40)), "responded_at": responded,
                "closed_at": closed, "created_at": received, "updated_at": received,
            })
            if rng.random() < 0.05:
                escs.append({"complaint_id": i + 1, "case_no": f"DL-B-{i + 1:08d}", "level": 0, "name": "到期提醒",
                             "due_at": due - timedelta(days=2), "fired_at": due - timedelta(days=2), "reason": "临期",
                             "recipients": [{"person": "feng.yu", "title": "部门负责人", "name": "冯宇"}]})
            if rng.random() < 0.03:
                at = received + timedelta(days=rng.uniform(1, 10))
                exts.append({"complaint_id": i + 1, "from_tier": "standard", "to_tier": "complex", "approver": "zhao.li",
                             "reason": "复杂", "customer_told_at": at, "customer_told_via": "sms", "previous_due_at": due,
                             "new_due_at": due + timedelta(days=15), "recorded_at": at, "actor": "bench"})
                rows[-1]["regulatory_due_at"], rows[-1]["tier"] = due + timedelta(days=15), "complex"
            if rng.random() < 0.02:
                at = received + timedelta(days=rng.uniform(1, 5))
                clocks.append({"complaint_id": i + 1, "kind": "pause", "at": at, "reason": "鉴定", "actor": "bench",
                               "created_at": at})
        with engine.begin() as conn:
            conn.execute(insert(C), rows)
            if escs:
                conn.execute(insert(ESC), escs)
            if exts:
                conn.execute(insert(EXT), exts)
            if clocks:
                conn.execute(insert(CLOCK), clocks)
        next_id += len(rows)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('complaint', 'id'), (SELECT max(id) FROM complaint))")
            conn.exec_driver_sql("ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    with engine.connect() as conn:
        assert conn.execute(select(C.c.id).limit(1)).first() is not None


def child(url: str, out: str) -> None:
    """Run in a fresh process: generate the report once, print seconds and peak RSS as JSON."""
    from complaints.config import load_config
    from flows.weekly_report import build_weekly_report
    from models.db import make_engine

    config = load_config()
    engine = make_engine(url)
    t0 = time.perf_counter()
    result = build_weekly_report(engine, config, WEEK, NOW, output_dir=Path(out))
    seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    again = build_weekly_report(engine, config, WEEK, NOW, output_dir=Path(out))
    rerun = time.perf_counter() - t1
    assert again.sha256 == result.sha256
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": round(seconds, 2), "rerun_seconds": round(rerun, 2), "peak_rss_mb": round(rss_mb, 1),
                      "new": result.content.summary.new, "overdue": result.content.summary.overdue_at_end,
                      "input_rows": result.input_rows}))


def measure(url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([sys.executable, __file__, "--child", url, out], capture_output=True, text=True, check=True)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--child", nargs=2, metavar=("URL", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_report_"))
    for backend in ("sqlite", "postgres"):
        if args.only and backend != args.only:
            continue
        results = {}
        for n in args.sizes:
            if backend == "sqlite":
                engine = fresh_sqlite(tmp / f"report_{n}.db")
            else:
                engine = fresh_postgres("complaints_bench_report")
            t0 = time.perf_counter()
            build(engine, n)
            built = time.perf_counter() - t0
            url = engine.url.render_as_string(hide_password=False)
            engine.dispose()
            results[n] = measure(url)
            print(f"{backend:8s} n={n:>9,d}  build {built:6.1f}s (not timed)  report {results[n]['seconds']:6.2f}s  "
                  f"rerun {results[n]['rerun_seconds']:6.2f}s  peak RSS {results[n]['peak_rss_mb']:6.1f} MB  "
                  f"(week: {results[n]['new']} new, {results[n]['overdue']} overdue)", flush=True)
        if len(results) > 1:
            lo, hi = min(results), max(results)
            print(f"{backend:8s} ratio report time {hi:,d} / {lo:,d} = {results[hi]['seconds'] / results[lo]['seconds']:.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
