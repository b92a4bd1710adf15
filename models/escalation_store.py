"""The escalation sweep's and the daily digest's load and write, nothing else: `load_sweep` and
`load_digest` read what `domain.sweep` decides from (`plan_sweep`, `plan_digests`), and
`apply_sweep` and `queue_digests` write the plans — escalation rows, audit events, outbox
messages, the cases' schedule. Nothing here chooses a level, a recipient or a word of a message;
the three steps (load → plan → apply) are put together by services/escalation.py.

The sweep reads `escalation_schedule WHERE next_at <= now` (indexed), so its cost follows the
cases that are due, not the size of the complaint table (the schedule: models/escalation_schedule.py).

Also re-exported here for their callers: the schedule (`reschedule`, the cursors), the loads
(`pause_state`, …) and the supervisors' side (models/escalation_queries.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from domain.deadlines import local_text
from domain.intents import AuditIntent, MessageIntent
from domain.messages import Escalated, EscalationDigest
from domain.sweep import (
    FiredEscalation,
    OpenEscalation,
    SweepCase,
    SweepPlan,
    overdue_page,
    start_of,
)
from models.audit_chain import AuditDraft, append
from models.escalation_loads import (
    COMPLAINT,
    ESC,
    ESCALATING,
    SCHED,
    STATE,
    case_clock,
    fired_levels,
    load_cases,
    memo_for,
    open_pauses,
    pause_state,
)
from models.escalation_queries import acknowledge_escalation, escalations_of, forecast, list_paused
from models.escalation_schedule import (
    CURSOR_KEY,
    WALKED_KEY,
    recheck_young,
    reschedule,
    schedule_new,
    schedule_page,
    write_schedule,
)
from models.outbox_writer import OutboxItem, enqueue
from models.participants import add_escalation
from models.sqlutil import id_chunks, id_in, insert_ignoring_conflicts, insert_json_rows_returning
from settings.config import Config

__all__ = [
    "CURSOR_KEY", "WALKED_KEY", "DigestLoad", "FiredEscalation", "SweepLoad", "acknowledge_escalation",
    "apply_sweep", "case_clock", "claim_digest_day", "claim_due", "escalations_of", "fired_levels", "forecast",
    "list_paused", "load_cases", "load_digest", "load_open_escalations", "load_sweep", "load_sweep_cases",
    "local_text", "memo_for", "open_pauses", "overdue_page", "pause_state", "queue_digests", "recheck_young",
    "reschedule", "schedule_new", "schedule_page",
]

def claim_due(session: Session, now: datetime, limit: int) -> list[int]:
    """Cases whose next escalation is due, locked for this transaction (others skip them on PostgreSQL)."""
    stmt = select(SCHED.c.complaint_id).where(SCHED.c.next_at <= now).order_by(SCHED.c.next_at).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return [int(cid) for cid in session.execute(stmt).scalars().all()]


# What the sweep reads of a case: the tags as their JSON text (parsed once per distinct value by
# orjson, not per row by the driver's json.loads), "acknowledged" as a boolean.


_FIRE_COLS = [
    COMPLAINT.c.id, COMPLAINT.c.case_no, COMPLAINT.c.status, COMPLAINT.c.branch, COMPLAINT.c.department_branch,
    COMPLAINT.c.department, COMPLAINT.c.handler, COMPLAINT.c.severity, COMPLAINT.c.severity_requested,
    COMPLAINT.c.group_size, cast(COMPLAINT.c.tags, String).label("tags"), COMPLAINT.c.source,
    COMPLAINT.c.vulnerable, COMPLAINT.c.category, COMPLAINT.c.complainant_name, COMPLAINT.c.clock_started_at,
    COMPLAINT.c.regulatory_due_at, COMPLAINT.c.ack_due_at, COMPLAINT.c.acknowledged_at.is_not(None).label("acked"),
    COMPLAINT.c.vulnerable_note, COMPLAINT.c.outlet,
]


def load_sweep_cases(session: Session, ids: Sequence[int]) -> list[SweepCase]:
    """The cases among `ids` (in id order) as the sweep's planner reads them."""
    tags_of: dict[str | None, tuple[str, ...]] = {}
    cases: list[SweepCase] = []
    for chunk in id_chunks(session, sorted(ids)):
        for (cid, case_no, status, branch, dept_branch, dept, handler, severity, severity_requested, group_size,
             tags_json, source, vulnerable, category, name, started, reg_due, ack_due, acked, note,
             outlet) in session.execute(select(*_FIRE_COLS).where(id_in(session, COMPLAINT.c.id, chunk))
                                        .order_by(COMPLAINT.c.id)).all():
            tags = tags_of.get(tags_json)
            if tags is None:
                tags = tags_of[tags_json] = tuple(orjson.loads(tags_json) or ()) if tags_json else ()
            cases.append(SweepCase(cid, case_no, status, branch, dept_branch, dept, handler, severity,
                                   severity_requested, group_size, tags, source, bool(vulnerable), category, name,
                                   started, reg_due, ack_due, bool(acked), note, outlet))
    return cases


