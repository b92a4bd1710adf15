"""The workbench at scale: my queue, a supervisor's queue, a department's list, Chinese full-text
search (a 2- and a 4-character term) and search by phone, each timed over 50 requests (p50 / p95)
against a bare indexed `SELECT … LIMIT 50` in the same run, and 4 handlers asking for their queue at
once (pages per second).

Builds N cases over two years (not timed): bulk COPY on PostgreSQL (executemany on SQLite), with
their participants (handler and chain) as routing writes them, keyed phone hashes as submit writes
them, about 3 % open (some overdue), 16 handlers in 10 departments; "冻结" in ~3 % of the facts,
"账户冻结" in ~1 %. The heavy indexes (pg_trgm and bigram GIN) are built after the load, then ANALYZE
and a checkpoint. Each call is the service the pages and API use (services/workbench_queue.py), in
its own transaction; "queue" is the whole /queue (escalations, overdue, due in 3 days and open,
each counted, first page of 50). The sizes are timed interleaved, call by call (100k, 1M, 100k …),
so the ratio between them is not the machine's mood between two stretches of minutes.

    .venv/bin/python bench/bench_workbench.py [--sizes 100000 1000000] [--only postgres|sqlite]
                                              [--requests 50] [--pg-db-prefix complaints_bench_wb] [--keep] [--reuse]
                                              [--sqlite-dir DIR]

Targets: p95 < 100 ms at 1M for each, 1M p95 ≤ 2 × the 100k p95, 4 concurrent handlers ≥ 20 queue pages/s.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402

from bench.common import drop_postgres, fresh_postgres, fresh_sqlite, handler_routes, timed  # noqa: E402
from complaints.config import REPO_ROOT, Config, load_config  # noqa: E402
from domain.calendar import WorkingCalendar  # noqa: E402
from domain.deadlines import NfraRegime, Tier, compute_deadlines  # noqa: E402
from models.complaint import ClockEventRow, Complaint  # noqa: E402
from models.participants import PARTICIPANT, work_rows  # noqa: E402
from models.search import search_keys  # noqa: E402
from models.sqlutil import table_of  # noqa: E402
from models.users import User  # noqa: E402
from services import workbench_queue as wq  # noqa: E402
from services.unit_of_work import Runtime  # noqa: E402

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # Thu 10:00 Asia/Shanghai
COMPLAINT = table_of(Complaint)
CLOCK = table_of(ClockEventRow)
PAGE = 20_000
CATEGORY_OF = {"retail": "B01", "credit": "B02", "card": "B03", "payments": "B04", "it": "B06", "wealth": "B09",
               "cpo": "B14", "outlet": "B01"}
PHRASES = ["账单扣收年费{n}元，要求退还", "ATM 取款时吞卡{n}分钟未处理", "理财产品收益与宣传不符", "贷款利率调整未提前告知",
           "手机银行转账失败{n}次", "客服电话长时间无人接听", "信用卡分期手续费过高", "网点排队时间过长", "短信通知重复扣费",
           "销售人员误导购买保险", "征信记录有误需更正", "外币兑换汇率不透明"]
RARE = [("银行将我的卡冻结，无法取款", 0.02), ("账户冻结后无人解释", 0.01), ("断卡行动中被限制非柜面交易", 0.01)]
PHONE = "13912345678"  # one case has it (and 3 more have it as the agent's)


def _facts(rng: random.Random) -> str:
    for phrase, p in RARE:
        if rng.random() < p:
            return f"{phrase}。{rng.choice(PHRASES).format(n=rng.randint(1, 999))}"
    return "。".join(rng.choice(PHRASES).format(n=rng.randint(1, 999)) for _ in range(2))


def build(engine: Engine, n: int, config: Config) -> None:
    rng = random.Random(14)
    routes = handler_routes(config)
    calendar = WorkingCalendar(overrides=config.calendar_overrides)
    memo: dict[datetime, Any] = {}
    pg = engine.dialect.name == "postgresql"
    if pg:  # the GIN indexes are built once after the load; participants' open flag is written here
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_complaint_search_trgm"))
            conn.execute(text("DROP INDEX ix_complaint_search_bigrams"))
            conn.execute(text("ALTER TABLE case_participant DISABLE TRIGGER case_participant_open"))
    span_hours = 730 * 24
    chain_json = {id(r[4]): orjson.dumps(r[4]).decode() for r in routes}
    for start in range(0, n, PAGE):
        rows: list[dict[str, Any]] = []
        parts: list[dict[str, Any]] = []
        clock: list[dict[str, Any]] = []
        for i in range(start, min(n, start + PAGE)):
            # received spread evenly over two years, newest last (ids grow with time); deadlines per day
            received = NOW - timedelta(hours=span_hours * (n - i) // n + 1)
            day = received.replace(hour=1, minute=0)
            if day not in memo:
                memo[day] = compute_deadlines(received_at=day, tier=Tier.STANDARD, events=(),
                                              regime=NfraRegime(), calendar=calendar)
            dl = memo[day]
            branch, dbranch, dept, handler, chain = routes[rng.randrange(len(routes))]
            age = NOW - received
            if age < timedelta(days=20) or rng.random() < 0.006:  # recent work, and a few left overdue
                status, closed = ("acknowledged" if rng.random() < 0.7 else "routed"), None
            else:
                status, closed = "closed", received + timedelta(days=rng.randint(3, 14))
            phone = PHONE if i == n // 2 else f"138{rng.randrange(10**8):08d}"
            agent_phone = PHONE if i in (n // 3, n // 5, n // 7) else None
            facts = _facts(rng)
            rows.append({
                "id": i + 1, "case_no": f"DL-{received.year}-{i + 1:07d}", "submitted_by": "bench", "source": "desk",
                "channel": "A01", "category": CATEGORY_OF.get(dept, "B14"), "cause": "C07", "severity": "ordinary",
                "tags": "[]" if pg else [], "vulnerable": False, "group_size": 1, "repeat_count": 0,
                "complainant_type": "individual", "complainant_name": "张三", "complainant_phone": phone,
                "agent_name": "李四" if agent_phone else None, "agent_phone": agent_phone,
                "branch": branch, "request": "请核实处理", "facts": facts, "status": status, "triage": False,
                "triage_reasons": "[]" if pg else [], "department": dept, "department_branch": dbranch,
                "handler": handler, "chain": chain_json[id(chain)] if pg else chain, "watchers": "[]" if pg else [],
                "regime": "nfra", "tier": "standard", "received_at": received, "clock_started_at": dl.clock_started_at,
                "paused_days": 0, "regulatory_due_at": dl.regulatory_due_at, "ack_due_at": dl.ack_due_at,
                "routed_at": received, "acknowledged_at": received + timedelta(hours=2) if status != "routed" else None,
                "responded_at": closed, "closed_at": closed, "created_at": received, "updated_at": closed or received,
                **search_keys(phone=phone, agent_phone=agent_phone, id_number=None, agent_id_number=None, text=facts),
            })
            is_open = closed is None
            parts += [{**r, "open": is_open, "received_at": received, "due_at": dl.regulatory_due_at}
                      for r in work_rows(i + 1, handler, chain, [])]
            if rng.random() < 0.01:  # 1 % paused once (鉴定): resumed, except some open ones paused now
                at = received + timedelta(days=2)
                clock.append({"complaint_id": i + 1, "kind": "pause", "at": at, "reason": "鉴定", "evidence_ref": "JD",
                              "actor": handler, "created_at": at})
                if not (is_open and rng.random() < 0.5):
                    clock.append({"complaint_id": i + 1, "kind": "resume", "at": at + timedelta(days=3),
                                  "reason": "", "evidence_ref": None, "actor": handler,
                                  "created_at": at + timedelta(days=3)})
        if pg:
            _copy(engine, "complaint", rows)
            _copy(engine, "case_participant", parts)
            if clock:
                _copy(engine, "clock_event", clock)
        else:
            with engine.begin() as conn:
                conn.execute(COMPLAINT.insert(), rows)
                conn.execute(PARTICIPANT.insert(), parts)
                if clock:
                    conn.execute(CLOCK.insert(), clock)
    with engine.begin() as conn:
        if pg:
            conn.execute(text("ALTER TABLE case_participant ENABLE TRIGGER case_participant_open"))
            conn.execute(text("SET maintenance_work_mem = '512MB'"))
            conn.execute(text("SELECT setval(pg_get_serial_sequence('complaint', 'id'), :n)"), {"n": n})
            conn.execute(text("CREATE INDEX ix_complaint_search_trgm ON complaint USING gin "
                              "(complaint_search_text(case_no, facts, request, respondent) gin_trgm_ops)"))
            conn.execute(text("CREATE INDEX ix_complaint_search_bigrams ON complaint USING gin "
                              "(complaint_bigrams(complaint_search_text(case_no, facts, request, respondent)))"))
        conn.execute(text("ANALYZE"))
    if pg:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) complaint"))
            conn.execute(text("VACUUM (ANALYZE) case_participant"))
            conn.execute(text("CHECKPOINT"))


def _copy(engine: Engine, table: str, rows: list[dict[str, Any]]) -> None:
    cols = list(rows[0])
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row([r[c] for c in cols])
        raw.commit()
    finally:
        raw.close()


def _user(role: str, person: str | None, branch: str | None = None) -> User:
    return User(id=0, username=f"bench-{person or role}", display_name="bench", role=role, person_id=person,
                branch=branch)


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))] * 1000


def measure(runs: list[tuple[Runtime, Callable[[Any], Any]]], requests: int) -> list[tuple[float, float]]:
    """p50 / p95 of `requests` calls of each (runtime, call), interleaved call by call (one size, then
    the next, and again), so a noisy stretch of the machine falls on every size alike."""
    for rt, fn in runs:  # warm once (plans, caches)
        with rt.unit(now=NOW) as uow:
            assert fn(uow) is not None
    samples: list[list[float]] = [[] for _ in runs]
    for _ in range(requests):
        for k, (rt, fn) in enumerate(runs):
            start = time.perf_counter()
            with rt.unit(now=NOW) as uow:
                fn(uow)
            samples[k].append(time.perf_counter() - start)
    return [(_pct(x, 0.5), _pct(x, 0.95)) for x in samples]


def concurrent_queue(rt: Runtime, handlers: list[str], seconds: float = 5.0) -> float:
    done = [0] * len(handlers)
    stop = time.perf_counter() + seconds

    def work(k: int) -> None:
        user = _user("handler", handlers[k])
        while time.perf_counter() < stop:
            with rt.unit(now=NOW) as uow:
                wq.queue(uow, user, {})
            done[k] += 1

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(handlers))]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - start)


def prepare(backend: str, n: int, tmp: Path, prefix: str, reuse: bool) -> tuple[Engine, Runtime, dict[str, Callable[[Any], Any]]]:
    """The database of `n` cases (built, or with --reuse the one a --keep run left, upgraded), and
    the calls to time on it."""
    config = load_config(REPO_ROOT / "config")
    name = f"{prefix}_{n}"
    if reuse:  # measure again on a database a --keep run left
        from models.db import make_engine, migrate

        engine = make_engine(f"sqlite:///{tmp / f'wb-{n}.db'}" if backend == "sqlite"
                             else f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
        _, t_migrate = timed(lambda: migrate(engine))  # a kept database of an older schema is upgraded
        if backend == "postgres":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM (ANALYZE) case_participant"))  # as autovacuum would after an upgrade
        print(f"migrated {name} to the current schema in {t_migrate:.1f} s", flush=True)
        t_build = 0.0
    else:
        engine = fresh_sqlite(tmp / f"wb-{n}.db") if backend == "sqlite" else fresh_postgres(name)
        _, t_build = timed(lambda: build(engine, n, config))
    rt = Runtime(config, engine)
    handler, supervisor = _user("handler", "chen.jing"), _user("supervisor", "feng.yu", "dl")
    cpo = _user("cpo", "zhao.li")
    with rt.unit(now=NOW) as uow:
        mine = wq.queue(uow, handler, {})
        hits2 = wq.search(uow, cpo, wq.parse_filter({"q": "冻结"}), limit=50)
        hits4 = wq.search(uow, cpo, wq.parse_filter({"q": "账户冻结"}), limit=50)
        phone = wq.search(uow, cpo, wq.parse_filter({"phone": PHONE}), limit=50)
    assert len(phone.items) == 4 and len(hits2.items) == 50 and len(hits4.items) == 50
    bare = text("SELECT * FROM complaint WHERE department = 'card' ORDER BY received_at DESC, id DESC LIMIT 50")
    cases: dict[str, Callable[[Any], Any]] = {
        "bare indexed SELECT … LIMIT 50": lambda uow: uow.session.execute(bare).all(),
        "handler's queue (4 sections, counted)": lambda uow: wq.queue(uow, handler, {}),
        "supervisor's queue (branch dl, counted)": lambda uow: wq.queue(uow, supervisor, {}),
        "department list (card, newest, counted)": lambda uow: wq.list_cases(
            uow, cpo, wq.parse_filter({"department": "card"})),
        "search 2 chars 冻结": lambda uow: wq.search(uow, cpo, wq.parse_filter({"q": "冻结"})),
        "search 4 chars 账户冻结": lambda uow: wq.search(uow, cpo, wq.parse_filter({"q": "账户冻结"})),
        "search by phone": lambda uow: wq.search(uow, cpo, wq.parse_filter({"phone": PHONE})),
        "handler's search 冻结 (her scope)": lambda uow: wq.search(uow, handler, wq.parse_filter({"q": "冻结"})),
    }
    print(f"{backend} {n:,} cases (build {t_build:.0f} s, not timed); chen.jing open {mine['open'].count:,}, "
          f"overdue {mine['overdue'].count:,}", flush=True)
    return engine, rt, cases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--only", choices=("postgres", "sqlite"), default="postgres")
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--pg-db-prefix", default="complaints_bench_wb")
    ap.add_argument("--keep", action="store_true", help="keep the PostgreSQL databases (SQLite: in --sqlite-dir)")
    ap.add_argument("--sqlite-dir", type=Path, help="where the SQLite files are built (--keep) or found (--reuse); "
                                                    "default: a temporary directory")
    ap.add_argument("--reuse", action="store_true", help="measure on the databases a --keep run left (no build)")
    args = ap.parse_args()
    results: dict[int, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-workbench-") as tmp:
        where = args.sqlite_dir or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        prepared = {n: prepare(args.only, n, where, args.pg_db_prefix, args.reuse) for n in args.sizes}
        try:
            sizes = sorted(prepared)
            print(f"\n{args.only}: {args.requests} requests each, the sizes interleaved; p50 / p95 in ms")
            print(f"  {'request':<42} " + "  ".join(f"{n:>9,} p50 / p95" for n in sizes), flush=True)
            for label in prepared[sizes[0]][2]:
                figures = measure([(prepared[n][1], prepared[n][2][label]) for n in sizes], args.requests)
                for n, fig in zip(sizes, figures, strict=True):
                    results.setdefault(n, {})[label] = fig
                print(f"  {label:<42} " + "  ".join(f"{p50:>9.1f} / {p95:5.1f}" for p50, p95 in figures), flush=True)
            for n in sizes:
                pages = concurrent_queue(prepared[n][1], ["chen.jing", "chu.wei", "wu.fang", "zheng.hao"])
                print(f"  4 concurrent handlers at {n:,}: {pages:.1f} queue pages/s", flush=True)
        finally:
            for n, (engine, _, _) in prepared.items():
                engine.dispose()
                if args.only == "postgres" and not (args.keep or args.reuse):
                    drop_postgres(f"{args.pg_db_prefix}_{n}")
    if len(results) >= 2:
        small, big = sorted(results)[0], sorted(results)[-1]
        print(f"\np95 ratio {big:,} / {small:,}:")
        for label in results[big]:
            ratio = results[big][label][1] / max(results[small][label][1], 1e-6)
            print(f"  {label:<42} {ratio:4.2f}x")


if __name__ == "__main__":
    main()
