"""Intake routes every pending complaint once, with audit events and outbox rows in the same commit."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, update

from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.intake import run_intake
from models.audit import AuditEvent
from models.audit_chain import verify
from models.case_views import case_detail
from models.complaint import Complaint
from models.db import session_scope
from models.outbox import OutboxMessage
from models.schemas import ComplaintIn
from models.sqlutil import table_of
from models.submission import submit
from tests.factories import complaint
from tests.support.audit_insider import insider

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
CAL = WorkingCalendar()
C = table_of(Complaint)
A = table_of(AuditEvent)
OUT = table_of(OutboxMessage)


def _submit(engine: Engine, config: Config, items: list[ComplaintIn]) -> list[str]:
    return [r.case_no for r in submit(engine, items, config=config, calendar=CAL, now=NOW)]


def test_intake_routes_by_category_to_department_and_handler(db_engine: Engine, config: Config) -> None:
    """A 银行卡 complaint goes to 信用卡部, a handler, with the five-level chain recorded."""
    (case_no,) = _submit(db_engine, config, [complaint(category="银行卡")])
    result = run_intake(db_engine, config, now=NOW)
    assert result.routed == 1 and result.triage == 0
    with session_scope(db_engine) as s:
        d = case_detail(s, case_no)
    assert d is not None
    assert d["status"] == "routed" and d["department"] == "card"
    assert d["handler"] in ("chen.jing", "chu.wei")
    assert [m["level"] for m in d["chain"]] == ["handler", "department_head", "cp_office", "deputy", "president"]
    assert [e["action"] for e in d["audit"]] == ["received", "routed"]


def test_unknown_category_goes_to_triage_queue(db_engine: Engine, config: Config) -> None:
    """An unknown business category is routed to the 消保办 with a reason, never dropped."""
    (case_no,) = _submit(db_engine, config, [complaint(category="外星业务")])
    run_intake(db_engine, config, now=NOW)
    with session_scope(db_engine) as s:
        d = case_detail(s, case_no)
    assert d is not None
    assert d["status"] == "routed" and d["triage"] and d["department"] == "cpo"
    assert any("外星业务" in r for r in d["triage_reasons"])


def test_major_and_sensitive_put_cp_office_and_deputy_on_the_case(db_engine: Engine, config: Config) -> None:
    """重大 (20+ together) and 舆情 cases get the 消保办 and 分管行长 as watchers and messages."""
    major, sensitive, plain = _submit(db_engine, config, [
        complaint(group_size=20), complaint(tags=["舆情"]), complaint()])
    run_intake(db_engine, config, now=NOW)
    with session_scope(db_engine) as s:
        dm, ds, dp = (case_detail(s, c) for c in (major, sensitive, plain))
        recipients = Counter(r for (r,) in s.execute(select(OUT.c.recipient).where(OUT.c.case_no == major)))
    assert dm and ds and dp
    assert dm["severity"] == "major"
    assert dm["watchers"] == ["zhao.li", "li.ming"] and ds["watchers"] == ["zhao.li", "li.ming"]
    assert dp["watchers"] == []
    assert {"zhao.li", "li.ming", dm["handler"]} <= set(recipients)


def test_outbox_context_holds_no_personal_data(db_engine: Engine, config: Config) -> None:
    """The queued message context carries the masked name and no phone or ID number."""
    _submit(db_engine, config, [complaint(request="请回电 13812345678")])
    run_intake(db_engine, config, now=NOW)
    with db_engine.connect() as conn:
        contexts = [row.context for row in conn.execute(select(OUT.c.context))]
    assert contexts
    text = repr(contexts)
    assert "13812345678" not in text and "210202198001011234" not in text and "张三" not in text
    assert "张*" in text


def test_rerunning_intake_changes_nothing(db_engine: Engine, config: Config) -> None:
    """A second run finds nothing pending: no new audit events, no new outbox rows."""
    _submit(db_engine, config, [complaint() for _ in range(5)])
    run_intake(db_engine, config, now=NOW)
    with db_engine.connect() as conn:
        before = (conn.execute(select(A.c.id)).all(), conn.execute(select(OUT.c.id)).all())
    again = run_intake(db_engine, config, now=NOW)
    with db_engine.connect() as conn:
        after = (conn.execute(select(A.c.id)).all(), conn.execute(select(OUT.c.id)).all())
    assert again.routed == 0 and before == after


def test_batches_cover_all_pending(db_engine: Engine, config: Config) -> None:
    """With a batch size of 7, 30 complaints are routed in 5 batches, none left behind."""
    _submit(db_engine, config, [complaint() for _ in range(30)])
    result = run_intake(db_engine, config, batch_size=7, now=NOW)
    assert (result.routed, result.batches) == (30, 5)
    with db_engine.connect() as conn:
        assert conn.execute(select(C.c.id).where(C.c.status == "received")).all() == []


def test_handlers_share_the_load(db_engine: Engine, config: Config) -> None:
    """Ten 银行卡 complaints are split evenly between the two card handlers."""
    _submit(db_engine, config, [complaint(category="银行卡") for _ in range(10)])
    run_intake(db_engine, config, now=NOW)
    with db_engine.connect() as conn:
        handlers = Counter(h for (h,) in conn.execute(select(C.c.handler)))
    assert handlers == Counter({"chen.jing": 5, "chu.wei": 5})


def test_two_intake_runs_at_once_route_each_complaint_once(db_engine: Engine, config: Config) -> None:
    """Concurrent runs (row locks on PostgreSQL, one writer on SQLite) never route a case twice."""
    _submit(db_engine, config, [complaint() for _ in range(300)])
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def go() -> None:
        try:
            barrier.wait()
            run_intake(db_engine, config, batch_size=20, now=NOW)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with db_engine.connect() as conn:
        routed = Counter(cid for (cid,) in conn.execute(select(A.c.complaint_id).where(A.c.action == "routed")))
        statuses = Counter(s for (s,) in conn.execute(select(C.c.status)))
        keys = [k for (k,) in conn.execute(select(OUT.c.dedupe_key))]
    assert len(routed) == 300 and set(routed.values()) == {1}
    assert statuses == Counter({"routed": 300})
    assert len(keys) == len(set(keys))
    assert verify(db_engine).ok


def test_audit_verify_names_the_edited_row(db_engine: Engine, config: Config) -> None:
    """Editing one audit row's content breaks the chain exactly there, and verify names its seq."""
    _submit(db_engine, config, [complaint() for _ in range(4)])
    run_intake(db_engine, config, now=NOW)
    assert verify(db_engine).ok
    with insider(db_engine) as conn:
        conn.execute(update(A).where(A.c.seq == 6).values(detail="tampered"))
    result = verify(db_engine)
    assert not result.ok and result.broken_seq == 6 and "edited" in (result.problem or "")


