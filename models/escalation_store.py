"""Load what the escalation policy needs, and apply what it decides: rows, audit, outbox.

The sweep reads `escalation_schedule WHERE next_at <= now` (indexed), so its cost follows the
cases that are due, not the size of the complaint table. Every change of a case's deadlines
or status calls `reschedule` for it; new complaints are scheduled by `schedule_new`, which
walks complaint ids above a stored cursor (the primary key index).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Integer, String, any_, bindparam, cast, delete, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.deadlines import SHANGHAI, local_date
from domain.deadlines import local_text as domain_local_text
from domain.escalation import (
    ESCALATING_STATUSES,
    CaseClock,
    DueLevel,
    EscalationPolicy,
    SweepDecisions,
    case_chain,
    due_levels,
    is_urgent,
    lateness_days,
    next_escalation,
    resolve_recipients,
)
from domain.field_names import refusal
from domain.lifecycle import Status
from domain.masking import mask_free_text, mask_name
from domain.taxonomy import SEVERITY_NAMES, Dimension, Severity, name_of
from domain.wording import lateness_text, vulnerable_text
from models.audit_chain import AuditDraft, append
from models.complaint import ClockEventRow, Complaint
from models.escalation import Escalation, EscalationSchedule, EscalationState
from models.outbox import OutboxMessage
from models.participants import add_escalation
from models.sqlutil import insert_ignoring_conflicts, table_of
from notifications.contracts import NO_HANDLER, ChainEntry, DigestCase, Escalated, EscalationDigest
from notifications.outbox import OutboxItem, enqueue

COMPLAINT = table_of(Complaint)
CLOCK = table_of(ClockEventRow)
ESC = table_of(Escalation)
SCHED = table_of(EscalationSchedule)
STATE = table_of(EscalationState)
OUTBOX = table_of(OutboxMessage)
CURSOR_KEY = "scheduled_through_id"
ESCALATING = [s.value for s in ESCALATING_STATUSES]
_CASE_COLS = [
    COMPLAINT.c.id, COMPLAINT.c.case_no, COMPLAINT.c.status, COMPLAINT.c.branch, COMPLAINT.c.department_branch,
    COMPLAINT.c.department, COMPLAINT.c.handler, COMPLAINT.c.severity, COMPLAINT.c.severity_requested,
    COMPLAINT.c.group_size, COMPLAINT.c.tags, COMPLAINT.c.source, COMPLAINT.c.vulnerable, COMPLAINT.c.category,
    COMPLAINT.c.complainant_name, COMPLAINT.c.clock_started_at, COMPLAINT.c.regulatory_due_at,
    COMPLAINT.c.ack_due_at, COMPLAINT.c.acknowledged_at, COMPLAINT.c.created_at,
]
_CHUNK = 900  # ids per IN (…): under SQLite's parameter limit with room to spare


@dataclass(frozen=True)
class FiredEscalation:
    """What an event about a fired level carries (no personal data)."""

    case_no: str
    level: int
    name: str
    recipients: tuple[str, ...]
    late_days: int


@lru_cache(maxsize=4096)
def local_text(at: datetime) -> str:
    """Memoised: a sweep's cases share a few deadlines (23:59:59 local) and one `now`."""
    return domain_local_text(at)


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _chunks(ids: Sequence[int], session: Session | None = None) -> Iterable[Sequence[int]]:
    """Pieces of `ids` for `_id_in`: one piece on PostgreSQL (one array parameter, no limit)."""
    if session is not None and _is_pg(session):
        if ids:
            yield ids
        return
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def _id_in(session: Session, column: Any, ids: Sequence[int]) -> Any:
    """`column IN ids`: on PostgreSQL `= ANY(array)`, one parameter, so the statement text stays
    the same and small (psycopg re-parsed a 900-placeholder IN list on every call)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", list(ids), type_=ARRAY(Integer)))
    return column.in_(list(ids))


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
    for chunk in _chunks(ids, session):
        out.update((r.id, r) for r in session.execute(select(*_CASE_COLS).where(_id_in(session, COMPLAINT.c.id, chunk))).all())
    return out


def pause_state(session: Session, ids: Sequence[int]) -> dict[int, tuple[datetime, str, str | None]]:
    """The cases among `ids` whose clock is paused now: when, why, and the evidence reference."""
    state: dict[int, tuple[datetime, str, str | None] | None] = {}
    for chunk in _chunks(ids, session):
        stmt = (select(CLOCK.c.complaint_id, CLOCK.c.kind, CLOCK.c.at, CLOCK.c.reason, CLOCK.c.evidence_ref)
                .where(_id_in(session, CLOCK.c.complaint_id, chunk)).order_by(CLOCK.c.complaint_id, CLOCK.c.at, CLOCK.c.id))
        for cid, kind, at, reason, evidence in session.execute(stmt).all():
            if kind == "pause":
                state[cid] = (at, reason, evidence)
            elif kind == "resume":
                state[cid] = None
            # a restart keeps an open pause open (domain.deadlines)
    return {cid: v for cid, v in state.items() if v is not None}


def open_pauses(session: Session, ids: Sequence[int]) -> dict[int, datetime]:
    return {cid: v[0] for cid, v in pause_state(session, ids).items()}


def fired_levels(session: Session, ids: Sequence[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for chunk in _chunks(ids, session):
        for cid, level in session.execute(select(ESC.c.complaint_id, ESC.c.level)
                                          .where(_id_in(session, ESC.c.complaint_id, chunk))).all():
            out.setdefault(cid, set()).add(level)
    return out


_PG_UPSERT_SCHEDULE = """
    INSERT INTO escalation_schedule (complaint_id, next_at, next_level)
    SELECT complaint_id, next_at, next_level
    FROM json_to_recordset(CAST(:rows AS json)) AS r(complaint_id integer, next_at timestamptz, next_level integer)
    ON CONFLICT (complaint_id) DO """


def _rows_json(rows: Sequence[dict[str, Any]]) -> str:
    """A batch of rows as one JSON parameter for `json_to_recordset` (PostgreSQL): orjson writes
    it in C, where psycopg's text arrays quoted each string with a regex (a third of the sweep)."""
    return orjson.dumps(rows).decode()


