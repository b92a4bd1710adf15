"""Migration 0014 on a database that already has routed cases: taken back to 0013 (the participants'
times and their indexes go), then up again, every participant row gets its case's received_at and
deadline from the case, the insert and deadline triggers work again, and the handler's queue reads
them. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select, text

from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.intake import run_intake
from models import case_actions
from models.db import session_scope
from models.participants import COMPLAINT, PARTICIPANT
from models.submission import submit
from models.users import User
from services import workbench_queue as wq
from services.unit_of_work import Runtime
from tests.factories import complaint
from tests.support.migrations import to_revision, unmigrated

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
TIME_INDEXES = {"ix_case_participant_open_due", "ix_case_participant_person_received"}


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from unmigrated(request.param, tmp_path, "m0014")


def _times(engine: Engine) -> list[tuple[object, ...]]:
    """Each participant row's (received_at, due_at) beside its case's (received_at, regulatory_due_at)."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(PARTICIPANT.c.received_at, PARTICIPANT.c.due_at, COMPLAINT.c.received_at,
                   COMPLAINT.c.regulatory_due_at).join(COMPLAINT, COMPLAINT.c.id == PARTICIPANT.c.complaint_id))]


def test_0014_gives_existing_participants_their_cases_times(empty_engine: Engine, config: Config) -> None:
    to_revision(empty_engine, "head")
    results = submit(empty_engine, [complaint(category="支付结算", received_at=(T0 - timedelta(days=d)).isoformat())
                                    for d in (20, 3, 1)], config=config, calendar=WorkingCalendar(), now=T0)
    run_intake(empty_engine, config, now=T0)
    cases = [r.case_no for r in results]
    to_revision(empty_engine, "0013", down=True)
    columns = {c["name"] for c in inspect(empty_engine).get_columns("case_participant")}
    assert not {"received_at", "due_at"} & columns
    assert not TIME_INDEXES & {str(i["name"]) for i in inspect(empty_engine).get_indexes("case_participant")}
    with empty_engine.begin() as conn:  # a row written at 0013 (no times) still gets its open flag
        conn.execute(text("INSERT INTO case_participant (complaint_id, person, role, level) "
                          "SELECT id, 'zhou.min', 'watcher', 0 FROM complaint WHERE case_no = :c"), {"c": cases[1]})
    to_revision(empty_engine, "0014")
    assert TIME_INDEXES <= {str(i["name"]) for i in inspect(empty_engine).get_indexes("case_participant")}
    rows = _times(empty_engine)
    assert len(rows) >= 3 * 4 and all(r[0] == r[2] and r[1] == r[3] for r in rows)  # every row, from its case
    cal = WorkingCalendar(overrides=config.calendar_overrides)
    with session_scope(empty_engine) as s:  # the deadline trigger after the upgrade
        case_actions.extend(s, case_no=cases[1], to="complex", approver="li.ming", approver_org=None,
                            approval_ref="批-1", reason="案情复杂", customer_told_at=T0, customer_told_via="phone",
                            config=config, calendar=cal, now=T0, actor="zhao.li")
    assert all(r[0] == r[2] and r[1] == r[3] for r in _times(empty_engine))
    handler = User(id=1, username="h", display_name="h", role="handler", person_id="yang.xue", branch=None)
    with Runtime(config, empty_engine).unit(now=T0) as uow:
        q = wq.queue(uow, handler, {})
    assert [c["case_no"] for c in q["overdue"].items] == [cases[0]]
    # the case extended to 30 days now comes after the one received two days later
    assert [c["case_no"] for c in q["open"].items] == [cases[0], cases[2], cases[1]]
