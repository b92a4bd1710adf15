"""The supervisors' side of escalation: acknowledging a fired level, a case's escalations, the
forecast of what will escalate and breach, and the list of paused cases."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.calendar import WorkingCalendar
from domain.deadlines import local_date
from domain.escalation import due_levels
from domain.field_names import refusal
from models.audit_chain import AuditDraft, append
from models.case_results import AcknowledgeEscalationResult
from models.escalation_loads import (
    CLOCK,
    COMPLAINT,
    ESC,
    ESCALATING,
    SCHED,
    case_clock,
    fired_levels,
    load_cases,
    open_pauses,
    pause_state,
)
from settings.config import Config


def acknowledge_escalation(session: Session, *, case_no: str, level: int, by: str,
                           now: datetime) -> AcknowledgeEscalationResult:
    """Record that a supervisor has seen a fired level; ValueError naming the field otherwise."""
    row = session.execute(select(ESC).where(ESC.c.case_no == case_no, ESC.c.level == level)).first()
    if row is None:
        raise ValueError(refusal("level", f"案件 {case_no!r} 没有第 {level} 级督办"))
    recipients = [r["person"] for r in row.recipients]
    if by not in recipients:
        raise ValueError(refusal("by", f"{by!r} 不是案件 {case_no} 第 {level} 级督办的接收人"
                                     f"（接收人：{'、'.join(recipients)}）"))
    if row.acknowledged_at is not None:
        return AcknowledgeEscalationResult(case_no=case_no, level=level, acknowledged_at=row.acknowledged_at,
                                           acknowledged_by=row.acknowledged_by, already=True)
    session.execute(ESC.update().where(ESC.c.id == row.id).values(acknowledged_at=now, acknowledged_by=by))
    append(session, [AuditDraft(at=now, actor=by, action="escalation_acknowledged", complaint_id=row.complaint_id,
                                case_no=case_no, after={"level": level})])
    return AcknowledgeEscalationResult(case_no=case_no, level=level, acknowledged_at=now, acknowledged_by=by,
                                       already=False)


class CaseEscalation(TypedDict):
    """A level fired on a case (the case detail's `escalations`, in this order)."""

    level: int
    name: str
    reason: str
    due_at: datetime
    fired_at: datetime
    recipients: list[dict[str, Any]]  # the stored JSON: each recipient's person, role, …
    acknowledged_at: datetime | None
    acknowledged_by: str | None


def escalations_of(session: Session, complaint_id: int) -> list[CaseEscalation]:
    """The levels fired on the case, lowest first."""
    stmt = (select(ESC.c.level, ESC.c.name, ESC.c.reason, ESC.c.due_at, ESC.c.fired_at, ESC.c.recipients,
                   ESC.c.acknowledged_at, ESC.c.acknowledged_by)
            .where(ESC.c.complaint_id == complaint_id).order_by(ESC.c.level))
    return [{"level": r.level, "name": r.name, "reason": r.reason, "due_at": r.due_at, "fired_at": r.fired_at,
             "recipients": r.recipients, "acknowledged_at": r.acknowledged_at, "acknowledged_by": r.acknowledged_by}
            for r in session.execute(stmt)]


def forecast(session: Session, *, config: Config, calendar: WorkingCalendar, now: datetime,
             horizon: datetime) -> dict[str, Any]:
    """What will escalate (per level) and breach its deadline between now and `horizon`."""
    ids = [int(c) for (c,) in session.execute(select(SCHED.c.complaint_id).where(SCHED.c.next_at <= horizon))]
    cases = load_cases(session, ids)
    fired = fired_levels(session, ids)
    paused = open_pauses(session, ids)
    policy = config.escalation.policy()
    levels: dict[str, list[dict[str, Any]]] = {}
    for cid, row in sorted(cases.items()):
        clock = case_clock(row, paused=cid in paused)
        for d in due_levels(clock, fired=fired.get(cid, set()), now=horizon, policy=policy, calendar=calendar):
            levels.setdefault(f"L{d.level}", []).append(
                {"case_no": row.case_no, "at": d.due_at, "reason": d.reason, "already_due": d.due_at <= now})
    breach_stmt = (select(COMPLAINT.c.case_no, COMPLAINT.c.regulatory_due_at, COMPLAINT.c.department,
                          COMPLAINT.c.handler)
                   .where(COMPLAINT.c.status.in_(ESCALATING), COMPLAINT.c.regulatory_due_at > now,
                          COMPLAINT.c.regulatory_due_at <= horizon)
                   .order_by(COMPLAINT.c.regulatory_due_at))
    breaching = [dict(r._mapping) for r in session.execute(breach_stmt)]
    return {"now": now, "until": horizon, "escalations": dict(sorted(levels.items())), "breaching": breaching,
            "paused": list_paused(session, now=now)}


def list_paused(session: Session, *, now: datetime) -> list[dict[str, Any]]:
    """Open cases whose clock is paused with no resume yet (the supervisor's list)."""
    ids = [int(c) for (c,) in session.execute(
        select(CLOCK.c.complaint_id).where(CLOCK.c.kind == "pause").distinct())]
    pauses = pause_state(session, ids)
    if not pauses:
        return []
    rows = session.execute(select(COMPLAINT.c.id, COMPLAINT.c.case_no, COMPLAINT.c.status, COMPLAINT.c.handler,
                                  COMPLAINT.c.department).where(COMPLAINT.c.id.in_(sorted(pauses)))
                           .order_by(COMPLAINT.c.id)).all()
    return [{"case_no": r.case_no, "status": r.status, "department": r.department, "handler": r.handler,
             "paused_since": pauses[r.id][0], "paused_days_so_far": max(0, (local_date(now) - local_date(pauses[r.id][0])).days),
             "reason": pauses[r.id][1], "evidence": pauses[r.id][2]}
            for r in rows if r.status in ESCALATING]
