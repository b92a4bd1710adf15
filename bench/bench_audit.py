"""Audit verify: 1,000,000 chained events, verified from the last verified anchor and in full; and
the hourly anchor flow's row check over 1,000,000 complaints.

Chain pass: builds (untimed) a fresh database with `--n` hash-chained events (version-2 rows
precomputed in Python and bulk-inserted in chunks: COPY on PostgreSQL), a signed verified anchor
`--after` events before the head (one week of growth) and an anchor file of hourly anchors over that
week, then times
  incremental: `verify_with_anchors` (what `complaints audit verify`, /api/audit/verify and /audit
               run): the `--after` rows from the verified anchor, plus every anchor (file + database)
  full:        the same with `full=True` (`audit verify --full`): every link from genesis
Target (issue 12): incremental < 0.5 s on 1,000,000 events with 20,000 after the anchor.

Rows pass (`--rows`, after the chain pass; `--rows-only` alone): builds (untimed) `--cases`
complaints over two years, each with the hash-version-3 events production writes for it (received,
routed, then acknowledged, responded with its case_response row, closed; ~3 % still open), the
last event's row digest read back from the stored row as `append` does; one signed anchor an hour
over the two years (anchor file + database) and the previous hour's verified checkpoint. Then times
what the hourly `audit-anchor` flow (flows/anchor.py `anchor_now`) runs: the row check alone
(`rows_problem`), the responses check alone, the chain part alone (`verify_with_anchors`, one
hour's events + every anchor), the whole verify the flow asks for (`rows=True`) and `anchor_now`
itself; then edits one complaint row directly and checks that the row check names it.

    .venv/bin/python bench/bench_audit.py [--n 1000000] [--after 20000] [--only sqlite|postgres]
                                          [--rows | --rows-only] [--cases 1000000] [--sqlite-dir /var/tmp] [--keep]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, select, text, update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.common import drop_postgres, fresh_postgres, fresh_sqlite, handler_routes, timed  # noqa: E402
from complaints.config import REPO_ROOT, load_config  # noqa: E402
from domain.calendar import WorkingCalendar  # noqa: E402
from domain.deadlines import NfraRegime, Tier, compute_deadlines  # noqa: E402
from flows.anchor import ChainBroken, anchor_now  # noqa: E402
from models.anchors import (  # noqa: E402
    ANCHOR,
    FILE_ENV,
    KEY_ENV,
    Anchor,
    append_to_file,
    verify_with_anchors,
)
from models.audit import GENESIS_HASH  # noqa: E402
from models.audit_chain import (  # noqa: E402
    AUDIT,
    COMPLAINT,
    HASH_VERSION,
    HEAD,
    _current_rows,
    link_hash_for,
    link_hash_v2,
    response_digest,
    responses_problem,
    row_digest,
    rows_problem,
)
from models.case_actions import RESPONSE  # noqa: E402
from models.search import search_keys  # noqa: E402
from models.sqlutil import bulk_insert  # noqa: E402

KEY = b"bench-anchor-key-0123456789abcdef"
START = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
CHUNK = 50_000
T = TypeVar("T")


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


# ---------------------------------------------------------------- the row check (`--rows`)
#
# What the hourly `audit-anchor` flow (flows/anchor.py `anchor_now`) runs besides the incremental
# chain verify: every complaint row against the row digest of its last audit event
# (models/audit_chain.rows_problem) and every stored response against its `responded` event
# (responses_problem). Built as production writes it: each case's row as submit inserts it
# (models/submission._row's columns), then routed, acknowledged, responded (with its case_response
# row) and closed, one hash-version-3 event per step with the bodies those writers give them; each
# intermediate row digest is `row_digest` of the row dict after the step (what submit's batch path
# does), the last one is read back from the stored row by `_current_rows` (what routing and the case
# actions do: `append` without `row=`) and checked against `row_digest` of the dict.

ROWS_NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # the hourly run being timed (10:00 Beijing)
ROWS_SPAN_HOURS = 730 * 24  # two years of cases, one anchor an hour
ROWS_CHUNK = 10_000  # cases per transaction (~50,000 events)
PHRASES = ["账单扣收年费{n}元，要求退还", "ATM 取款时吞卡{n}分钟未处理", "理财产品收益与宣传不符", "贷款利率调整未提前告知",
           "手机银行转账失败{n}次", "客服电话长时间无人接听", "信用卡分期手续费过高", "网点排队时间过长", "短信通知重复扣费",
           "销售人员误导购买保险", "征信记录有误需更正", "外币兑换汇率不透明"]
CATEGORY_OF = {"retail": "B01", "credit": "B02", "card": "B03", "payments": "B04", "it": "B06", "wealth": "B09",
               "cpo": "B14", "outlet": "B01"}
CAUSES = [("R02", "收费定价", "C07"), ("R03", "员工行为", "C01"), ("R04", "业务流程", "C03"), ("R05", "系统故障", "C02"),
          ("R08", "客户误解", "C99"), ("R09", "营销不当", "C04")]


def timed_load(fn: Callable[[], T], loads: list[float]) -> tuple[T, float]:
    """`timed`, noting the 1-minute load average before and after (this machine is shared)."""
    loads.append(os.getloadavg()[0])
    try:
        return timed(fn)
    finally:
        loads.append(os.getloadavg()[0])


def python_peak_mb(fn: Callable[[], object]) -> float:
    """Peak Python memory (MB, tracemalloc) of one untimed call: what the call itself holds."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()



