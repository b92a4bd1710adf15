"""Read queries the web and the API ask (beside models/case_views.py's): one case row, the cases
within a caller's scope, a person's escalations, the newest version of each weekly report.

Access rules are the API's (api/access.py): it passes its scope as a SQL clause and a row filter;
these functions only load.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import ColumnElement, Row, Select, and_, func, select
from sqlalchemy.orm import Session

from models.case_views import CaseSummary, select_cases
from models.complaint import Complaint
from models.escalation import Escalation
from models.participants import ESCALATION, PARTICIPANT
from models.queries_workbench import EscalationItem, escalation_item
from models.report import ReportSnapshot
from models.sqlutil import table_of

COMPLAINT = table_of(Complaint)
ESC = table_of(Escalation)
SNAP = table_of(ReportSnapshot)


def case_row(session: Session, case_no: str) -> Row[Any] | None:
    """The complaint row of `case_no`, or None."""
    return session.execute(select(COMPLAINT).where(COMPLAINT.c.case_no == case_no)).first()


def cases_in_scope(session: Session, scope: ColumnElement[bool], *, now: datetime, status: str | None = None,
                   department: str | None = None, overdue: bool = False, due_before: datetime | None = None,
                   limit: int = 200, keep: Callable[[Any], bool] = lambda row: True) -> list[CaseSummary]:
    """Case summaries within `scope` (as `complaints list` selects them; open pauses counted for overdue)."""
    stmt = select(COMPLAINT).where(scope)
    if status:
        stmt = stmt.where(COMPLAINT.c.status == status)
    if department:
        stmt = stmt.where(COMPLAINT.c.department == department)
    return select_cases(session, stmt, now=now, overdue=overdue, due_before=due_before, limit=limit, keep=keep)


def escalations_query(person: str, *, open_only: bool = True, limit: int = 500) -> Select[Any]:
    """The escalation rows sent to `person`, newest first: the person's escalation rows of
    `case_participant` (index `ix_case_participant_person_role`: person, role, case, level), each
    joined to its level's row by `uq_escalation_complaint_level`. The sweep writes one such row per
    recipient of each level it fires (migration 0009 backfilled the older levels)."""
    stmt = (select(ESC)
            .join(PARTICIPANT, and_(PARTICIPANT.c.complaint_id == ESC.c.complaint_id,
                                    PARTICIPANT.c.level == ESC.c.level))
            .where(PARTICIPANT.c.person == person, PARTICIPANT.c.role == ESCALATION))
    if open_only:
        stmt = stmt.where(ESC.c.acknowledged_at.is_(None))
    return stmt.order_by(ESC.c.fired_at.desc(), ESC.c.id.desc()).limit(limit)


def escalations_of(session: Session, person: str, *, open_only: bool = True,
                   limit: int = 500) -> list[EscalationItem]:
    """The escalations `person` received, newest first (`open_only`: not yet acknowledged)."""
    rows = session.execute(escalations_query(person, open_only=open_only, limit=limit)).all()
    return [escalation_item(r) for r in rows]


class ReportListing(TypedDict):
    """A week's newest frozen report as the report list shows it (`GET /api/reports`, the reports page)."""

    week: str
    version: int
    generated_at: datetime
    sha256: str
    input_rows: int


def latest_reports(session: Session) -> list[ReportListing]:
    """Each week's newest frozen report (week, version, generated_at, sha256, input_rows), newest week first."""
    latest = select(SNAP.c.week, func.max(SNAP.c.version).label("v")).group_by(SNAP.c.week).subquery()
    stmt = (select(SNAP.c.week, SNAP.c.version, SNAP.c.generated_at, SNAP.c.sha256, SNAP.c.input_rows)
            .join(latest, (latest.c.week == SNAP.c.week) & (latest.c.v == SNAP.c.version))
            .order_by(SNAP.c.week.desc()))
    return [{"week": r.week, "version": r.version, "generated_at": r.generated_at, "sha256": r.sha256,
             "input_rows": r.input_rows} for r in session.execute(stmt)]
