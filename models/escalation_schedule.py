"""The escalation schedule: when each open case is next due (`escalation_schedule`), kept by
`reschedule` on every change of a case and built for new complaints incrementally.

New complaints are scheduled page by page above a stored cursor (`schedule_page`, the primary key
index), a bounded number per sweep, each page its own transaction: a bulk import is scheduled over
several sweeps instead of in the first. The page and the bound are the policy's
(`EscalationPolicy.schedule_page`, `.schedule_per_sweep`: config/escalation.yaml `sweep.*`). Two cursors in `escalation_state`: `WALKED_KEY` (every id
up to it was looked at) and `CURSOR_KEY` (every id up to it is scheduled and older than the grace
period; ids between the two are looked at again by `recheck_young`, on PostgreSQL an id can become
visible after a higher one). Decisions: `domain.sweep.plan_schedule`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Boolean, String, and_, cast, delete, exists, select, type_coerce
from sqlalchemy.orm import Session

from domain.calendar import WorkingCalendar
from domain.sweep import ScheduleCase, ScheduleEntry, SweepMemo, plan_schedule
from models.escalation_loads import (
    COMPLAINT,
    ESCALATING,
    SCHED,
    fired_between,
    fired_levels,
    is_pg,
    load_cases,
    memo_for,
    open_pauses,
    paused_between,
    read_state,
    write_state,
)
from models.sqlutil import id_chunks, id_in, insert_ignoring_conflicts, upsert_rows
from settings.config import Config

CURSOR_KEY = "scheduled_through_id"  # every complaint id <= this is scheduled (past the grace period)
WALKED_KEY = "schedule_walked_through_id"  # every id <= this has been looked at once (may be > CURSOR_KEY)
SCHEDULE_SECONDS = 1.0  # and for at most about this long (at least one page a sweep)


def _schedule_rows(entries: Sequence[ScheduleEntry]) -> list[dict[str, Any]]:
    return [{"complaint_id": e.complaint_id, "next_at": e.next_at, "next_level": e.next_level} for e in entries]


def write_schedule(session: Session, keep: Sequence[ScheduleEntry], drop: Sequence[int]) -> None:
    """Set these cases' next escalation (overwriting) and remove the schedule of `drop`."""
    upsert_rows(session, SCHED, _schedule_rows(keep), key=("complaint_id",), update=("next_at", "next_level"))
    for chunk in id_chunks(session, drop):
        session.execute(delete(SCHED).where(id_in(session, SCHED.c.complaint_id, chunk)))


def reschedule(session: Session, ids: Sequence[int], *, config: Config, calendar: WorkingCalendar) -> None:
    """Recompute the next escalation time of these cases (after a change of deadline or status)."""
    ids = sorted(set(ids))
    cases = load_cases(session, ids)
    memo = memo_for(config, calendar, datetime.now(UTC))  # scheduling does not read `now`
    keep, drop = plan_schedule((_schedule_case(r) for r in cases.values()), fired=fired_levels(session, ids),
                               paused=open_pauses(session, ids), memo=memo)
    write_schedule(session, keep, drop)


def _schedule_case(row: Any) -> ScheduleCase:
    return ScheduleCase(row.id, row.status, row.severity, row.severity_requested, row.group_size,
                        tuple(row.tags or ()), row.source, bool(row.vulnerable), row.clock_started_at,
                        row.regulatory_due_at, row.ack_due_at, row.acknowledged_at is not None)


class ScheduleCursor(NamedTuple):
    scheduled: int  # every id <= this is scheduled and older than the grace period
    walked: int  # every id <= this has been looked at once


def schedule_cursor(session: Session) -> ScheduleCursor:
    scheduled = int(read_state(session, CURSOR_KEY) or 0)
    walked = int(read_state(session, WALKED_KEY) or 0)
    return ScheduleCursor(scheduled, max(scheduled, walked))


def _save_cursor(session: Session, before: ScheduleCursor, after: ScheduleCursor) -> None:
    if after.scheduled != before.scheduled:
        write_state(session, CURSOR_KEY, str(after.scheduled))
    if after.walked != before.walked:
        write_state(session, WALKED_KEY, str(after.walked))


class _TimeText:
    """Times read as text and parsed once per distinct value (a page's cases share a few
    deadlines): SQLite keeps naive UTC text, PostgreSQL's text has its offset. Per value,
    SQLAlchemy's UTC conversion and the driver's loader cost more than the policy."""

    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}

    @staticmethod
    def column(col: Any) -> Any:
        return cast(col, String).label(col.key)

    def __call__(self, value: str) -> datetime:
        hit = self._seen.get(value)
        if hit is None:
            at = datetime.fromisoformat(value)
            hit = self._seen[value] = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        return hit


def _schedule_select(session: Session, now: datetime,
                     grace_minutes: int) -> tuple[Any, Callable[[Sequence[Any]], list[ScheduleCase]]]:
    """What scheduling reads of a case (tags and times as text, parsed once per distinct value),
    and whether it is still inside the grace period (`young`, last); and a reader of such rows
    that keeps the escalating cases."""
    times = _TimeText()
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
    keep, _ = plan_schedule(cases, fired=fired_between(session, lo, hi), paused=paused_between(session, lo, hi),
                            memo=memo)
    rows_out = _schedule_rows(keep)
    if is_pg(session):  # one INSERT … SELECT FROM json_to_recordset … DO NOTHING (COPY needs 4 statements)
        upsert_rows(session, SCHED, rows_out, key=("complaint_id",), update=())
    else:
        insert_ignoring_conflicts(session, SCHED, rows_out, key="complaint_id")


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
    # In id order, stopping at the first match: the window starts at the first id that was young.
    first_young = session.execute(select(COMPLAINT.c.id).where(window, COMPLAINT.c.created_at > cut)
                                  .order_by(COMPLAINT.c.id).limit(1)).scalar()
    if first_young is None:
        scheduled = hi
    else:
        below = session.execute(select(COMPLAINT.c.id).where(window, COMPLAINT.c.id < first_young)
                                .order_by(COMPLAINT.c.id.desc()).limit(1)).scalar()
        scheduled = int(below) if below is not None else lo
    _save_cursor(session, cursor, ScheduleCursor(scheduled, hi))
    return len(rows)


def schedule_page(session: Session, *, config: Config, memo: SweepMemo, now: datetime,
                  page: int | None = None) -> int:
    """Schedule the next `page` complaints (default: the policy's `schedule_page`) above the walked
    cursor, in the caller's transaction; returns how many were looked at (fewer than `page`: none
    are left).

    Complaints created within the grace period are left above the scheduled cursor and looked at
    again by `recheck_young` until they are old enough.
    """
    if page is None:
        page = config.escalation.policy().schedule_page
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
                 page: int | None = None, limit: int | None = None) -> int:
    """Schedule complaints added since the last sweep, in the caller's transaction (every one,
    or about `limit`), `page` at a time (default: the policy's); returns how many were looked at.
    The sweep calls `recheck_young` and `schedule_page` itself, one transaction per page."""
    if page is None:
        page = config.escalation.policy().schedule_page
    memo = memo_for(config, calendar, now)
    seen = recheck_young(session, config=config, memo=memo, now=now)
    while limit is None or seen < limit:
        n = schedule_page(session, config=config, memo=memo, now=now, page=page)
        seen += n
        if n < page:
            break
    return seen