class SweepLoad(NamedTuple):
    """What `plan_sweep` decides a batch from: its cases, their fired levels, the paused ones."""

    cases: list[SweepCase]
    fired: Mapping[int, Collection[int]]
    paused: Collection[int]


def load_sweep(session: Session, ids: Sequence[int]) -> SweepLoad:
    """The batch `ids` (claimed by `claim_due`) as the planner reads it: the cases still there (in
    id order), the levels already fired and the open pauses of those."""
    cases = load_sweep_cases(session, ids)
    found = [c.id for c in cases]
    return SweepLoad(cases, fired_levels(session, found), open_pauses(session, found).keys())


_ESCALATION_COLUMNS = ("complaint_id", "case_no", "level", "name", "due_at", "fired_at", "reason", "recipients")


def _audit_draft(a: AuditIntent) -> AuditDraft:
    return AuditDraft(at=a.at, actor=a.actor, action=a.action, complaint_id=a.complaint_id, case_no=a.case_no,
                      after=a.after, detail=a.detail)


def _outbox(messages: Iterable[MessageIntent[Any]]) -> list[OutboxItem]:
    return [OutboxItem(m.kind, m.recipient, m.key, m.context, m.complaint_id, m.case_no) for m in messages]


def apply_sweep(session: Session, plan: SweepPlan, *, config: Config, now: datetime) -> list[FiredEscalation]:
    """Write a batch's plan in the caller's transaction: insert its escalation rows ON CONFLICT
    DO NOTHING, and for the (case, level) pairs this call created only, the audit events and
    messages; then the cases' schedule. Returns the fired levels, for the events."""
    stored: dict[int, list[dict[str, Any]]] = {}  # recipients tuples are shared per (chain, level)
    rows: list[dict[str, Any]] = []
    for f in plan.firings.values():
        r = f.row
        recipients = stored.get(id(r.recipients))
        if recipients is None:
            recipients = stored[id(r.recipients)] = [x._asdict() for x in r.recipients]
        rows.append({"complaint_id": r.complaint_id, "case_no": r.case_no, "level": r.level, "name": r.name,
                     "due_at": r.due_at, "fired_at": r.fired_at, "reason": r.reason, "recipients": recipients})
    created = insert_json_rows_returning(session, ESC, rows, conflict=("complaint_id", "level"),
                                         returning=("complaint_id", "level")) if rows else set()
    audits: list[AuditDraft] = []
    messages: list[MessageIntent[Escalated]] = []
    out: list[FiredEscalation] = []
    fired = [plan.firings[(int(c), int(lv))] for c, lv in sorted(created)]
    add_escalation(session, [(f.row.complaint_id, r.person, f.row.level, r.seat) for f in fired
                             for r in f.row.recipients])
    for f in fired:
        audits.append(_audit_draft(f.audit))
        messages.extend(f.messages)
        out.append(f.event)
    write_schedule(session, plan.schedule, plan.unschedule)
    enqueue(session, _outbox(messages), org=config.org, now=now)
    append(session, audits)  # last: the audit head stays locked until commit (concurrent sweeps queue here)
    return out


def load_open_escalations(session: Session, before: datetime) -> list[OpenEscalation]:
    """Fired before `before`, not acknowledged, on cases still open: by case number and level."""
    stmt = (
        select(ESC.c.complaint_id, ESC.c.case_no, ESC.c.level, ESC.c.name, ESC.c.fired_at, ESC.c.recipients,
               COMPLAINT.c.regulatory_due_at)
        .join(COMPLAINT, COMPLAINT.c.id == ESC.c.complaint_id)
        .where(ESC.c.acknowledged_at.is_(None), ESC.c.fired_at < before, COMPLAINT.c.status.in_(ESCALATING))
        .order_by(ESC.c.case_no, ESC.c.level)
    )
    return [OpenEscalation(int(r.complaint_id), r.case_no, int(r.level), r.name, r.fired_at,
                           tuple(x["person"] for x in r.recipients), r.regulatory_due_at)
            for r in session.execute(stmt).all()]


def claim_digest_day(session: Session, day: date, *, now: datetime) -> bool:
    """Claim `day`'s digests for this transaction (insert-or-nothing in `escalation_state`): False
    when a sweep already queued them."""
    return insert_ignoring_conflicts(session, STATE, [{"key": f"digest:{day.isoformat()}", "value": now.isoformat()}],
                                     key="key") > 0


class DigestLoad(NamedTuple):
    """What `plan_digests` decides a day's digests from."""

    found: list[OpenEscalation]  # fired before the day began, unacknowledged, on open cases
    pauses: dict[int, datetime]  # the open pauses of their cases (since when)


def load_digest(session: Session, day: date) -> DigestLoad:
    found = load_open_escalations(session, start_of(day))
    return DigestLoad(found, open_pauses(session, sorted({r.complaint_id for r in found})))


def queue_digests(session: Session, digests: Sequence[MessageIntent[EscalationDigest]], *, config: Config,
                  now: datetime) -> int:
    """Queue the planned digests in the caller's transaction; returns how many."""
    items = _outbox(digests)
    enqueue(session, items, org=config.org, now=now)
    return len(items)
