"""Load what the escalation sweep needs and write what `domain.sweep` decides: rows, audit, outbox.

Load → decide (pure, `domain.sweep.plan_sweep` / `plan_schedule` / `plan_digests`) → write:
nothing here chooses a level, a recipient or a word of a message.

The sweep reads `escalation_schedule WHERE next_at <= now` (indexed), so its cost follows the
cases that are due, not the size of the complaint table. Every change of a case's deadlines
or status calls `reschedule` for it; new complaints are scheduled page by page above a stored
cursor (`schedule_page`, the primary key index), a bounded number of pages per sweep, each page
its own transaction: a bulk import is scheduled over several sweeps instead of in the first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Boolean, String, and_, cast, delete, exists, func, select, type_coerce
from sqlalchemy.orm import Session

from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.deadlines import local_date, local_text
from domain.escalation import ESCALATING_STATUSES, CaseClock, due_levels, is_urgent
from domain.field_names import refusal
from domain.intents import AuditIntent, MessageIntent
from domain.lifecycle import Status
from domain.sweep import (
    FiredEscalation,
    OpenEscalation,
    ScheduleCase,
    ScheduleEntry,
    SweepCase,
    SweepMemo,
    SweepPlan,
    digest_day,
    overdue_page,
    plan_digests,
    plan_schedule,
    plan_sweep,
    start_of,
)
from models.audit_chain import AuditDraft, append
from models.complaint import ClockEventRow, Complaint
from models.escalation import Escalation, EscalationSchedule, EscalationState
from models.participants import add_escalation
from models.sqlutil import (
    id_chunks,
    id_in,
    insert_ignoring_conflicts,
    insert_json_rows_returning,
    table_of,
    upsert_rows,
)
from notifications.contracts import Escalated
from notifications.outbox import OutboxItem, enqueue

# Re-exported for their callers: the fired level as events carry it, the overdue page's link, and
# the time as messages show it (case actions).
__all__ = ["CURSOR_KEY", "WALKED_KEY", "FiredEscalation", "local_text", "overdue_page"]

COMPLAINT = table_of(Complaint)
CLOCK = table_of(ClockEventRow)
ESC = table_of(Escalation)
SCHED = table_of(EscalationSchedule)
STATE = table_of(EscalationState)
CURSOR_KEY = "scheduled_through_id"  # every complaint id <= this is scheduled (past the grace period)
WALKED_KEY = "schedule_walked_through_id"  # every id <= this has been looked at once (may be > CURSOR_KEY)
ESCALATING = [s.value for s in ESCALATING_STATUSES]
SCHEDULE_PAGE = 5000  # complaints per schedule page (one transaction)
SCHEDULE_PER_SWEEP = 100_000  # at most this many new complaints scheduled per sweep (20 pages)
_CASE_COLS = [
    COMPLAINT.c.id, COMPLAINT.c.case_no, COMPLAINT.c.status, COMPLAINT.c.branch, COMPLAINT.c.department_branch,
    COMPLAINT.c.department, COMPLAINT.c.handler, COMPLAINT.c.severity, COMPLAINT.c.severity_requested,
    COMPLAINT.c.group_size, COMPLAINT.c.tags, COMPLAINT.c.source, COMPLAINT.c.vulnerable, COMPLAINT.c.category,
    COMPLAINT.c.complainant_name, COMPLAINT.c.clock_started_at, COMPLAINT.c.regulatory_due_at,
    COMPLAINT.c.ack_due_at, COMPLAINT.c.acknowledged_at, COMPLAINT.c.created_at,
]


def _is_pg(session: Session) -> bool:
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


def _fired_between(session: Session, lo: int, hi: int) -> dict[int, set[int]]:
    """Fired levels of the cases with lo < id <= hi (one index range: new cases have few)."""
    out: dict[int, set[int]] = {}
    for cid, level in session.execute(select(ESC.c.complaint_id, ESC.c.level)
                                      .where(ESC.c.complaint_id > lo, ESC.c.complaint_id <= hi)).all():
        out.setdefault(cid, set()).add(level)
    return out


def _paused_between(session: Session, lo: int, hi: int) -> set[int]:
    stmt = (select(*_PAUSE_COLS).where(CLOCK.c.complaint_id > lo, CLOCK.c.complaint_id <= hi)
            .order_by(*_PAUSE_ORDER))
    return set(_pause_rows(session.execute(stmt).all()))


def _schedule_rows(entries: Sequence[ScheduleEntry]) -> list[dict[str, Any]]:
    return [{"complaint_id": e.complaint_id, "next_at": e.next_at, "next_level": e.next_level} for e in entries]


def _write_schedule(session: Session, keep: Sequence[ScheduleEntry], drop: Sequence[int]) -> None:
    """Set these cases' next escalation (overwriting) and remove the schedule of `drop`."""
    upsert_rows(session, SCHED, _schedule_rows(keep), key=("complaint_id",), update=("next_at", "next_level"))
    for chunk in id_chunks(session, drop):
        session.execute(delete(SCHED).where(id_in(session, SCHED.c.complaint_id, chunk)))


