"""Submitting complaints: case numbers, deadlines, idempotency, nothing half-stored."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select

from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.deadlines import SHANGHAI
from models.audit_chain import verify
from models.complaint import Complaint
from models.sqlutil import table_of
from models.submission import submit
from tests.factories import complaint

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
CAL = WorkingCalendar()


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table_of(Complaint))).scalar_one())


def test_submit_issues_case_numbers_and_deadlines(db_engine: Engine, config: Config) -> None:
    """Each new complaint gets the next DL-YYYY-NNNNNN number and its 15-day and ack deadlines."""
    results = submit(db_engine, [complaint(), complaint()], config=config, calendar=CAL, now=NOW)
    assert [r.case_no for r in results] == ["DL-2026-000001", "DL-2026-000002"]
    r = results[0]
    assert r.status == "received"
    assert r.due_at.astimezone(SHANGHAI).isoformat() == "2026-12-11T23:59:59+08:00"
    assert r.ack_due_at.astimezone(SHANGHAI).isoformat() == "2026-11-27T23:59:59+08:00"
    assert r.due_at.tzinfo is not None


def test_same_external_ref_returns_first_case_unchanged(db_engine: Engine, config: Config) -> None:
    """A resubmission with the same external reference returns the first case and stores nothing new."""
    first = submit(db_engine, [complaint(external_ref="EXT-1")], config=config, calendar=CAL, now=NOW)[0]
    again = submit(db_engine, [complaint(external_ref="EXT-1", request="不同的诉求")], config=config,
                   calendar=CAL, now=NOW)[0]
    assert again.case_no == first.case_no and again.duplicate and not first.duplicate
    assert _count(db_engine) == 1


def test_duplicate_ref_inside_one_call_stores_once(db_engine: Engine, config: Config) -> None:
    """Two items with one reference in the same file make one case; the second points at it."""
    results = submit(db_engine, [complaint(external_ref="X"), complaint(external_ref="X")], config=config,
                     calendar=CAL, now=NOW)
    assert results[0].case_no == results[1].case_no and results[1].duplicate
    assert _count(db_engine) == 1


def test_receipt_after_local_midnight_counts_local_date(db_engine: Engine, config: Config) -> None:
    """A complaint received 00:30 Beijing time (previous day in UTC) is due 15 local days later."""
    c = complaint(received_at="2026-12-01T00:30:00+08:00")
    r = submit(db_engine, [c], config=config, calendar=CAL, now=datetime(2026, 12, 1, tzinfo=UTC))[0]
    assert r.due_at.astimezone(SHANGHAI).isoformat() == "2026-12-16T23:59:59+08:00"


def test_submission_writes_a_verified_audit_event(db_engine: Engine, config: Config) -> None:
    """Every stored complaint has a 'received' audit event and the chain verifies."""
    submit(db_engine, [complaint() for _ in range(3)], config=config, calendar=CAL, now=NOW)
    result = verify(db_engine)
    assert result.ok and result.checked == 3


def test_concurrent_submitters_with_one_ref_store_one_case(db_engine: Engine, config: Config) -> None:
    """Two threads submitting the same reference at once end with one case and the same number."""
    barrier = threading.Barrier(4)
    out: list[str] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            barrier.wait()
            out.append(submit(db_engine, [complaint(external_ref="RACE")], config=config, calendar=CAL,
                              now=NOW)[0].case_no)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(out)) == 1 and len(out) == 4
    assert _count(db_engine) == 1


@pytest.mark.parametrize("year_receipt", ["2025-12-31T23:30:00+08:00"])
def test_case_number_year_is_the_local_receipt_year(db_engine: Engine, config: Config, year_receipt: str) -> None:
    """A complaint received on New Year's Eve local time is numbered in that year."""
    r = submit(db_engine, [complaint(received_at=year_receipt)], config=config, calendar=CAL, now=NOW)[0]
    assert r.case_no == "DL-2025-000001"
