"""Migration 0013 on a database that already has notes (written by the real note action, the schema
then taken back to 0012): after the upgrade the notes' text indexes hold them, so a term only in an
old note finds its case, and a note written afterwards is indexed too; a downgrade removes the
indexes again. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.intake import run_intake
from models.submission import submit
from models.users import User
from services import workbench
from services import workbench_queue as wq
from services.unit_of_work import Runtime
from tests.factories import complaint
from tests.support.migrations import to_revision, unmigrated

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
NOTE_INDEXES = {"ix_case_note_search_trgm", "ix_case_note_search_bigrams"}


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from unmigrated(request.param, tmp_path, "m0013")


def _note_search_objects(engine: Engine) -> set[str]:
    """The notes' text indexes present: PostgreSQL's GIN indexes, or SQLite's FTS table and triggers."""
    if engine.dialect.name == "postgresql":
        return {str(i["name"]) for i in inspect(engine).get_indexes("case_note")} & NOTE_INDEXES
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT name FROM sqlite_master WHERE name LIKE 'case_note_fts%'")).scalars())


def test_0013_indexes_the_notes_already_written(empty_engine: Engine, config: Config) -> None:
    # The notes are written by today's code (which needs today's schema), then the schema goes back
    # to 0012: the notes stay, their indexes go, and 0013 must index what is already there.
    to_revision(empty_engine, "head")
    results = submit(empty_engine, [complaint(category="支付结算", facts="转账失败") for _ in range(3)],
                     config=config, calendar=WorkingCalendar(), now=T0)
    run_intake(empty_engine, config, now=T0)
    cases = [r.case_no for r in results]
    rt = Runtime(config, empty_engine)
    with rt.unit(now=T0) as uow:
        workbench.add_note(uow, case_no=cases[0], text="客户来电称卡被冻结", actor="yang.xue")
        workbench.add_note(uow, case_no=cases[1], text="已联系ATM厂商", actor="yang.xue")
    to_revision(empty_engine, "0012", down=True)
    assert _note_search_objects(empty_engine) == set()
    to_revision(empty_engine, "0013")
    objects = _note_search_objects(empty_engine)
    if empty_engine.dialect.name == "postgresql":
        assert objects == NOTE_INDEXES
    else:
        assert {"case_note_fts", "case_note_fts_ai", "case_note_fts_ad", "case_note_fts_au"} <= objects
    cpo = User(id=1, username="u", display_name="u", role="cpo", person_id=None, branch=None)

    def found(q: str) -> set[str]:
        with rt.unit(now=T0) as uow:
            return {c["case_no"] for c in wq.search(uow, cpo, wq.parse_filter({"q": q}), limit=50).items}

    assert found("卡被冻") == {cases[0]} and found("来电") == {cases[0]} and found("atm厂") == {cases[1]}
    with rt.unit(now=T0) as uow:
        workbench.add_note(uow, case_no=cases[2], text="卡被冻结后已解除", actor="yang.xue")
    assert found("卡被冻") == {cases[0], cases[2]}
    to_revision(empty_engine, "0012", down=True)
    assert _note_search_objects(empty_engine) == set()