# (at, actor, action, before, after, detail, row_digest of the row dict after the step)
_Step = tuple[datetime, str, str, dict[str, Any] | None, dict[str, Any], str, str]


def _case(i: int, n: int, rng: random.Random, routes: list[Any], calendar: WorkingCalendar,
          ) -> tuple[dict[str, Any], list[_Step], dict[str, Any] | None]:
    """One case: its final row (to insert), its steps and its case_response row (None while open)."""
    received = ROWS_NOW - timedelta(seconds=ROWS_SPAN_HOURS * 3600 * (n - i) // n + 3600)
    dl = compute_deadlines(received_at=received, tier=Tier.STANDARD, events=(), regime=NfraRegime(),
                           calendar=calendar)
    branch, dbranch, dept, handler, chain = routes[rng.randrange(len(routes))]
    phone = f"138{rng.randrange(10**8):08d}"
    agent = rng.random() < 0.05
    facts = "。".join(rng.choice(PHRASES).format(n=rng.randint(1, 999)) for _ in range(rng.randint(2, 4)))
    source = rng.choice(["desk", "hotline", "online"])
    api = source == "online"
    case_no = f"DL-{received.year}-{i + 1:07d}"
    row: dict[str, Any] = {  # as submit inserts it (models/submission._row)
        "id": i + 1, "case_no": case_no, "external_ref": f"WX{i + 1:010d}" if api else None,
        "submitted_by": "wechat-gw" if api else "cli", "request_fingerprint": f"{i:064x}" if api else None,
        "source": source, "channel": None, "category": None, "cause": None,
        "channel_raw": "A01" if source == "hotline" else "A03", "category_raw": CATEGORY_OF.get(dept, "B14"),
        "cause_raw": None, "severity": "ordinary", "severity_requested": None, "tags": [],
        "vulnerable": rng.random() < 0.03, "vulnerable_note": None, "group_size": 1, "repeat_count": 0,
        "complainant_type": "individual", "complainant_name": "张三", "complainant_phone": phone,
        "complainant_id_type": "resident_id", "complainant_id_number": f"21020219{rng.randrange(10**10):010d}",
        "complainant_email": None, "complainant_address": "大连市中山区人民路1号" if rng.random() < 0.3 else None,
        "complainant_credit_code": None, "complainant_legal_rep": None,
        "agent_name": "李四" if agent else None, "agent_phone": f"139{rng.randrange(10**8):08d}" if agent else None,
        "agent_id_type": None, "agent_id_number": None, "agent_authorization": "授权委托书" if agent else None,
        "branch": branch, "outlet": None, "respondent": None, "request": "请核实处理并退还相关费用", "facts": facts,
        "status": "received", "triage": False, "triage_reasons": [], "department": None, "department_branch": None,
        "handler": None, "chain": [], "watchers": [], "regime": "nfra", "tier": "standard",
        "received_at": received, "clock_started_at": dl.clock_started_at, "paused_days": 0,
        "regulatory_due_at": dl.regulatory_due_at, "ack_due_at": dl.ack_due_at, "routed_at": None,
        "acknowledged_at": None, "responded_at": None, "closed_at": None, "created_at": received,
        "updated_at": received,
        **search_keys(phone=phone, agent_phone=None, id_number=None, agent_id_number=None, text=facts),
    }
    steps: list[_Step] = []
    after = {"status": "received", "source": source, "branch": branch,
             "regulatory_due_at": dl.regulatory_due_at.isoformat(), "ack_due_at": dl.ack_due_at.isoformat()}
    steps.append((received, "wechat-gw" if api else "desk", "received", None, after, "", row_digest(row, HASH_VERSION)))
    # routed by intake (models/routing_store.apply_plans)
    at = received + timedelta(minutes=5)
    triage = rng.random() < 0.05
    reasons = ["涉及老年人等特殊群体"] if triage else []
    category = CATEGORY_OF.get(dept, "B14")
    row.update(status="routed", channel=row["channel_raw"], category=category, cause="C07", tags=[],
               triage=triage, triage_reasons=reasons, department=dept, department_branch=dbranch, handler=handler,
               chain=chain, watchers=["cpo.wang"] if triage else [], routed_at=at, updated_at=at)
    steps.append((at, "intake", "routed", {"status": "received"},
                  {"status": "routed", "department": dept, "handler": handler, "severity": "ordinary",
                   "category": category, "triage": triage}, "; ".join(reasons)[:500], row_digest(row, HASH_VERSION)))
    age = ROWS_NOW - received
    if age < timedelta(days=20) or rng.random() < 0.006:  # recent work, a few left open
        if rng.random() < 0.3:
            return row, steps, None
        stop = "acknowledged"
    else:
        stop = "closed"
    # the case actions (models/case_actions._transition): before/after as _audit writes them
    at = received + timedelta(hours=2)
    row.update(status="acknowledged", acknowledged_at=at, updated_at=at)
    steps.append((at, handler, "acknowledged", {"status": "routed"},
                  {"status": "acknowledged", "acknowledged_at": at.isoformat()}, "", row_digest(row, HASH_VERSION)))
    if stop == "acknowledged":
        return row, steps, None
    told = received + timedelta(days=rng.randint(3, 14), hours=3)
    at = told + timedelta(minutes=30)
    verified, basis = f"经核实，{facts[:40]}情况属实", "依据《银行业保险业消费投诉处理管理办法》第十九条及本行收费标准"
    remedies, told_via = "如对处理结果不满意，可申请核查或向金融监督管理部门反映", "phone"
    response = {"complaint_id": i + 1, "verified": verified, "basis": basis, "remedies": remedies,
                "told_via": told_via, "told_at": told, "recorded_at": at, "actor": handler, "proof_file_id": None}
    recorded = {"outcome": "upheld", "not_upheld_reason": None, "redress_type": "refund", "redress_amount": "50.00",
                "timely": True, "callback_due_at": (told + timedelta(days=5)).isoformat(),
                "response_sha256": response_digest((verified, basis, remedies, told_via, told, None))}
    row.update(status="responded", responded_at=told, updated_at=at)
    steps.append((at, handler, "responded", {"status": "acknowledged"},
                  {"status": "responded", "responded_at": told.isoformat(), **recorded}, f"told via {told_via}",
                  row_digest(row, HASH_VERSION)))
    at = told + timedelta(days=1)
    code, name, jrt = CAUSES[rng.randrange(len(CAUSES))]
    row.update(status="closed", closed_at=at, updated_at=at)
    steps.append((at, handler, "closed", {"status": "responded"},
                  {"status": "closed", "closed_at": at.isoformat(), "root_cause": code, "root_cause_jrt": jrt},
                  f"投诉根因：{name}", row_digest(row, HASH_VERSION)))
    return row, steps, response


def build_rows(engine: Engine, n: int, anchor_path: Path) -> dict[str, Any]:
    """n cases with their events; hourly anchors (file + database) over the two years, the last
    verified one at the previous hour's head: the state the timed hourly run finds."""
    config = load_config(REPO_ROOT / "config")
    calendar = WorkingCalendar(overrides=config.calendar_overrides)
    routes = handler_routes(config)
    rng = random.Random(12)
    pg = engine.dialect.name == "postgresql"
    if pg:  # the search GIN indexes (not read by the row check) are left out: they would triple the load
        with engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_complaint_search_trgm"))
            conn.execute(text("DROP INDEX ix_complaint_search_bigrams"))
    prev, seq, mismatched, responses = GENESIS_HASH, 0, 0, 0
    for start in range(0, n, ROWS_CHUNK):
        finals: list[dict[str, Any]] = []
        resp: list[dict[str, Any]] = []
        steps: list[tuple[_Step, int, bool]] = []
        for i in range(start, min(n, start + ROWS_CHUNK)):
            row, case_steps, response = _case(i, n, rng, routes, calendar)
            finals.append(row)
            if response is not None:
                resp.append(response)
            steps.extend((s, i + 1, k == len(case_steps) - 1) for k, s in enumerate(case_steps))
        steps.sort(key=lambda s: s[0][0])  # the chain in time order within the chunk
        with Session(engine) as session, session.begin():
            bulk_insert(session, COMPLAINT, finals)
            if resp:
                bulk_insert(session, RESPONSE, resp)
            ids = [r["id"] for r in finals]
            case_of = {r["id"]: r["case_no"] for r in finals}
            stored = _current_rows(session, ids, HASH_VERSION)  # what `append` reads when no row is given
            events: list[dict[str, Any]] = []
            for (at, actor, action, before, after, detail, rh), cid, last in steps:
                seq += 1
                if last:  # the stored row's digest, as `append` reads it; the same as the dict's
                    mismatched += stored[cid] != rh
                    rh = stored[cid]
                case_no = case_of[cid]
                h = link_hash_for(HASH_VERSION, prev, seq, at, actor, action, cid, case_no, before, after, detail, rh)
                events.append({"seq": seq, "at": at, "actor": actor, "action": action, "complaint_id": cid,
                               "case_no": case_no, "before": before, "after": after, "detail": detail,
                               "prev_hash": prev, "hash": h, "hash_version": HASH_VERSION, "row_hash": rh})
                prev = h
            bulk_insert(session, AUDIT, events)
        responses += len(resp)
    # One anchor an hour (the flow's), over seqs spread evenly; the previous hour's verified checkpoint;
    # the timed run is the hour after it, with one hour's events (~seq / ROWS_SPAN_HOURS) to walk.
    hours = [seq * k // ROWS_SPAN_HOURS for k in range(1, ROWS_SPAN_HOURS)]
    hashes: dict[int, str] = {}
    with engine.connect() as conn:
        for i in range(0, len(hours), 900):
            hashes.update((int(s), str(h)) for s, h in conn.execute(
                select(AUDIT.c.seq, AUDIT.c.hash).where(AUDIT.c.seq.in_(hours[i:i + 900]))))
    first = ROWS_NOW - timedelta(hours=ROWS_SPAN_HOURS)
    anchors = [Anchor(s, hashes[s], first + timedelta(hours=k + 1), "schedule").signed(KEY)
               for k, s in enumerate(hours)]
    with Session(engine) as session, session.begin():
        session.execute(HEAD.insert().values(id=1, seq=seq, hash=prev))
        bulk_insert(session, ANCHOR, [{"seq": a.seq, "hash": a.hash, "at": a.at, "source": a.source,
                                       "verified": False, "sig": a.sig} for a in anchors])
        newest = anchors[-1]
        mark = Anchor(newest.seq, newest.hash, newest.at, "verified").signed(KEY)
        session.execute(ANCHOR.insert().values(seq=mark.seq, hash=mark.hash, at=mark.at, source="verified",
                                               verified=True, sig=mark.sig))
        if pg:
            session.execute(text("SELECT setval(pg_get_serial_sequence('complaint', 'id'), :n)"), {"n": n})
    # the anchor file as `append_to_file` writes it (each line's signature over the previous one's),
    # without its fsync per line
    lines, sig = [], None
    for a in anchors:
        line = replace(a, prev=sig, where=str(anchor_path)).signed(KEY)
        lines.append(json.dumps(line.as_json(), ensure_ascii=False, sort_keys=True))
        sig = line.sig
    anchor_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if pg:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("complaint", "audit_event", "case_response", "audit_anchor"):
                conn.execute(text(f"VACUUM (ANALYZE) {table}"))
            conn.execute(text("CHECKPOINT"))
    return {"events": seq, "responses": responses, "mismatched": mismatched, "anchors": len(anchors),
            "after": seq - newest.seq}


def run_rows(backend: str, n: int, sqlite_dir: Path, keep: bool) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-audit-rows-", dir=sqlite_dir))
    db_name = f"complaints_bench_rows_{n}"
    engine = (fresh_sqlite(tmp / "audit_rows.db") if backend == "sqlite"
              else fresh_postgres(db_name))
    anchors = tmp / "anchors.jsonl"
    # what the flow reads: the key and the anchor file from the environment (flows/anchor.py)
    os.environ[KEY_ENV], os.environ[FILE_ENV] = KEY.decode(), str(anchors)
    os.environ.setdefault("COMPLAINTS_EVIDENCE_DIR", str(tmp / "evidence"))
    try:
        built, t_build = timed(lambda: build_rows(engine, n, anchors))
        built["build"], built["build_rss"] = t_build, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert built["mismatched"] == 0, built  # the dict's digest is the stored row's
        loads: list[float] = []
        out: dict[str, Any] = {**built, "rows": [], "chain": [], "hourly": [], "loads": loads}
        for _ in range(3):
            (checked, case_no, problem), t = timed_load(lambda: rows_problem(engine), loads)
            assert checked == n and problem is None, (checked, case_no, problem)
            out["rows"].append(t)
        (checked_r, _, problem), out["responses_t"] = timed_load(lambda: responses_problem(engine), loads)
        assert checked_r == built["responses"] and problem is None, (checked_r, problem)
        out["rows_mem"] = python_peak_mb(lambda: rows_problem(engine))
        out["responses_mem"] = python_peak_mb(lambda: responses_problem(engine))
        for _ in range(3):  # the chain part alone: as the flow asks, without the rows
            result, t = timed_load(lambda: verify_with_anchors(engine, key=KEY, checkpoint=False), loads)
            assert result.ok and result.checked == built["after"], result
            out["chain"].append(t)
            out["anchors_checked"] = result.anchors_checked
        for _ in range(3):  # the flow's whole verify (checkpoint left out, so each walks the same hour)
            result, t = timed_load(lambda: verify_with_anchors(engine, key=KEY, rows=True, checkpoint=False), loads)
            assert result.ok and result.rows_checked == n and result.checked == built["after"], result
            out["hourly"].append(t)
        # the flow function itself, once: verify (and record the checkpoint), sign and append the anchor
        anchor, out["anchor_now"] = timed_load(lambda: anchor_now(engine, ROWS_NOW), loads)
        assert anchor["seq"] == built["events"] and anchor["checked"] == built["after"], anchor
        # a complaint row edited behind the chain (a deadline moved 10 days, near the end of the scan)
        victim = n - 7
        with engine.begin() as conn:
            want, due = conn.execute(select(COMPLAINT.c.case_no, COMPLAINT.c.regulatory_due_at)
                                     .where(COMPLAINT.c.id == victim)).one()
            conn.execute(update(COMPLAINT).where(COMPLAINT.c.id == victim).values(
                regulatory_due_at=due + timedelta(days=10)))
        (checked, case_no, problem), out["tampered_rows"] = timed_load(lambda: rows_problem(engine), loads)
        assert case_no == want and checked == victim and problem is not None, (checked, case_no, problem)
        bad, out["tampered_hourly"] = timed_load(lambda: verify_with_anchors(engine, key=KEY, rows=True, checkpoint=False), loads)
        assert not bad.ok and bad.broken_case == want, bad
        try:
            anchor_now(engine, ROWS_NOW + timedelta(hours=1))
            raise AssertionError("the flow anchored over an edited complaint row")
        except ChainBroken:
            pass
        out["tampered_case"], out["tampered_problem"] = want, problem
        return out
    finally:
        engine.dispose()
        for name in (KEY_ENV, FILE_ENV):
            os.environ.pop(name, None)
        if keep:
            print(f"  kept: {tmp}" + ("" if backend == "sqlite" else f" and PostgreSQL database {db_name}"))
        else:
            shutil.rmtree(tmp, ignore_errors=True)
            if backend == "postgres":
                drop_postgres(db_name)


def print_rows(backend: str, n: int, r: dict[str, Any]) -> None:
    def runs(ts: list[float]) -> str:
        return " / ".join(f"{t:.2f}" for t in ts) + f" s (best {min(ts):.2f})"

    print(f"  {backend:<9} built (untimed) in {r['build']:.0f} s, peak RSS {r['build_rss']:,.0f} MB: {n:,} cases, "
          f"{r['events']:,} events, {r['responses']:,} responses, {r['anchors']:,} hourly anchors, "
          f"{r['after']:,} events in the last hour; stored rows' digests = row_digest of the dicts "
          f"({r['mismatched']} differ)")
    print(f"            row check alone (rows_problem, {n:,} rows): {runs(r['rows'])}, "
          f"{n / min(r['rows']):,.0f} rows/s, Python peak {r['rows_mem']:,.0f} MB")
    print(f"            responses check alone (responses_problem, {r['responses']:,} responses): "
          f"{r['responses_t']:.2f} s, Python peak {r['responses_mem']:,.0f} MB")
    print(f"            chain part alone (verify_with_anchors, {r['after']:,} events + {r['anchors_checked']:,} "
          f"anchors): {runs(r['chain'])}")
    print(f"            hourly verify (verify_with_anchors rows=True): {runs(r['hourly'])}")
    print(f"            anchor_now (the flow's function: verify + checkpoint + anchor): {r['anchor_now']:.2f} s")
    print(f"            edited row {r['tampered_case']} found: rows_problem {r['tampered_rows']:.2f} s, hourly verify "
          f"{r['tampered_hourly']:.2f} s, anchor_now refused; {r['tampered_problem']}")
    print(f"            1-minute load average around the timed calls: {min(r['loads']):.2f}-{max(r['loads']):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--after", type=int, default=20_000, help="events after the last verified anchor")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--rows", action="store_true", help="then the hourly flow's row check (the rows pass)")
    parser.add_argument("--rows-only", action="store_true", help="the rows pass alone")
    parser.add_argument("--cases", type=int, default=1_000_000, help="complaints in the rows pass")
    parser.add_argument("--sqlite-dir", type=Path, default=Path("/var/tmp"), help="where the rows pass's SQLite file goes")
    parser.add_argument("--keep", action="store_true", help="keep the rows pass's databases")
    args = parser.parse_args()
    backends = [b for b in ("sqlite", "postgres") if not args.only or b == args.only]
    if not args.rows_only:
        print(f"audit verify benchmark: {args.n:,} events, {args.after:,} after the last verified anchor")
        for backend in backends:
            r = run(backend, args.n, args.after)
            incr = ", ".join(f"{t:.3f}" for t in r["incremental"])
            print(f"  {backend:<9} build (untimed part) {r['build']:.1f} s | incremental {incr} s "
                  f"(best {min(r['incremental']):.3f}; target < 0.5) | full {r['full']:.2f} s "
                  f"({args.n / r['full']:,.0f} events/s) | tampered row found incrementally in {r['tampered']:.3f} s "
                  f"| {r['anchors']} anchors checked")
    if args.rows or args.rows_only:
        print(f"hourly anchor flow's row check: {args.cases:,} complaints")
        for backend in backends:
            print_rows(backend, args.cases, run_rows(backend, args.cases, args.sqlite_dir, args.keep))


if __name__ == "__main__":
    main()