def _upsert_schedule(session: Session, rows: list[dict[str, Any]], *, overwrite: bool) -> None:
    if not rows:
        return
    stmt: Any
    if _is_pg(session):
        action = ("UPDATE SET next_at = excluded.next_at, next_level = excluded.next_level" if overwrite
                  else "NOTHING")
        session.execute(text(_PG_UPSERT_SCHEDULE + action), {"rows": _rows_json(rows)})
        return
    stmt = sqlite_insert(SCHED)
    if overwrite:
        stmt = stmt.on_conflict_do_update(index_elements=["complaint_id"],
                                          set_={"next_at": stmt.excluded.next_at,
                                                "next_level": stmt.excluded.next_level})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=["complaint_id"])
    session.execute(stmt, rows)


def _plan_schedule(cases: dict[int, Any], fired: dict[int, set[int]], paused: dict[int, datetime], *,
                   policy: EscalationPolicy, calendar: WorkingCalendar) -> tuple[list[dict[str, Any]], list[int]]:
    keep: list[dict[str, Any]] = []
    drop: list[int] = []
    for cid, row in cases.items():
        nxt = next_escalation(case_clock(row, paused=cid in paused), fired=fired.get(cid, set()),
                              policy=policy, calendar=calendar)
        if nxt is None:
            drop.append(cid)
        else:
            keep.append({"complaint_id": cid, "next_at": nxt.due_at, "next_level": nxt.level})
    return keep, drop


def reschedule(session: Session, ids: Sequence[int], *, config: Config, calendar: WorkingCalendar) -> None:
    """Recompute the next escalation time of these cases (after a change of deadline or status)."""
    ids = sorted(set(ids))
    cases = load_cases(session, ids)
    keep, drop = _plan_schedule(cases, fired_levels(session, ids), open_pauses(session, ids),
                                policy=config.escalation.policy(), calendar=calendar)
    _upsert_schedule(session, keep, overwrite=True)
    for chunk in _chunks(drop, session):
        session.execute(delete(SCHED).where(_id_in(session, SCHED.c.complaint_id, chunk)))