def test_audit_verify_names_a_deleted_row(db_engine: Engine, config: Config) -> None:
    """Deleting a row in the middle is reported at the missing seq."""
    _submit(db_engine, config, [complaint() for _ in range(3)])
    with insider(db_engine) as conn:
        conn.execute(A.delete().where(A.c.seq == 2))
    result = verify(db_engine)
    assert not result.ok and result.broken_seq == 2 and "deleted" in (result.problem or "")


def test_audit_verify_notices_rows_cut_from_the_end(db_engine: Engine, config: Config) -> None:
    """Removing the newest rows is caught by the chain head."""
    _submit(db_engine, config, [complaint() for _ in range(3)])
    with insider(db_engine) as conn:
        conn.execute(A.delete().where(A.c.seq == 3))
    result = verify(db_engine)
    assert not result.ok and "removed from the end" in (result.problem or "")


def test_one_run_routes_batches_in_parallel_on_postgres_only(db_engine: Engine, config: Config) -> None:
    """`policy.intake.workers` batches in flight on PostgreSQL (disjoint SKIP LOCKED claims, one audit
    chain, the load still shared evenly); one at a time on SQLite."""
    from flows.intake import route_one_batch

    _submit(db_engine, config, [complaint(category="银行卡") for _ in range(60)])
    threads: list[str] = []

    def recording(*args: Any, **kwargs: Any) -> Any:
        routed = route_one_batch(*args, **kwargs)
        if routed:
            threads.append(threading.current_thread().name)
        return routed

    result = run_intake(db_engine, config, batch_size=5, now=NOW, on_batch=recording)
    assert (result.routed, result.batches) == (60, 12) and len(threads) == 12
    if db_engine.dialect.name == "postgresql":
        assert config.policy.intake.workers == 2
        assert len(set(threads)) == 2 and all(t.startswith("intake") for t in threads)
    else:
        assert set(threads) == {threading.current_thread().name}
    with db_engine.connect() as conn:
        routed = Counter(cid for (cid,) in conn.execute(select(A.c.complaint_id).where(A.c.action == "routed")))
        handlers = Counter(h for (h,) in conn.execute(select(C.c.handler)))
    assert len(routed) == 60 and set(routed.values()) == {1}
    assert handlers == Counter({"chen.jing": 30, "chu.wei": 30})
    assert verify(db_engine).ok