def memo_for(config: Config, calendar: WorkingCalendar, now: datetime) -> SweepMemo:
    """One run's memo (one `now`, the policy, calendar and org chart of this configuration)."""
    return SweepMemo(now=now, policy=config.escalation.policy(), calendar=calendar, org=config.org,
                     case_link_base=config.policy.case_link_base)


def reschedule(session: Session, ids: Sequence[int], *, config: Config, calendar: WorkingCalendar) -> None:
    """Recompute the next escalation time of these cases (after a change of deadline or status)."""
    ids = sorted(set(ids))
    cases = load_cases(session, ids)
    memo = memo_for(config, calendar, datetime.now(UTC))  # scheduling does not read `now`
    keep, drop = plan_schedule((_schedule_case(r) for r in cases.values()), fired=fired_levels(session, ids),
                               paused=open_pauses(session, ids), memo=memo)
    _write_schedule(session, keep, drop)


def _schedule_case(row: Any) -> ScheduleCase:
    return ScheduleCase(row.id, row.status, row.severity, row.severity_requested, row.group_size,
                        tuple(row.tags or ()), row.source, bool(row.vulnerable), row.clock_started_at,
                        row.regulatory_due_at, row.ack_due_at, row.acknowledged_at is not None)


def _state(session: Session, key: str) -> str | None:
    return session.execute(select(STATE.c.value).where(STATE.c.key == key)).scalar_one_or_none()


def _set_state(session: Session, key: str, value: str) -> None:
    if insert_ignoring_conflicts(session, STATE, [{"key": key, "value": value}], key="key") == 0:
        session.execute(STATE.update().where(STATE.c.key == key).values(value=value))


class ScheduleCursor(NamedTuple):
    scheduled: int  # every id <= this is scheduled and older than the grace period
    walked: int  # every id <= this has been looked at once


def schedule_cursor(session: Session) -> ScheduleCursor:
    scheduled = int(_state(session, CURSOR_KEY) or 0)
    walked = int(_state(session, WALKED_KEY) or 0)
    return ScheduleCursor(scheduled, max(scheduled, walked))


def _save_cursor(session: Session, before: ScheduleCursor, after: ScheduleCursor) -> None:
    if after.scheduled != before.scheduled:
        _set_state(session, CURSOR_KEY, str(after.scheduled))
    if after.walked != before.walked:
        _set_state(session, WALKED_KEY, str(after.walked))


