"""The bulk writer (models/sqlutil.py) stores exactly what a SQLAlchemy Core executemany stores.

It skips SQLAlchemy's per-row parameter machinery but runs each value through its column type's
own bind processor, and fills in the Python-side column defaults. These tests insert the same
rows both ways and compare what the database holds, on SQLite and the real PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from models.audit import AuditEvent
from models.db import session_scope
from models.outbox import OutboxMessage
from models.sqlutil import bulk_insert, insert_ignoring_conflicts, table_of, update_rows_by_id
from tests.support.audit_insider import insider

AUDIT = table_of(AuditEvent)
OUTBOX = table_of(OutboxMessage)
CST = timezone(timedelta(hours=8))


def _audit_row(seq: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "seq": seq, "at": datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=CST), "actor": "张三",
        "action": "routed", "complaint_id": None, "case_no": f"DL-2026-{seq:06d}",
        "before": None, "after": {"status": "routed", "tags": ["舆情"], "n": 3, "ok": True, "x": None},
        "prev_hash": "0" * 64, "hash": f"{seq:064d}",
    }
    row.update(over)
    return row


COMPARED = ("at", "actor", "action", "complaint_id", "before", "after", "detail", "prev_hash")


def _stored(engine: Engine, where: str) -> list[tuple[Any, ...]]:
    """The audit columns as the database holds them, as text (no SQLAlchemy result processing)."""
    exprs = ", ".join(f'CAST("{c}" AS TEXT)' for c in COMPARED)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"SELECT {exprs} FROM audit_event WHERE {where} ORDER BY seq"))]


def test_insert_stores_what_core_stores(db_engine: Engine) -> None:
    odd = "tab\there\nnew line \\N back\\slash 引号\"'"  # what COPY's text format must escape
    core = [_audit_row(1), _audit_row(2, before={"status": odd}, detail=odd)]
    ours = [_audit_row(11), _audit_row(12, before={"status": odd}, detail=odd)]
    # Same content except seq / case_no / hash, which are not compared.
    with session_scope(db_engine) as session:
        session.execute(AUDIT.insert(), [dict(r, detail=r.get("detail", "")) for r in core])
        bulk_insert(session, AUDIT, [dict(r, detail=r.get("detail", "")) for r in ours])
    core_stored, ours_stored = _stored(db_engine, "seq < 10"), _stored(db_engine, "seq > 10")
    assert len(core_stored) == 2 and core_stored == ours_stored
    # And it reads back as the same Python values through the model's types.
    with db_engine.connect() as conn:
        rows = conn.execute(select(AUDIT.c.at, AUDIT.c.before, AUDIT.c.after).order_by(AUDIT.c.seq)).all()
    assert rows[0] == rows[2] and rows[1] == rows[3]
    assert rows[2].at == datetime(2026, 3, 1, 0, 30, 15, 123456, tzinfo=UTC)
    assert rows[2].before is None and rows[3].before == {"status": odd}


def test_missing_columns_get_their_defaults(db_engine: Engine) -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    row = {"dedupe_key": "k1", "message_id": "m1", "kind": "routed", "recipient": "p", "channel": "email",
           "address": "a@example.com", "next_attempt_at": now, "created_at": now}  # no context/status/attempts
    with session_scope(db_engine) as session:
        session.execute(OUTBOX.insert(), [row, dict(row, dedupe_key="k2", message_id="m2")])
        bulk_insert(session, OUTBOX, [dict(row, dedupe_key="k3", message_id="m3"),
                                      dict(row, dedupe_key="k4", message_id="m4")])
    with db_engine.connect() as conn:
        got = conn.execute(select(OUTBOX.c.dedupe_key, OUTBOX.c.context, OUTBOX.c.status, OUTBOX.c.attempts)
                           .order_by(OUTBOX.c.dedupe_key)).all()
    assert [tuple(r)[1:] for r in got] == [({}, "pending", 0)] * 4


def test_conflicts_are_skipped_and_counted(db_engine: Engine) -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    base = {"kind": "routed", "recipient": "p", "channel": "email", "address": "a@example.com",
            "next_attempt_at": now, "created_at": now, "context": {"a": 1}}
    with session_scope(db_engine) as session:
        assert insert_ignoring_conflicts(session, OUTBOX, [dict(base, dedupe_key="k", message_id="m1")],
                                         key="dedupe_key") == 1
        assert insert_ignoring_conflicts(session, OUTBOX, [dict(base, dedupe_key="k", message_id="m2")],
                                         key="dedupe_key") == 0
        assert insert_ignoring_conflicts(session, OUTBOX, [dict(base, dedupe_key="k", message_id="m3"),
                                                           dict(base, dedupe_key="k5", message_id="m5"),
                                                           dict(base, dedupe_key="k5", message_id="m6")],
                                         key="dedupe_key") == 1
    with db_engine.connect() as conn:
        got = conn.execute(select(OUTBOX.c.dedupe_key, OUTBOX.c.message_id).order_by(OUTBOX.c.id)).all()
    assert [tuple(r) for r in got] == [("k", "m1"), ("k5", "m5")]  # the first of two equal keys wins


def test_update_by_id(db_engine: Engine) -> None:
    with session_scope(db_engine) as session:
        bulk_insert(session, AUDIT, [dict(_audit_row(i), detail="") for i in (1, 2, 3)])
    with db_engine.connect() as conn:
        ids = [r[0] for r in conn.execute(select(AUDIT.c.id).order_by(AUDIT.c.seq))]
    later = datetime(2026, 4, 1, 9, 0, tzinfo=CST)
    # audit_event is append-only since migration 0007: the writer's UPDATE runs with its triggers dropped
    with insider(db_engine) as conn:
        writer = Session(bind=conn)
        update_rows_by_id(writer, AUDIT, [{"id": ids[0], "detail": "a", "at": later, "after": None},
                                          {"id": ids[2], "detail": "c", "at": later, "after": [1, "二"]}])
        writer.flush()
    with db_engine.connect() as conn:
        got = conn.execute(select(AUDIT.c.detail, AUDIT.c.at, AUDIT.c.after).order_by(AUDIT.c.seq)).all()
    assert [tuple(r) for r in got] == [
        ("a", later, None),
        ("", datetime(2026, 3, 1, 0, 30, 15, 123456, tzinfo=UTC), _audit_row(2)["after"]),
        ("c", later, [1, "二"]),
    ]


def test_naive_datetime_is_refused_and_nothing_is_stored(db_engine: Engine) -> None:
    rows = [dict(_audit_row(1), detail=""), dict(_audit_row(2), detail="", at=datetime(2026, 3, 1, 8, 0))]
    with pytest.raises((ValueError, StatementError), match="timezone"):
        with session_scope(db_engine) as session:
            bulk_insert(session, AUDIT, rows)
    with db_engine.connect() as conn:
        assert conn.execute(select(AUDIT.c.id)).all() == []
