"""Intake throughput: submit + intake end to end, against a raw Core executemany insert.

Prints, for SQLite and PostgreSQL, complaints per second for
  ours: validate (models.submission.validate_items, as the CLI and API do) → submit (case numbers, deadlines, insert, audit chain) →
        intake (claim, classify, route, update, audit chain, outbox rows)
  raw:  one SQLAlchemy Core executemany INSERT of the same complaint rows into the same table
and the ratio ours/raw, measured in the same run. Target (issue #2): ratio >= 0.25. This machine is
noisy (a one-shot raw insert varied 4.6-6.9 s between runs), so each back-end runs --repeat
interleaved pairs (raw, then ours, fresh databases) and prints every pair's ratio and the median.

    .venv/bin/python bench/bench_intake.py [--n 100000] [--repeat 3] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, func, select  # noqa: E402

from bench.common import drop_postgres, fresh_postgres, fresh_sqlite, timed  # noqa: E402
from complaints.config import REPO_ROOT, Config, load_config  # noqa: E402
from domain.calendar import WorkingCalendar  # noqa: E402
from domain.deadlines import NfraRegime, Tier, compute_deadlines  # noqa: E402
from flows.intake import run_intake  # noqa: E402
from models.complaint import Complaint  # noqa: E402
from models.schemas import ComplaintIn  # noqa: E402
from models.sqlutil import table_of  # noqa: E402
from models.submission import _row, submit, validate_items  # noqa: E402

CATEGORIES = ["银行卡", "贷款", "支付结算", "人民币储蓄", "自营理财", "个人金融信息", "债务催收", "外星业务"]
BRANCHES = ["dl", "dl-zs", "dl-xg", "dl-jz"]
NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


def raw_items(n: int) -> list[dict[str, Any]]:
    start = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
    return [
        {
            "external_ref": f"B-{i:07d}",
            "received_at": (start + timedelta(minutes=5 * i % 400_000)).isoformat(),
            "source": "desk" if i % 3 else "hotline",
            "channel": "营业现场" if i % 3 else "电话",
            "category": CATEGORIES[i % len(CATEGORIES)],
            "cause": "定价收费",
            "branch": BRANCHES[i % len(BRANCHES)],
            "tags": ["舆情"] if i % 97 == 0 else [],
            "complainant": {"name": "张三", "phone": f"138{i % 100_000_000:08d}", "id_number": "210202198001011238"},
            "request": "退还年费 200 元",
            "facts": "客户称办卡时被告知首年免年费，但本月账单扣收年费 200 元。",
        }
        for i in range(n)
    ]


def ours(engine: Engine, config: Config, calendar: WorkingCalendar, data: list[dict[str, Any]], chunk: int,
         batch_size: int) -> tuple[float, float, float]:
    def do_submit() -> None:
        for i in range(0, len(data), chunk):
            parsed, problems = validate_items(data[i:i + chunk], config=config, now=NOW)
            assert not any(problems), problems
            items = [p for p in parsed if p is not None]
            submit(engine, items, config=config, calendar=calendar, now=NOW, actor="bench")

    _, t_submit = timed(do_submit)
    result, t_intake = timed(lambda: run_intake(engine, config, batch_size=batch_size, now=NOW))
    assert result.routed == len(data), result
    return t_submit + t_intake, t_submit, t_intake


def raw(engine: Engine, config: Config, calendar: WorkingCalendar, data: list[dict[str, Any]]) -> float:
    regime = NfraRegime()
    rows = []
    for i, d in enumerate(data):
        item = ComplaintIn.model_validate(d)
        received = item.received_at or NOW
        dl = compute_deadlines(received_at=received, tier=Tier.STANDARD, events=(), regime=regime, calendar=calendar)
        rows.append(_row(item, case_no=f"RAW-{i:07d}", branch=item.branch or "dl", received_at=received,
                         deadlines=dl, now=NOW))
    table = table_of(Complaint)

    def insert() -> None:
        with engine.begin() as conn:
            conn.execute(table.insert(), rows)

    _, t = timed(insert)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(table)).scalar_one() == len(data)
    return t


def run(backend: str, n: int, chunk: int, batch_size: int, repeat: int) -> list[dict[str, float]]:
    """`repeat` interleaved pairs (raw, then ours, each on a fresh database), one ratio per pair."""
    config = load_config(REPO_ROOT / "config")
    calendar = WorkingCalendar(overrides=config.calendar_overrides)
    data = raw_items(n)
    tmp = Path(tempfile.mkdtemp(prefix="bench-intake-"))

    def make(tag: str) -> Engine:
        if backend == "sqlite":
            return fresh_sqlite(tmp / f"{tag}.db")
        return fresh_postgres(f"complaints_bench_{tag}")

    pairs = []
    for _ in range(repeat):
        raw_engine = make("raw")
        t_raw = raw(raw_engine, config, calendar, data)
        raw_engine.dispose()
        our_engine = make("ours")
        t_ours, t_submit, t_intake = ours(our_engine, config, calendar, data, chunk, batch_size)
        our_engine.dispose()
        pairs.append({"raw_per_s": n / t_raw, "ours_per_s": n / t_ours, "ratio": t_raw / t_ours,
                      "t_raw": t_raw, "t_submit": t_submit, "t_intake": t_intake})
    if backend == "postgres":
        drop_postgres("complaints_bench_raw", "complaints_bench_ours")
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=10_000, help="complaints per submit call (one transaction)")
    parser.add_argument("--batch-size", type=int, default=2_000, help="intake batch size")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved raw/ours pairs per back-end")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    print(f"intake benchmark: {args.n} complaints, submit chunk {args.chunk}, intake batch {args.batch_size}, "
          f"{args.repeat} interleaved pairs per back-end")
    for backend in ("sqlite", "postgres"):
        if args.only and backend != args.only:
            continue
        pairs = run(backend, args.n, args.chunk, args.batch_size, args.repeat)
        for i, r in enumerate(pairs, 1):
            print(f"  {backend:<9} pair {i}: raw insert {r['raw_per_s']:>9,.0f}/s ({r['t_raw']:.2f} s) | "
                  f"submit+intake {r['ours_per_s']:>8,.0f}/s (submit {r['t_submit']:.2f} s, intake {r['t_intake']:.2f} s) | "
                  f"ratio {r['ratio']:.3f}")
        ratios = sorted(r["ratio"] for r in pairs)
        print(f"  {backend:<9} median ratio {statistics.median(ratios):.3f} (range {ratios[0]:.3f}–{ratios[-1]:.3f}; "
              f"target >= 0.25)")


if __name__ == "__main__":
    main()