class _TimeText:
    """SQLite keeps times as naive UTC text: read them as text and parse each distinct one once
    (a page's cases share a few deadlines); PostgreSQL's driver returns them parsed."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres
        self._seen: dict[str, datetime] = {}

    def column(self, col: Any) -> Any:
        return col if self.postgres else type_coerce(col, String).label(col.key)

    def __call__(self, value: Any) -> datetime:
        if self.postgres:
            return value  # type: ignore[no-any-return]
        hit = self._seen.get(value)
        if hit is None:
            hit = self._seen[value] = datetime.fromisoformat(value).replace(tzinfo=UTC)
        return hit


def _schedule_select(session: Session, now: datetime,
                     grace_minutes: int) -> tuple[Any, Callable[[Sequence[Any]], list[ScheduleCase]]]:
    """What scheduling reads of a case (tags and times as text, parsed once per distinct value),
    and whether it is still inside the grace period (`young`, last); and a reader of such rows
    that keeps the escalating cases."""
    times = _TimeText(_is_pg(session))
    tags_of: dict[Any, tuple[str, ...]] = {}
    cut = now - timedelta(minutes=grace_minutes)
    stmt = select(
        COMPLAINT.c.id, COMPLAINT.c.status, COMPLAINT.c.severity, COMPLAINT.c.severity_requested,
        COMPLAINT.c.group_size, cast(COMPLAINT.c.tags, String).label("tags"), COMPLAINT.c.source,
        COMPLAINT.c.vulnerable, times.column(COMPLAINT.c.clock_started_at),
        times.column(COMPLAINT.c.regulatory_due_at), times.column(COMPLAINT.c.ack_due_at),
        COMPLAINT.c.acknowledged_at.is_not(None).label("acked"),
        type_coerce(COMPLAINT.c.created_at > cut, Boolean).label("young"),
    )
    escalating = frozenset(ESCALATING)

    def cases_of(rows: Sequence[Any]) -> list[ScheduleCase]:
        out: list[ScheduleCase] = []
        for (cid, status, severity, requested, group_size, tags_json, source, vulnerable, started, due, ack_due,
             acked, _young) in rows:
            if status not in escalating:
                continue
            tags = tags_of.get(tags_json)
            if tags is None:
                tags = tags_of[tags_json] = tuple(orjson.loads(tags_json) or ()) if tags_json else ()
            out.append(ScheduleCase(cid, status, severity, requested, group_size, tags, source, bool(vulnerable),
                                    times(started), times(due), times(ack_due), bool(acked)))
        return out

    return stmt, cases_of


def _schedule_rows_of(session: Session, rows: Sequence[Any], cases_of: Callable[[Sequence[Any]], list[ScheduleCase]],
                      lo: int, hi: int, memo: SweepMemo) -> None:
    """Plan and store the schedule of `rows` (ids in lo < id <= hi), leaving existing rows alone."""
    cases = cases_of(rows)
    if not cases:
        return
    keep, _ = plan_schedule(cases, fired=_fired_between(session, lo, hi), paused=_paused_between(session, lo, hi),
                            memo=memo)
    insert_ignoring_conflicts(session, SCHED, _schedule_rows(keep), key="complaint_id")


def recheck_young(session: Session, *, config: Config, memo: SweepMemo, now: datetime) -> int:
    """Once per sweep: the complaints looked at while inside the grace period (scheduled < id <=
    walked) that have no schedule yet — on PostgreSQL an id can become visible after a higher
    one (a longer transaction) — are scheduled; the cursor moves past those now old enough.
    Returns how many were looked at."""
    cursor = schedule_cursor(session)
    if cursor.walked <= cursor.scheduled:
        return 0
    lo, hi = cursor
    grace = config.escalation.sweep.new_case_grace_minutes
    stmt, cases_of = _schedule_select(session, now, grace)
    missing = ~exists().where(SCHED.c.complaint_id == COMPLAINT.c.id)
    rows = session.execute(stmt.where(COMPLAINT.c.id > lo, COMPLAINT.c.id <= hi, COMPLAINT.c.status.in_(ESCALATING),
                                      missing).order_by(COMPLAINT.c.id)).all()
    _schedule_rows_of(session, rows, cases_of, lo, hi, memo)
    cut = now - timedelta(minutes=grace)
    window = and_(COMPLAINT.c.id > lo, COMPLAINT.c.id <= hi)
    first_young = session.execute(select(func.min(COMPLAINT.c.id)).where(window, COMPLAINT.c.created_at > cut)).scalar()
    if first_young is None:
        scheduled = hi
    else:
        below = session.execute(select(func.max(COMPLAINT.c.id)).where(window, COMPLAINT.c.id < first_young)).scalar()
        scheduled = int(below) if below is not None else lo
    _save_cursor(session, cursor, ScheduleCursor(scheduled, hi))
    return len(rows)


def schedule_page(session: Session, *, config: Config, memo: SweepMemo, now: datetime,
                  page: int = SCHEDULE_PAGE) -> int:
    """Schedule the next `page` complaints above the walked cursor, in the caller's transaction;
    returns how many were looked at (fewer than `page`: none are left).

    Complaints created within the grace period are left above the scheduled cursor and looked at
    again by `recheck_young` until they are old enough.
    """
    cursor = schedule_cursor(session)
    stmt, cases_of = _schedule_select(session, now, config.escalation.sweep.new_case_grace_minutes)
    rows = session.execute(stmt.where(COMPLAINT.c.id > cursor.walked).order_by(COMPLAINT.c.id).limit(page)).all()
    if not rows:
        return 0
    hi = int(rows[-1][0])
    _schedule_rows_of(session, rows, cases_of, cursor.walked, hi, memo)
    scheduled = cursor.scheduled
    if scheduled == cursor.walked:  # nothing young below this page: the cursor may move with it
        for r in rows:
            if r[-1]:  # young
                break
            scheduled = int(r[0])
    _save_cursor(session, cursor, ScheduleCursor(scheduled, hi))
    return len(rows)


def schedule_new(session: Session, *, config: Config, calendar: WorkingCalendar, now: datetime,
                 page: int = SCHEDULE_PAGE, limit: int | None = None) -> int:
    """Schedule complaints added since the last sweep, in the caller's transaction (every one,
    or about `limit`); returns how many were looked at. The sweep calls `recheck_young` and
    `schedule_page` itself, one transaction per page."""
    memo = memo_for(config, calendar, now)
    seen = recheck_young(session, config=config, memo=memo, now=now)
    while limit is None or seen < limit:
        n = schedule_page(session, config=config, memo=memo, now=now, page=page)
        seen += n
        if n < page:
            break
    return seen


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
    _write_schedule(session, plan.schedule, plan.unschedule)
    enqueue(session, _outbox(messages), org=config.org, now=now)
    append(session, audits)  # last: the audit head stays locked until commit (concurrent sweeps queue here)
    return out


def fire_due(session: Session, ids: Sequence[int], *, config: Config, calendar: WorkingCalendar,
             now: datetime, actor: str = "escalation", memo: SweepMemo | None = None) -> list[FiredEscalation]:
    """Fire every due level of these cases once, in the caller's transaction; reschedule them:
    load (here) → `domain.sweep.plan_sweep` → write (`apply_sweep`). `memo`: the run's."""
    cases = load_sweep_cases(session, ids)
    ids = [c.id for c in cases]
    plan = plan_sweep(cases, fired=fired_levels(session, ids), paused=open_pauses(session, ids).keys(),
                      memo=memo or memo_for(config, calendar, now), actor=actor)
    return apply_sweep(session, plan, config=config, now=now)


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