def _state(session: Session, key: str) -> str | None:
    return session.execute(select(STATE.c.value).where(STATE.c.key == key)).scalar_one_or_none()


def _set_state(session: Session, key: str, value: str) -> None:
    if insert_ignoring_conflicts(session, STATE, [{"key": key, "value": value}], key="key") == 0:
        session.execute(STATE.update().where(STATE.c.key == key).values(value=value))


def schedule_new(session: Session, *, config: Config, calendar: WorkingCalendar, now: datetime,
                 page: int = 5000) -> int:
    """Schedule complaints added since the last sweep; returns how many were looked at.

    Complaints created within the grace period stay above the cursor and are looked at again
    next time: on PostgreSQL an id can become visible after a higher one (a longer transaction).
    """
    cursor = int(_state(session, CURSOR_KEY) or 0)
    grace = timedelta(minutes=config.escalation.sweep.new_case_grace_minutes)
    policy = config.escalation.policy()
    advance_to, blocked, seen = cursor, False, 0
    while True:
        rows = session.execute(select(*_CASE_COLS).where(COMPLAINT.c.id > cursor)
                               .order_by(COMPLAINT.c.id).limit(page)).all()
        if not rows:
            break
        seen += len(rows)
        cases = {r.id: r for r in rows if r.status in ESCALATING}
        ids = sorted(cases)
        keep, _ = _plan_schedule(cases, fired_levels(session, ids), open_pauses(session, ids),
                                 policy=policy, calendar=calendar)
        _upsert_schedule(session, keep, overwrite=False)
        for r in rows:
            if r.created_at > now - grace:
                blocked = True
            if not blocked:
                advance_to = r.id
        cursor = rows[-1].id
    if advance_to != int(_state(session, CURSOR_KEY) or 0):
        _set_state(session, CURSOR_KEY, str(advance_to))
    return seen


@lru_cache(maxsize=4096)
def _lateness_text(due_at: datetime, now: datetime, open_pause_since: datetime | None = None) -> str:
    """`domain.wording.lateness_text`, memoised (a sweep's cases share a few deadlines and one `now`)."""
    return lateness_text(due_at, now, open_pause_since=open_pause_since)


_PG_INSERT_ESCALATIONS = text("""
    INSERT INTO escalation (complaint_id, case_no, level, name, due_at, fired_at, reason, recipients)
    SELECT complaint_id, case_no, level, name, due_at, fired_at, reason, recipients
    FROM json_to_recordset(CAST(:rows AS json)) AS r(complaint_id integer, case_no varchar, level integer,
         name varchar, due_at timestamptz, fired_at timestamptz, reason varchar, recipients json)
    ON CONFLICT (complaint_id, level) DO NOTHING
    RETURNING complaint_id, level
""")

