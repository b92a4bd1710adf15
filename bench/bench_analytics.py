"""Analytics on 1,000,000 complaints over two years (PostgreSQL): the head's dashboard, a quarter's
regulator statistics and the early-warning scoring, each beside a bare aggregate query on the same data
in the same run.

The complaints are built in SQL (INSERT … SELECT generate_series; not timed): 2025-01-01 to 2026-12-01
local, four institutions, 18 outlets, 20 JR/T 0169 categories × 5 channels × 10 causes, 2 % still open.
Then, timed:

* the daily counts' first build (`refresh` → rebuild) and an incremental refresh after 1,000 cases change;
* the dashboard (`services.analytics.dashboard`, its refresh included) for the city branch and a
  sub-branch, `--repeat` times each: p50 / p95 (target p95 < 300 ms) — against the bare query
  `SELECT count(*) FROM complaint WHERE branch IN (…) AND received_at >= <year start>` (one figure);
* the 2026-Q3 statistics (`services.analytics.statistics`: every case with its cells, frozen with sha256
  and audit event; target < 10 s) — against `SELECT branch, outlet, channel, category, cause, count(*) …
  GROUP BY` over the quarter;
* early-warning scoring of two years × 5,000 cells (`domain.early_warning.score`; target < 10 s): the
  real cells' matrix read from the daily counts (timed apart) and repeated with Poisson noise to 5,000
  cells — against the bare `SELECT day, branch, outlet, category, sum(n) … GROUP BY` over the two years;
  and one full `early_warning` run for a day (load, score, alerts).

    .venv/bin/python bench/bench_analytics.py [--n 1000000] [--repeat 30] [--pg-db complaints_bench_analytics]
    .venv/bin/python bench/bench_analytics.py --sqlite var/bench_analytics.db    # the same on SQLite
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from sqlalchemy import Engine, bindparam, text  # noqa: E402

from bench.common import drop_postgres, fresh_postgres, timed  # noqa: E402
from complaints.config import REPO_ROOT, load_config  # noqa: E402
from domain import early_warning as ew  # noqa: E402
from domain.statistics import parse_period  # noqa: E402
from domain.taxonomy import CATEGORIES, CAUSES, CHANNELS  # noqa: E402
from models import analytics as store  # noqa: E402
from services import analytics  # noqa: E402
from services.unit_of_work import Runtime  # noqa: E402

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tue 10:00 Asia/Shanghai
BRANCHES = ["dl", "dl-zs", "dl-xg", "dl-jz"]
OUTLETS = ["营业部", "中山广场", "人民路", "星海", "港湾", "高新园"]


def _arr(values: list[str]) -> str:
    return "ARRAY[" + ",".join(f"'{v}'" for v in values) + "]"


def build(engine: Engine, n: int) -> None:
    cats = _arr([t.code for t in CATEGORIES][:20])
    chans = _arr([t.code for t in CHANNELS][:5])
    causes = _arr([t.code for t in CAUSES][:10])
    outlets = _arr(OUTLETS)
    sql = f"""
    INSERT INTO complaint (case_no, source, channel, category, cause, severity, tags, vulnerable, group_size,
        repeat_count, complainant_type, complainant_name, branch, outlet, request, facts, status, triage,
        triage_reasons, department, department_branch, chain, watchers, regime, tier, received_at,
        clock_started_at, paused_days, regulatory_due_at, ack_due_at, created_at, updated_at, submitted_by)
    SELECT 'DL-B-' || lpad(g::text, 7, '0'), 'desk', ({chans})[1 + abs(hashint4(g + 11)) % 5], ({cats})[1 + abs(hashint4(g + 23)) % 20],
        ({causes})[1 + abs(hashint4(g + 37)) % 10], 'ordinary', '[]', false, 1, 0, 'individual', '张三',
        CASE WHEN g % 20 < 11 THEN 'dl' WHEN g % 20 < 14 THEN 'dl-zs' WHEN g % 20 < 17 THEN 'dl-xg' ELSE 'dl-jz' END, CASE WHEN g % 4 = 0 THEN NULL ELSE ({outlets})[1 + abs(hashint4(g + 53)) % 6] END,
        '退还年费', '账单扣收年费 200 元。', CASE WHEN g % 50 = 0 THEN 'routed' ELSE 'closed' END, false, '[]',
        'card', 'dl', '[]', '[]', 'nfra', 'standard', r, r, 0, r + interval '15 days', r + interval '2 days', r, r, 'bench'
    FROM (SELECT g, timestamptz '2025-01-01 00:00+08' + (g::float8 / {n} * 699.9) * interval '1 day'
                 + (hashint4(g) % 3600) * interval '1 second' AS r
          FROM generate_series(1, {n}) AS g) s
    """
    with engine.begin() as conn:
        conn.execute(text(sql))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE complaint"))
        conn.execute(text("CHECKPOINT"))


def build_sqlite(engine: Engine, n: int) -> None:
    """The same data on SQLite: a recursive CTE, a multiplicative hash for the pseudo-random picks, times as
    the naive UTC text SQLite holds (6 decimals)."""
    def pick(values: list[str], salt: int) -> str:
        cases = " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values))
        return f"CASE ((g + {salt}) * 2654435761 % 4294967296) % {len(values)} {cases} END"

    r = "strftime('%Y-%m-%d %H:%M:%f', julianday('2024-12-31 16:00:00') + g * 699.9 / {n} + ((g * 40503) % 3600) / 86400.0) || '000'"
    r = r.replace("{n}", str(n))
    plus = "strftime('%Y-%m-%d %H:%M:%f', julianday('2024-12-31 16:00:00') + g * 699.9 / {n} + {d}) || '000'"
    sql = f"""
    WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n})
    INSERT INTO complaint (case_no, source, channel, category, cause, severity, tags, vulnerable, group_size,
        repeat_count, complainant_type, complainant_name, branch, outlet, request, facts, status, triage,
        triage_reasons, department, department_branch, chain, watchers, regime, tier, received_at,
        clock_started_at, paused_days, regulatory_due_at, ack_due_at, created_at, updated_at, submitted_by)
    SELECT 'DL-B-' || printf('%07d', g), 'desk', {pick([t.code for t in CHANNELS][:5], 11)},
        {pick([t.code for t in CATEGORIES][:20], 23)}, {pick([t.code for t in CAUSES][:10], 37)}, 'ordinary', '[]',
        0, 1, 0, 'individual', '张三',
        CASE WHEN g % 20 < 11 THEN 'dl' WHEN g % 20 < 14 THEN 'dl-zs' WHEN g % 20 < 17 THEN 'dl-xg' ELSE 'dl-jz' END,
        CASE WHEN g % 4 = 0 THEN NULL ELSE {pick(OUTLETS, 53)} END,
        '退还年费', '账单扣收年费 200 元。', CASE WHEN g % 50 = 0 THEN 'routed' ELSE 'closed' END, 0, '[]',
        'card', 'dl', '[]', '[]', 'nfra', 'standard', {r}, {r}, 0,
        {plus.replace("{n}", str(n)).replace("{d}", "15")}, {plus.replace("{n}", str(n)).replace("{d}", "2")}, {r}, {r}, 'bench'
    FROM s
    """
    with engine.begin() as conn:
        conn.execute(text(sql))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--pg-db", default="complaints_bench_analytics")
    parser.add_argument("--sqlite", metavar="FILE", help="run on this SQLite file instead of PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="use the kept database as it is (no build)")
    args = parser.parse_args()
    config = load_config(REPO_ROOT / "config")
    if args.sqlite:
        from bench.common import fresh_sqlite

        engine = fresh_sqlite(Path(args.sqlite))
    elif args.reuse:
        from models.db import make_engine

        engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{args.pg_db}")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM analytics_state; DELETE FROM stats_snapshot; DELETE FROM early_warning_alert"))
    else:
        engine = fresh_postgres(args.pg_db)
    runtime = Runtime(config, engine)
    try:
        if not args.reuse:
            _, t_build = timed(lambda: (build_sqlite if args.sqlite else build)(engine, args.n))
            print(f"built {args.n:,} complaints in {t_build:.1f} s (not part of the figures)", flush=True)
        with runtime.unit(now=NOW) as uow:
            out, t_rebuild = timed(lambda: store.refresh(uow.session, now=NOW))
        print(f"daily counts, first build: {t_rebuild:.2f} s ({out['rows']:,} rows)")
        with engine.begin() as conn:
            conn.execute(text("UPDATE complaint SET category = 'B12', updated_at = :t WHERE id % 1000 = 7"),
                         {"t": NOW + timedelta(minutes=1)})
        with runtime.unit(now=NOW + timedelta(minutes=2)) as uow:
            out, t_inc = timed(lambda: store.refresh(uow.session, now=NOW + timedelta(minutes=2)))
        print(f"incremental refresh after 1,000 reclassified cases over {out['days']} days: {t_inc:.2f} s")
        with runtime.unit(now=NOW + timedelta(minutes=20)) as uow:  # past the overlap of those changes (not timed)
            store.refresh(uow.session, now=NOW + timedelta(minutes=20))
        with engine.begin() as conn:
            conn.execute(text("UPDATE complaint SET status = 'closed', updated_at = :t WHERE id > :m - 1000"),
                         {"t": NOW + timedelta(minutes=30), "m": args.n})
        with runtime.unit(now=NOW + timedelta(minutes=31)) as uow:
            out, t_recent = timed(lambda: store.refresh(uow.session, now=NOW + timedelta(minutes=31)))
        print(f"incremental refresh after 1,000 of the newest cases changed ({out['days']} days): {t_recent:.2f} s")
        with runtime.unit(now=NOW + timedelta(minutes=50)) as uow:
            _, t_noop = timed(lambda: store.refresh(uow.session, now=NOW + timedelta(minutes=50)))
        print(f"refresh with nothing changed in the last 15 minutes: {t_noop * 1000:.1f} ms")

        now = NOW + timedelta(minutes=50, seconds=30)  # within a minute of that refresh: the dashboard reads
        for inst in ("dl", "dl-zs"):
            times, bare = [], []
            subtree = analytics.subtree(config, inst)
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                with runtime.unit(now=now) as uow:
                    analytics.dashboard(uow, institution=inst, person=analytics.head_of(config, inst))
                times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                with engine.connect() as conn:
                    conn.execute(text("SELECT count(*) FROM complaint WHERE branch IN :b AND received_at >= :s")
                                 .bindparams(bindparam("b", expanding=True)),
                                 {"b": subtree, "s": datetime(2025, 12, 31, 16, tzinfo=UTC)}).scalar_one()
                bare.append(time.perf_counter() - t0)
            print(f"dashboard {inst}: p50 {pct(times, .5) * 1000:.0f} ms, p95 {pct(times, .95) * 1000:.0f} ms "
                  f"(target p95 < 300 ms); bare year count p50 {pct(bare, .5) * 1000:.0f} ms, "
                  f"p95 {pct(bare, .95) * 1000:.0f} ms; ratio p95 {pct(times, .95) / pct(bare, .95):.2f}")

        q3 = parse_period("quarter", "2026-Q3")
        with runtime.unit(now=now) as uow:
            result, t_stats = timed(lambda: analytics.statistics(uow, q3, actor="bench"))
        with engine.connect() as conn:
            _, t_bare = timed(lambda: conn.execute(text(
                "SELECT branch, outlet, channel, category, cause, count(*) FROM complaint "
                "WHERE received_at >= :s AND received_at < :e AND status <> 'merged' "
                "GROUP BY branch, outlet, channel, category, cause"), {"s": q3.start, "e": q3.end}).all())
        print(f"2026-Q3 statistics ({result.total:,} cases, {len(result.content['cells']):,} cells, frozen v{result.version}): "
              f"{t_stats:.2f} s (target < 10 s); bare GROUP BY {t_bare:.2f} s; ratio {t_stats / t_bare:.1f}")

        first, last = date(2025, 1, 1), date(2026, 11, 30)
        with runtime.unit(now=now) as uow:
            rows, t_load = timed(lambda: store.cell_matrix(uow.session, first, last))
            (cells, matrix, days), t_matrix = timed(lambda: analytics.build_matrix(rows, config, first, last))
        with engine.connect() as conn:
            _, t_bare = timed(lambda: conn.execute(text(
                "SELECT day, branch, outlet, category, sum(n) FROM analytics_daily_count WHERE day BETWEEN :a AND :b "
                "GROUP BY day, branch, outlet, category"), {"a": first, "b": last}).all())
        rng = np.random.default_rng(16)
        reps = int(np.ceil(5000 / len(cells)))
        big = rng.poisson(np.tile(matrix, (reps, 1))[:5000] + 0.0).astype(np.float64)
        kinds = ew.day_kinds(days, runtime.calendar)
        scores, t_score = timed(lambda: ew.score(big, kinds))
        _, t_warm = timed(lambda: ew.score(big, kinds))  # the first call in a process also loads scipy's kernels
        alarms = int(ew.episodes(scores.alarm, 14).sum())
        print(f"early warning: {len(cells)} real cells x {len(days)} days read in {t_load:.2f} s "
              f"(+{t_matrix:.2f} s into a matrix; bare GROUP BY {t_bare:.2f} s); scoring 5,000 cells x {len(days)} days "
              f"{t_score:.2f} s first call, {t_warm:.2f} s again (target < 10 s), {alarms} spikes")
        with runtime.unit(now=now) as uow:
            alerts, t_run = timed(lambda: analytics.early_warning(uow))
        print(f"early-warning run for one day (refresh, load, score, alerts): {t_run:.2f} s, {len(alerts)} spikes")
    finally:
        engine.dispose()
        if not (args.keep or args.reuse or args.sqlite):
            drop_postgres(args.pg_db)


if __name__ == "__main__":
    main()