def send_digests(session: Session, *, config: Config, now: datetime, calendar: WorkingCalendar | None = None) -> int:
    """Once per local day (from the configured hour): one digest per supervisor of their
    still-unacknowledged escalations on cases still open; returns how many were queued."""
    day = digest_day(now, hour=config.escalation.digest.hour)
    if day is None:
        return 0
    if insert_ignoring_conflicts(session, STATE, [{"key": f"digest:{day.isoformat()}", "value": now.isoformat()}],
                                 key="key") == 0:
        return 0  # today's digests were already queued
    found = load_open_escalations(session, start_of(day))
    pauses = open_pauses(session, sorted({r.complaint_id for r in found}))
    memo = memo_for(config, calendar or WorkingCalendar(overrides=config.calendar_overrides), now)
    items = _outbox(plan_digests(found, pauses=pauses, day=day, memo=memo))
    enqueue(session, items, org=config.org, now=now)
    return len(items)


def acknowledge_escalation(session: Session, *, case_no: str, level: int, by: str, now: datetime) -> dict[str, Any]:
    """Record that a supervisor has seen a fired level; ValueError naming the field otherwise."""
    row = session.execute(select(ESC).where(ESC.c.case_no == case_no, ESC.c.level == level)).first()
    if row is None:
        raise ValueError(refusal("level", f"案件 {case_no!r} 没有第 {level} 级督办"))
    recipients = [r["person"] for r in row.recipients]
    if by not in recipients:
        raise ValueError(refusal("by", f"{by!r} 不是案件 {case_no} 第 {level} 级督办的接收人"
                                     f"（接收人：{'、'.join(recipients)}）"))
    if row.acknowledged_at is not None:
        return {"case_no": case_no, "level": level, "acknowledged_at": row.acknowledged_at,
                "acknowledged_by": row.acknowledged_by, "already": True}
    session.execute(ESC.update().where(ESC.c.id == row.id).values(acknowledged_at=now, acknowledged_by=by))
    append(session, [AuditDraft(at=now, actor=by, action="escalation_acknowledged", complaint_id=row.complaint_id,
                                case_no=case_no, after={"level": level})])
    return {"case_no": case_no, "level": level, "acknowledged_at": now, "acknowledged_by": by, "already": False}


def escalations_of(session: Session, complaint_id: int) -> list[dict[str, Any]]:
    stmt = (select(ESC.c.level, ESC.c.name, ESC.c.reason, ESC.c.due_at, ESC.c.fired_at, ESC.c.recipients,
                   ESC.c.acknowledged_at, ESC.c.acknowledged_by)
            .where(ESC.c.complaint_id == complaint_id).order_by(ESC.c.level))
    return [dict(r._mapping) for r in session.execute(stmt)]


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
