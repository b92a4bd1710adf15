"""What the escalation sweep, scheduling and the supervisors' views read: cases, fired levels,
open pauses (by ids or by an id range), and the small key/value state. Reads only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.calendar import WorkingCalendar
from domain.escalation import ESCALATING_STATUSES, CaseClock, is_urgent
from domain.lifecycle import Status
from domain.sweep import SweepMemo
from models.complaint import ClockEventRow, Complaint
from models.escalation import Escalation, EscalationSchedule, EscalationState
from models.sqlutil import id_chunks, id_in, insert_ignoring_conflicts, table_of
from settings.config import Config

COMPLAINT = table_of(Complaint)
CLOCK = table_of(ClockEventRow)
ESC = table_of(Escalation)
SCHED = table_of(EscalationSchedule)
STATE = table_of(EscalationState)
ESCALATING = [s.value for s in ESCALATING_STATUSES]


_CASE_COLS = [
    COMPLAINT.c.id, COMPLAINT.c.case_no, COMPLAINT.c.status, COMPLAINT.c.branch, COMPLAINT.c.department_branch,
    COMPLAINT.c.department, COMPLAINT.c.handler, COMPLAINT.c.severity, COMPLAINT.c.severity_requested,
    COMPLAINT.c.group_size, COMPLAINT.c.tags, COMPLAINT.c.source, COMPLAINT.c.vulnerable, COMPLAINT.c.category,
    COMPLAINT.c.complainant_name, COMPLAINT.c.clock_started_at, COMPLAINT.c.regulatory_due_at,
    COMPLAINT.c.ack_due_at, COMPLAINT.c.acknowledged_at, COMPLAINT.c.created_at,
]


def is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def case_clock(row: Any, *, paused: bool) -> CaseClock:
    return CaseClock(
        status=Status(row.status),
        clock_started_at=row.clock_started_at,
        regulatory_due_at=row.regulatory_due_at,
        ack_due_at=row.ack_due_at,
        acknowledged=row.acknowledged_at is not None,
        urgent=is_urgent(severity=row.severity, severity_requested=row.severity_requested,
                         group_size=row.group_size, tags=row.tags or (), source=row.source),
        vulnerable=bool(row.vulnerable),
        paused=paused,
    )


def load_cases(session: Session, ids: Sequence[int]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for chunk in id_chunks(session, ids):
        out.update((r.id, r) for r in session.execute(select(*_CASE_COLS).where(id_in(session, COMPLAINT.c.id, chunk))).all())
    return out


def _pause_rows(rows: Iterable[Any]) -> dict[int, tuple[datetime, str, str | None]]:
    state: dict[int, tuple[datetime, str, str | None] | None] = {}
    for cid, kind, at, reason, evidence in rows:
        if kind == "pause":
            state[cid] = (at, reason, evidence)
        elif kind == "resume":
            state[cid] = None
        # a restart keeps an open pause open (domain.deadlines)
    return {cid: v for cid, v in state.items() if v is not None}


_PAUSE_COLS = (CLOCK.c.complaint_id, CLOCK.c.kind, CLOCK.c.at, CLOCK.c.reason, CLOCK.c.evidence_ref)
_PAUSE_ORDER = (CLOCK.c.complaint_id, CLOCK.c.at, CLOCK.c.id)


def pause_state(session: Session, ids: Sequence[int]) -> dict[int, tuple[datetime, str, str | None]]:
    """The cases among `ids` whose clock is paused now: when, why, and the evidence reference."""
    out: dict[int, tuple[datetime, str, str | None]] = {}
    for chunk in id_chunks(session, ids):
        stmt = select(*_PAUSE_COLS).where(id_in(session, CLOCK.c.complaint_id, chunk)).order_by(*_PAUSE_ORDER)
        out.update(_pause_rows(session.execute(stmt).all()))
    return out


def open_pauses(session: Session, ids: Sequence[int]) -> dict[int, datetime]:
    return {cid: v[0] for cid, v in pause_state(session, ids).items()}


def fired_levels(session: Session, ids: Sequence[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for chunk in id_chunks(session, ids):
        for cid, level in session.execute(select(ESC.c.complaint_id, ESC.c.level)
                                          .where(id_in(session, ESC.c.complaint_id, chunk))).all():
            out.setdefault(cid, set()).add(level)
    return out


def fired_between(session: Session, lo: int, hi: int) -> dict[int, set[int]]:
    """Fired levels of the cases with lo < id <= hi (one index range: new cases have few)."""
    out: dict[int, set[int]] = {}
    for cid, level in session.execute(select(ESC.c.complaint_id, ESC.c.level)
                                      .where(ESC.c.complaint_id > lo, ESC.c.complaint_id <= hi)).all():
        out.setdefault(cid, set()).add(level)
    return out


def paused_between(session: Session, lo: int, hi: int) -> set[int]:
    stmt = (select(*_PAUSE_COLS).where(CLOCK.c.complaint_id > lo, CLOCK.c.complaint_id <= hi)
            .order_by(*_PAUSE_ORDER))
    return set(_pause_rows(session.execute(stmt).all()))


def memo_for(config: Config, calendar: WorkingCalendar, now: datetime) -> SweepMemo:
    """One run's memo (one `now`, the policy, calendar and org chart of this configuration)."""
    return SweepMemo(now=now, policy=config.escalation.policy(), calendar=calendar, org=config.org,
                     case_link_base=config.policy.case_link_base)


def read_state(session: Session, key: str) -> str | None:
    return session.execute(select(STATE.c.value).where(STATE.c.key == key)).scalar_one_or_none()


def write_state(session: Session, key: str, value: str) -> None:
    if insert_ignoring_conflicts(session, STATE, [{"key": key, "value": value}], key="key") == 0:
        session.execute(STATE.update().where(STATE.c.key == key).values(value=value))