def _insert_returning(session: Session, rows: list[dict[str, Any]]) -> set[tuple[int, int]]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING: the (complaint, level) pairs this call created.

    PostgreSQL: one statement over one JSON parameter (`json_to_recordset`), whatever the number
    of rows; a multi-row VALUES list was re-parsed by the driver on every call, and text arrays
    (unnest) were quoted element by element in Python. SQLite: one executemany that SQLAlchemy
    batches into multi-row INSERTs from one cached compilation.
    """
    if _is_pg(session):
        return {(int(c), int(lv)) for c, lv in session.execute(_PG_INSERT_ESCALATIONS, {"rows": _rows_json(rows)}).all()}
    stmt = sqlite_insert(ESC).on_conflict_do_nothing(index_elements=["complaint_id", "level"]).returning(
        ESC.c.complaint_id, ESC.c.level)
    return {(int(c), int(lv)) for c, lv in session.execute(stmt, rows).all()}


def claim_due(session: Session, now: datetime, limit: int) -> list[int]:
    """Cases whose next escalation is due, locked for this transaction (others skip them on PostgreSQL)."""
    stmt = select(SCHED.c.complaint_id).where(SCHED.c.next_at <= now).order_by(SCHED.c.next_at).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return [int(cid) for cid in session.execute(stmt).scalars().all()]


# What `fire_due` reads of a case: the tags as their JSON text (parsed once per distinct value by
# orjson, not per row by the driver's json.loads), "acknowledged" as a boolean.
_FIRE_COLS = [
    COMPLAINT.c.id, COMPLAINT.c.case_no, COMPLAINT.c.status, COMPLAINT.c.branch, COMPLAINT.c.department_branch,
    COMPLAINT.c.department, COMPLAINT.c.handler, COMPLAINT.c.severity, COMPLAINT.c.severity_requested,
    COMPLAINT.c.group_size, cast(COMPLAINT.c.tags, String).label("tags"), COMPLAINT.c.source,
    COMPLAINT.c.vulnerable, COMPLAINT.c.category, COMPLAINT.c.complainant_name, COMPLAINT.c.clock_started_at,
    COMPLAINT.c.regulatory_due_at, COMPLAINT.c.ack_due_at, COMPLAINT.c.acknowledged_at.is_not(None).label("acked"),
    COMPLAINT.c.vulnerable_note, COMPLAINT.c.outlet,
]


def _load_fire_cases(session: Session, ids: Sequence[int]) -> dict[int, Any]:
    cases: dict[int, Any] = {}
    for chunk in _chunks(ids, session):
        cases.update((r.id, r) for r in session.execute(
            select(*_FIRE_COLS).where(_id_in(session, COMPLAINT.c.id, chunk))).all())
    return cases


@lru_cache(maxsize=1024)
def _urgent(severity: str, severity_requested: str | None, group_size: int, tags_json: str | None,
            source: str) -> bool:
    """`is_urgent` from the stored fields, memoised (a sweep's cases repeat a few combinations)."""
    tags = orjson.loads(tags_json) if tags_json else None
    return is_urgent(severity=severity, severity_requested=severity_requested, group_size=group_size,
                     tags=tags or (), source=source)


@lru_cache(maxsize=4096)
def _masked(name: str) -> str:
    return mask_name(name)


@lru_cache(maxsize=256)
def _category_text(code: str | None) -> str:
    return name_of(Dimension.CATEGORY, code) if code else "待分拣"


@lru_cache(maxsize=64)
def _severity_text(code: str) -> str:
    return SEVERITY_NAMES[Severity(code)]


@lru_cache(maxsize=4096)
def _iso(at: datetime) -> str:
    return at.isoformat()


@lru_cache(maxsize=4096)
def _late_days(due_at: datetime, now: datetime) -> int:
    return max(0, lateness_days(due_at, now))


@dataclass
class _Fired:
    """What the batch knows about one (case, level) it tries to fire, until the insert says."""

    cid: int
    case_no: str
    due: DueLevel
    name: str
    recipients: _Recipients
    context: Escalated  # one message contract per fired level, shared by its recipients
    late_days: int


@dataclass(frozen=True)
class _Where:
    """What the messages of a (branch, department, handler) say about where the case is."""

    chain: tuple[Any, ...]
    chain_view: tuple[ChainEntry, ...]
    department: str
    handler: str
    branch_name: str


def _where(org: Any, *, branch: str, department_branch: str | None, department: str | None,
           handler: str | None) -> _Where:
    chain = case_chain(org, branch=branch, department_branch=department_branch, department=department,
                       handler=handler)
    view = tuple(ChainEntry(m.title, org.people[m.person_id].name, bool(m.acting))
                 for m in chain if m.person_id in org.people)
    found = org.find_department(department_branch or branch, department) if department else None
    if found is not None:
        dept = found[1].name
    else:
        cp = org.cp_department(branch)
        dept = f"{cp[1].name}（待分拣）" if cp is not None else "待分拣"
    person = org.people.get(handler) if handler else None
    owner = org.branches.get(branch)
    return _Where(chain, view, dept, person.name if person is not None else NO_HANDLER,
                  owner.name if owner is not None else branch)


@lru_cache(maxsize=1024)
def _vulnerable(vulnerable: bool, note: str | None) -> str:
    return vulnerable_text(vulnerable, note)


@dataclass
class _Recipients:
    """One level's recipients for one chain, resolved once per batch (the org chart as of now)."""

    rows: list[dict[str, Any]]  # as stored in escalation.recipients
    view: list[dict[str, Any]]  # as shown in the message context
    people: tuple[str, ...]
    seats: tuple[tuple[str, str], ...]  # (person, seat) per recipient: one message each


def _recipients(org: Any, chain: Sequence[Any], level: Any) -> _Recipients:
    rows: list[dict[str, Any]] = [
        {"person": r.person_id, "name": org.people[r.person_id].name if r.person_id in org.people else r.person_id,
         "seat": r.seat.value, "title": r.title, "acting": r.acting, "moved_up": r.moved_up}
        for r in resolve_recipients(chain, level.notify)
    ]
    return _Recipients(rows=rows, view=[{"title": r["title"], "name": r["name"], "acting": r["acting"]} for r in rows],
                       people=tuple(r["person"] for r in rows), seats=tuple((r["person"], r["seat"]) for r in rows))


def fire_due(session: Session, ids: Sequence[int], *, config: Config, calendar: WorkingCalendar,
             now: datetime, actor: str = "escalation") -> list[FiredEscalation]:
    """Fire every due level of these cases once, in the caller's transaction; reschedule them.

    The policy runs once per distinct (deadlines, urgency, fired levels) in the batch
    (`SweepDecisions`); the chain is resolved once per (branch, department, handler) and the
    recipients once per (chain, level); a message context is built once per fired level and
    copied per recipient with its role.
    """
    ids = sorted(ids)
    policy = config.escalation.policy()
    levels = {lv.level: lv for lv in policy.levels}
    org = config.org
    link_base = config.policy.case_link_base
    cases = _load_fire_cases(session, ids)
    fired = fired_levels(session, ids)
    paused = open_pauses(session, ids)
    decisions = SweepDecisions(now=now, policy=policy, calendar=calendar)
    rows: list[dict[str, Any]] = []
    plans: dict[tuple[int, int], _Fired] = {}
    chains: dict[tuple[str, str | None, str | None, str | None], _Where] = {}
    recipients_of: dict[tuple[tuple[str, str | None, str | None, str | None], int], _Recipients] = {}
    keep: list[dict[str, Any]] = []
    drop: list[int] = []
    for cid in ids:
        row = cases.get(cid)
        if row is None:
            continue
        due, nxt = decisions(
            status=row.status, clock_started_at=row.clock_started_at, regulatory_due_at=row.regulatory_due_at,
            ack_due_at=row.ack_due_at, acknowledged=bool(row.acked),
            urgent=_urgent(row.severity, row.severity_requested, row.group_size, row.tags, row.source),
            vulnerable=bool(row.vulnerable), paused=cid in paused, fired=fired.get(cid, ()))
        if nxt is None:
            drop.append(cid)
        else:
            keep.append({"complaint_id": cid, "next_at": nxt.due_at, "next_level": nxt.level})
        if not due:
            continue
        where = (row.branch, row.department_branch, row.department, row.handler)
        place = chains.get(where)
        if place is None:
            place = chains[where] = _where(org, branch=row.branch, department_branch=row.department_branch,
                                           department=row.department, handler=row.handler)
        chain = place.chain
        reg_due = row.regulatory_due_at
        case_no = row.case_no
        late_by = _lateness_text(reg_due, now)  # a case that fires has no open pause
        complainant = _masked(row.complainant_name)
        category, severity = _category_text(row.category), _severity_text(row.severity)
        outlet = row.outlet or place.branch_name
        note = mask_free_text(row.vulnerable_note, names=(row.complainant_name,)) if row.vulnerable_note else None
        vulnerable = _vulnerable(bool(row.vulnerable), note)
        due_text = local_text(reg_due)
        link = f"{link_base}{case_no}"
        for d in due:
            level = levels[d.level]
            rkey = (where, d.level)
            rec = recipients_of.get(rkey)
            if rec is None:
                rec = recipients_of[rkey] = _recipients(org, chain, level)
            rows.append({"complaint_id": cid, "case_no": case_no, "level": d.level, "name": level.name,
                         "due_at": d.due_at, "fired_at": now, "reason": d.reason[:200], "recipients": rec.rows})
            context = Escalated(
                case_no=case_no, level=d.level, level_title=level.name, reason=d.reason, late_by=late_by,
                category=category, severity=severity, department=place.department, handler=place.handler,
                complainant=complainant, outlet=outlet, vulnerable=vulnerable, due_at=due_text,
                chain=place.chain_view, link=link,
            )
            plans[(cid, d.level)] = _Fired(cid, case_no, d, level.name, rec, context, _late_days(reg_due, now))
    created = _insert_returning(session, rows) if rows else set()
    add_escalation(session, [(plans[k].cid, r["person"], k[1], r.get("seat")) for k in created
                             for r in plans[k].recipients.rows])
    audits: list[AuditDraft] = []
    outbox: list[OutboxItem] = []
    out: list[FiredEscalation] = []
    for key in sorted(created):
        p = plans[key]
        d = p.due
        audits.append(AuditDraft(
            at=now, actor=actor, action="escalated", complaint_id=p.cid, case_no=p.case_no,
            after={"level": d.level, "name": p.name, "recipients": list(p.recipients.people),
                   "due_at": _iso(d.due_at)},
            detail=d.reason,
        ))
        dedupe = f"{p.case_no}:escalated:L{d.level}"
        for person, _seat in p.recipients.seats:
            outbox.append(OutboxItem("escalated", person, dedupe, p.context, p.cid, p.case_no))
        out.append(FiredEscalation(p.case_no, d.level, p.name, p.recipients.people, p.late_days))
    _upsert_schedule(session, keep, overwrite=True)
    for chunk in _chunks(drop, session):
        session.execute(delete(SCHED).where(_id_in(session, SCHED.c.complaint_id, chunk)))
    enqueue(session, outbox, org=config.org, now=now)
    append(session, audits)  # last: the audit head stays locked until commit (concurrent sweeps queue here)
    return out


def overdue_page(case_link_base: str) -> str:
    """The overdue and escalation list, beside the case pages (…/cases/ → …/overdue)."""
    base = case_link_base.rstrip("/")
    site = base[: -len("/cases")] if base.endswith("/cases") else base
    return f"{site}/overdue"


def send_digests(session: Session, *, config: Config, now: datetime) -> int:
    """Once per local day (from the configured hour): one digest per supervisor of their
    still-unacknowledged escalations on cases still open; returns how many were queued."""
    local = now.astimezone(SHANGHAI)
    if local.hour < config.escalation.digest.hour:
        return 0
    today = local.date()
    if insert_ignoring_conflicts(session, STATE, [{"key": f"digest:{today.isoformat()}", "value": now.isoformat()}],
                                 key="key") == 0:
        return 0  # today's digests were already queued
    start_of_day = datetime.combine(today, datetime.min.time(), tzinfo=SHANGHAI)
    stmt = (
        select(ESC.c.complaint_id, ESC.c.case_no, ESC.c.level, ESC.c.name, ESC.c.fired_at, ESC.c.recipients,
               COMPLAINT.c.regulatory_due_at)
        .join(COMPLAINT, COMPLAINT.c.id == ESC.c.complaint_id)
        .where(ESC.c.acknowledged_at.is_(None), ESC.c.fired_at < start_of_day, COMPLAINT.c.status.in_(ESCALATING))
        .order_by(ESC.c.case_no, ESC.c.level)
    )
    found = session.execute(stmt).all()
    pauses = open_pauses(session, sorted({int(r.complaint_id) for r in found}))
    per_person: dict[str, list[DigestCase]] = {}
    link_base = config.policy.case_link_base
    for r in found:
        entry = DigestCase(
            case_no=r.case_no, level=int(r.level), level_title=r.name, fired_at=local_text(r.fired_at),
            due_at=local_text(r.regulatory_due_at),
            late_by=_lateness_text(r.regulatory_due_at, now, pauses.get(int(r.complaint_id))),
            link=f"{link_base}{r.case_no}")
        for rec in r.recipients:
            per_person.setdefault(rec["person"], []).append(entry)
    overdue_link = overdue_page(link_base)
    items = [
        OutboxItem("escalation_digest", person, f"escalation_digest:{today.isoformat()}",
                   EscalationDigest(date=today.isoformat(), count=len(cases), cases=tuple(cases[:200]),
                                    link=overdue_link))
        for person, cases in sorted(per_person.items())
    ]
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
