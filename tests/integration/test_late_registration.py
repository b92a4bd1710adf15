"""A frozen week stays reproducible as known at its freeze: a case registered later for that week
(补录, backdated by the import tool) is a late registration, not a changed figure (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select, update

from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.report import digest, parse_week
from flows.intake import run_intake
from flows.weekly_report import build_weekly_report, compute_content, verify_weekly_report
from models.complaint import Complaint
from models.db import session_scope
from models.report import late_registrations, registered_before
from models.sqlutil import table_of
from models.submission import submit
from tests.factories import complaint

C = table_of(Complaint)
CAL = WorkingCalendar()
W48 = parse_week("2026-W48")  # 2026-11-23 .. 2026-11-29 (Beijing time)
REGISTERED = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
FROZEN = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def test_case_registered_after_the_freeze_is_a_late_registration(db_engine: Engine, config: Config,
                                                                tmp_path: Path) -> None:
    """Verify recomputes from the cases registered before the snapshot: ok, with the later one named;
    the figures computed from everything do differ (what verify reported before); an edit of a case
    registered before the freeze is still a changed figure."""
    submit(db_engine, [complaint(), complaint(category="人民币储蓄")], config=config, calendar=CAL, now=REGISTERED)
    run_intake(db_engine, config, now=REGISTERED)
    frozen = build_weekly_report(db_engine, config, "2026-W48", FROZEN, output_dir=tmp_path)
    assert frozen.content.summary.new == 2
    before = verify_weekly_report(db_engine, config, "2026-W48", output_dir=tmp_path)
    assert before.ok and before.late_registrations == []

    late_at = FROZEN + timedelta(days=2)
    late = submit(db_engine, [complaint(received_at="2026-11-25T10:00:00+08:00")], config=config, calendar=CAL,
                  now=late_at)[0]
    run_intake(db_engine, config, now=late_at)
    with session_scope(db_engine) as s:
        for _ in range(6):  # psycopg prepares a statement on its 5th run: the view must reach those too
            assert digest(compute_content(s, config, W48)) != frozen.sha256  # the week now counts 3 new cases
        assert [r["case_no"] for r in late_registrations(s, W48, FROZEN)] == [late.case_no]
        with registered_before(s, FROZEN):
            assert digest(compute_content(s, config, W48)) == frozen.sha256
        assert digest(compute_content(s, config, W48)) != frozen.sha256  # the view is gone again

    outcome = verify_weekly_report(db_engine, config, "2026-W48", output_dir=tmp_path)
    assert outcome.ok, outcome.problems
    assert outcome.recomputed_sha256 == frozen.sha256
    assert outcome.late_registrations == [{"case_no": late.case_no, "received_at": "2026-11-25T02:00:00+00:00",
                                           "registered_at": late_at.isoformat()}]

    known = frozen_case(db_engine)
    with db_engine.begin() as conn:  # a case known at the freeze moved into another category
        conn.execute(update(C).where(C.c.case_no == known).values(category="B99"))
    edited = verify_weekly_report(db_engine, config, "2026-W48", output_dir=tmp_path)
    assert not edited.ok and edited.late_registrations == outcome.late_registrations


def frozen_case(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(C.c.case_no).where(C.c.created_at < FROZEN).order_by(C.c.id).limit(1)).scalar_one())
