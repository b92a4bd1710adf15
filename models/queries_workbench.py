"""The workbench's lists: filters, keyset pages (stable under inserts), counts, and saved views.

A list is sorted by what was asked: open work by its deadline (soonest first), history newest
first. A page ends with a cursor naming its last row's sort key and id, so the next page starts
after it whatever was inserted meanwhile (no offsets). Deadlines are the stored ones in SQL (never
later than the current one); cases whose clock is paused now have theirs recomputed
(models/case_views.current_deadlines), so "overdue" and "due within" count pauses.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypedDict, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    UniqueConstraint,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from domain.calendar import WorkingCalendar
from domain.deadlines import (
    ClockEvent,
    ClockKind,
    Deadlines,
    NfraRegime,
    Tier,
    compute_deadlines,
    local_date,
)
from domain.lifecycle import OPEN_STATUSES
from models.case_views import CaseSummary, CurrentDue, summary
from models.complaint import ClockEventRow, Complaint
from models.escalation import Escalation
from models.participants import ESCALATION, PARTICIPANT, PAUSED, involves
from models.search import key_match, text_match
from models.sqlutil import id_in, table_of

COMPLAINT = table_of(Complaint)
CLOCK = table_of(ClockEventRow)
ESC = table_of(Escalation)
OPEN = tuple(sorted(s.value for s in OPEN_STATUSES))  # as migration 0009's partial indexes list them
DUE, NEWEST = "due", "newest"
PAGE_SIZE = 50
# A list counts its matches exactly up to this many, then says "more than" (`Page.count_capped`):
# counting 100,000 cases of a department costs ten times 10,000 and helps nobody page through them;
# the statistics pages give exact figures. Open work counted by deadline window stays exact.
COUNT_CAP = 10_000


class SavedView(SQLModel, table=True):
    """A user's named filter of the case lists (the list page's query string)."""

    __tablename__ = "saved_view"
    __table_args__ = (UniqueConstraint("username", "name", name="uq_saved_view_username_name"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    name: str = Field(max_length=64)
    filters: str  # the query string
    created_at: datetime


SAVED = table_of(SavedView)
_CALENDAR = WorkingCalendar()  # only the acknowledgement deadline needs it, never recomputed here (as case_views)
# What a list row shows (models/case_views.summary) and its current deadline needs: not the texts,
# the chain or the personal data.
_LIST_COLUMNS = [COMPLAINT.c[name] for name in (
    "id", "case_no", "status", "source", "channel", "category", "cause", "severity", "tags", "triage", "branch",
    "department", "handler", "complainant_name", "received_at", "regulatory_due_at", "ack_due_at", "tier",
    "vulnerable")]


class BadCursor(ValueError):
    """A cursor that this list did not hand out."""


@dataclass(frozen=True)
class CaseFilter:
    status: tuple[str, ...] = ()
    open_only: bool = False
    department: str | None = None
    handler: str | None = None
    branch: str | None = None
    outlet: str | None = None
    category: str | None = None
    severity: str | None = None
    tags: tuple[str, ...] = ()
    source: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    due_from: datetime | None = None
    due_to: datetime | None = None
    overdue: bool = False
    due_within: timedelta | None = None
    paused: bool | None = None
    triage: bool | None = None
    escalated_level: int | None = None
    mine: bool = False  # the caller takes part (handler, chain, watcher, escalation recipient)
    q: str | None = None
    phone: str | None = None
    id_number: str | None = None
    card: str | None = None
    sort: str | None = None

    def sort_order(self) -> str:
        if self.sort in (DUE, NEWEST):
            return self.sort
        open_work = (self.open_only or self.overdue or self.due_within is not None or bool(self.paused)
                     or (bool(self.status) and set(self.status) <= set(OPEN)))
        return DUE if open_work else NEWEST

    def is_open_work(self) -> bool:
        """Only open cases can match (the queue's sections, overdue, open statuses asked for)."""
        return (self.open_only or self.overdue or self.due_within is not None or bool(self.paused)
                or (bool(self.status) and set(self.status) <= set(OPEN)))

    def as_params(self) -> dict[str, str]:
        """The filter as query parameters (what a saved view stores)."""
        out: dict[str, str] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v in (None, False, (), ""):
                continue
            if isinstance(v, tuple):
                out[f.name] = ",".join(v)
            elif isinstance(v, bool):
                out[f.name] = "true"
            elif isinstance(v, datetime):
                out[f.name] = v.isoformat()
            elif isinstance(v, timedelta):
                out["due_within_days"] = str(v.days)
            else:
                out[f.name] = str(v)
        return out


class EscalationItem(TypedDict):
    """An escalation level sent to a person, in this order: the queue's `escalated` section and
    `GET /api/escalations/mine` (`models.queries.escalations_of`)."""

    case_no: str
    level: int
    name: str
    reason: str
    due_at: datetime
    fired_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


def escalation_item(r: Any) -> EscalationItem:
    """An `escalation` row as an EscalationItem."""
    return {"case_no": r.case_no, "level": r.level, "name": r.name, "reason": r.reason, "due_at": r.due_at,
            "fired_at": r.fired_at, "acknowledged_at": r.acknowledged_at, "acknowledged_by": r.acknowledged_by}


ItemT = TypeVar("ItemT", CaseSummary, EscalationItem)


@dataclass
class Page(Generic[ItemT]):
    """One page of a list: case summaries, or the queue's escalations."""

    items: list[ItemT]
    next_cursor: str | None
    count: int | None = None
    sort: str = DUE
    extra: dict[str, Any] = field(default_factory=dict)
    count_capped: bool = False  # more match than `count` (COUNT_CAP) says


# ---------------------------------------------------------------- conditions


def current_deadlines(session: Session, rows: Sequence[Any], *, now: datetime,
                      memo: dict[int, CurrentDue | None] | None = None) -> dict[int, CurrentDue]:
    """models/case_views.current_deadlines for many rows with one read of their clock events (not one
    query per case): the open ones whose latest pause or resume is a pause get their deadline with
    that pause counted up to `now`. `memo`: what earlier calls of the same read (same `now`, no
    writes between) found, reused and added to (a queue asks for the same paused cases per section)."""
    memo = {} if memo is None else memo
    ids = sorted({r.id for r in rows if r.status in OPEN and r.id not in memo})
    events: dict[int, list[ClockEvent]] = {}
    since: dict[int, datetime] = {}
    reasons: dict[int, str] = {}
    if ids:
        for cid, kind, at, reason in session.execute(
                select(CLOCK.c.complaint_id, CLOCK.c.kind, CLOCK.c.at, CLOCK.c.reason)
                .where(id_in(session, CLOCK.c.complaint_id, ids)).order_by(CLOCK.c.complaint_id, CLOCK.c.at, CLOCK.c.id)):
            events.setdefault(cid, []).append(ClockEvent(ClockKind(kind), at, reason))
            if kind == "pause":
                since[cid], reasons[cid] = at, reason
            elif kind == "resume":
                since.pop(cid, None)  # a restart keeps an open pause open (as escalation_store.pause_state)
    fresh = set(ids)
    out: dict[int, CurrentDue] = {}
    for row in rows:
        if row.id in fresh and row.id not in memo:
            if row.id not in since:
                memo[row.id] = None
            else:
                at = max(now, since[row.id])  # a pause recorded ahead of `now` counts nothing yet
                dl = _paused_deadlines(row.received_at, row.tier, tuple(events[row.id]), at)
                memo[row.id] = CurrentDue(dl.regulatory_due_at, dl.paused_days, dl.open_pause_since or since[row.id],
                                          reasons.get(row.id))
        known = memo.get(row.id)
        if known is not None:
            out[row.id] = known
    return out


# The deadlines of a paused case by (received_at, tier, clock events, Beijing date of `now`): pure, and
# `now` counts only through its local date (domain.deadlines.paused_days counts whole calendar days),
# so every request of a day reuses them instead of computing each paused case again (~200 at 1M).
_PAUSED_DUE: dict[tuple[datetime, str, tuple[ClockEvent, ...], date], Deadlines] = {}
_PAUSED_DUE_MAX = 20_000


def _paused_deadlines(received_at: datetime, tier: str, events: tuple[ClockEvent, ...], at: datetime) -> Deadlines:
    key = (received_at, tier, events, local_date(at))
    found = _PAUSED_DUE.get(key)
    if found is None:
        found = compute_deadlines(received_at=received_at, tier=Tier(tier), events=events, regime=NfraRegime(),
                                  calendar=_CALENDAR, now=at)
        if len(_PAUSED_DUE) >= _PAUSED_DUE_MAX:
            _PAUSED_DUE.clear()
        _PAUSED_DUE[key] = found
    return found


def is_open() -> ColumnElement[bool]:
    """`status IN ('acknowledged', …)` with the open statuses written out, as migration 0009's partial
    indexes say it: SQLite uses a partial index only when the query's own terms imply its WHERE, which
    bound parameters never do (it sorted every overdue case of a 1M table instead: bench_workbench)."""
    return COMPLAINT.c.status.in_([literal_column(f"'{s}'") for s in OPEN])


def paused_now() -> ColumnElement[bool]:
    """Open cases whose clock is paused now (case_paused, kept from the clock events by triggers)."""
    return and_(is_open(), COMPLAINT.c.id.in_(select(PAUSED.c.complaint_id)))


def _has_tag(session: Session, tag: str) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(COMPLAINT.c.tags, JSONB).contains([tag])
    return text("EXISTS (SELECT 1 FROM json_each(complaint.tags) WHERE json_each.value = :tag)").bindparams(
        bindparam("tag", tag, unique=True))  # type: ignore[return-value]


def conditions(session: Session, f: CaseFilter, *, now: datetime, person: str | None) -> list[ColumnElement[bool]]:
    """The SQL part of the filter (pause-dependent deadlines are narrowed here, decided in `page`)."""
    c = COMPLAINT.c
    out: list[ColumnElement[bool]] = []
    if f.status:
        out.append(c.status.in_(list(f.status)))
    if f.open_only or f.overdue or f.due_within is not None:
        out.append(is_open())
    for name in ("department", "handler", "branch", "outlet", "category", "severity", "source"):
        value = getattr(f, name)
        if value:
            out.append(getattr(c, name) == value)
    out += [_has_tag(session, t) for t in f.tags]
    if f.received_from:
        out.append(c.received_at >= f.received_from)
    if f.received_to:
        out.append(c.received_at < f.received_to)
    if f.due_from:
        out.append(c.regulatory_due_at >= f.due_from)
    if f.due_to:
        out.append(c.regulatory_due_at < f.due_to)
    if f.overdue:
        out.append(c.regulatory_due_at < now)
    if f.due_within is not None:  # the lower bound is the window's, decided with the pauses (`page`, `count`)
        out.append(c.regulatory_due_at < now + f.due_within)
    if f.paused is not None:
        out.append(paused_now() if f.paused else ~paused_now())
    if f.triage is not None:
        out.append(c.triage.is_(f.triage))
    if f.escalated_level is not None:
        out.append(exists(select(ESC.c.id).where(ESC.c.complaint_id == c.id, ESC.c.level >= f.escalated_level)))
    if f.mine:
        out.append(involves(person, open_only=f.is_open_work()) if person else c.id.is_(None))
    if f.q:
        out.append(text_match(session, f.q))
    keys = key_match(phone=f.phone, id_number=f.id_number, card=f.card)
    if keys is not None:
        out.append(keys)
    return out


def _window(f: CaseFilter, now: datetime) -> tuple[datetime | None, datetime | None] | None:
    """The deadline window the current (pause-counted) deadline must fall in, if the filter has one."""
    if f.overdue:
        return None, now
    if f.due_within is not None:
        return now, now + f.due_within
    return None


def _in_window(col: Any, window: tuple[datetime | None, datetime | None] | None) -> list[ColumnElement[bool]]:
    """The SQL of `_inside`: `col` within the window's bounds (none for no window), as index range terms."""
    lo, hi = window if window is not None else (None, None)
    return ([col >= lo] if lo else []) + ([col < hi] if hi else [])


def _inside(due: datetime, window: tuple[datetime | None, datetime | None]) -> bool:
    lo, hi = window
    return (lo is None or due >= lo) and (hi is None or due < hi)


# ---------------------------------------------------------------- keyset pages


def _encode(sort: str, at: datetime, id_: int) -> str:
    return base64.urlsafe_b64encode(f"{sort}|{at.isoformat()}|{id_}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, at, id_ = raw.split("|")
        parsed = datetime.fromisoformat(at)
        if kind != sort or parsed.utcoffset() is None:
            raise ValueError(kind)
        return parsed, int(id_)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise BadCursor(cursor) from None


def _sort_columns(sort: str, by_person: bool = False) -> tuple[Any, Any]:
    """The sort key and tie-breaker: the complaint's, or (a person's list) her participant rows' copies."""
    if by_person:
        return (PARTICIPANT.c.due_at if sort == DUE else PARTICIPANT.c.received_at), PARTICIPANT.c.complaint_id
    return (COMPLAINT.c.regulatory_due_at if sort == DUE else COMPLAINT.c.received_at), COMPLAINT.c.id


def _after(sort: str, at: datetime, id_: int, by_person: bool = False) -> ColumnElement[bool]:
    col, cid = _sort_columns(sort, by_person)
    if sort == DUE:  # the first part is the index range, the second decides ties
        return and_(col >= at, or_(col > at, cid > id_))
    return and_(col <= at, or_(col < at, cid < id_))


def _ordered(stmt: Select[Any], sort: str, by_person: bool = False) -> Select[Any]:
    col, cid = _sort_columns(sort, by_person)
    return stmt.order_by(col, cid) if sort == DUE else stmt.order_by(col.desc(), cid.desc())


def page(session: Session, where: Sequence[ColumnElement[bool]], f: CaseFilter, *, now: datetime,
         cursor: str | None = None, limit: int = PAGE_SIZE, unmask: bool = False,
         person: str | None = None, memo: dict[int, CurrentDue | None] | None = None) -> Page[CaseSummary]:
    """One page of the cases matching `where` (scope and filter), after `cursor`; deadlines as of `now`.

    `person`: the list is of the cases this person takes part in (a handler's whole scope; `where`
    then leaves that condition out). The rows are read along her own participant entries in sort
    order (`ix_case_participant_person_received`, or for open work `ix_case_participant_open_due`:
    migration 0014), so a page costs about the same however many cases the archive holds.

    A deadline window (overdue, due within): the cases not paused are the stored deadline's index
    range, read in sort order; the few paused now are placed by their current deadline and merged in.
    """
    sort = f.sort_order()
    window = _window(f, now)
    after = decode_cursor(cursor, sort) if cursor else None
    by_person = person is not None
    # Whether each row's clock is paused now comes with the row: only paused rows need their
    # deadline recomputed (one more query, and only when the page holds any).
    stmt = select(*_LIST_COLUMNS, paused_now().label("paused_now")).where(*where)
    if person is not None:
        stmt = stmt.select_from(PARTICIPANT.join(COMPLAINT, COMPLAINT.c.id == PARTICIPANT.c.complaint_id)).where(
            PARTICIPANT.c.person == person, *([PARTICIPANT.c.open] if f.is_open_work() else []))
    if after:
        stmt = stmt.where(_after(sort, *after, by_person))
    if window is None:
        rows = _fetch(session, stmt, sort, by_person, limit + 1)
        paused = [r for r in rows if r.paused_now]
        current = current_deadlines(session, paused, now=now, memo=memo) if paused else {}
    else:
        due_col = PARTICIPANT.c.due_at if by_person else COMPLAINT.c.regulatory_due_at
        hi = window[1]
        paused_ids = list(session.execute(select(PAUSED.c.complaint_id)).scalars())
        steady = stmt.where(*_in_window(due_col, window))
        if paused_ids:
            steady = steady.where(~id_in(session, COMPLAINT.c.id, paused_ids))
        rows = _fetch(session, steady, sort, by_person, limit + 1)
        current = {}
        if paused_ids:  # a current deadline is never earlier than the stored one: past `hi` stays out
            candidates = session.execute(stmt.where(id_in(session, COMPLAINT.c.id, paused_ids),
                                                    *([due_col < hi] if hi else []))).all()
            current = current_deadlines(session, candidates, now=now, memo=memo)
            rows += [r for r in {r.id: r for r in candidates}.values()
                     if _inside(current[r.id].due_at if r.id in current else r.regulatory_due_at, window)]
            rows.sort(key=lambda r: (_sort_key(r, sort), r.id), reverse=sort != DUE)
            rows = rows[:limit + 1]
    more = len(rows) > limit
    items = [summary(r, unmask=unmask, current=current.get(r.id)) for r in rows[:limit]]
    last = rows[limit - 1] if more else None
    return Page(items, _encode(sort, _sort_key(last, sort), last.id) if last is not None else None, sort=sort)


def _fetch(session: Session, stmt: Select[Any], sort: str, by_person: bool, n: int) -> list[Any]:
    """The first `n` cases of `stmt` in sort order, each once: a person's rows of one case (several
    roles) come together, so a repeat is the row before it."""
    out: list[Any] = []
    after: tuple[datetime, int] | None = None
    while True:
        q = stmt.where(_after(sort, *after, by_person)) if after else stmt
        asked = n - len(out) + (4 if by_person else 0)
        rows = session.execute(_ordered(q, sort, by_person).limit(asked)).all()
        for row in rows:
            if not out or out[-1].id != row.id:
                out.append(row)
        if len(out) >= n or len(rows) < asked or not by_person:
            return out[:n]
        after = (_sort_key(rows[-1], sort), rows[-1].id)


def _sort_key(row: Any, sort: str) -> datetime:
    value: datetime = row.regulatory_due_at if sort == DUE else row.received_at
    return value


def count(session: Session, where: Sequence[ColumnElement[bool]], f: CaseFilter, *, now: datetime,
          memo: dict[int, CurrentDue | None] | None = None, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many cases match, and whether there are more than that (only past `cap`, and never for a
    deadline window, where paused cases are counted by their current deadline)."""
    window = _window(f, now)
    if window is None:
        first = select(COMPLAINT.c.id).where(*where).limit(cap + 1).subquery()
        n = int(session.execute(select(func.count()).select_from(first)).scalar_one())
        return min(n, cap), n > cap
    return window_counts(session, where, now=now, windows=[window], memo=memo)[0], False


def window_counts(session: Session, where: Sequence[ColumnElement[bool]], *, now: datetime,
                  windows: Sequence[tuple[datetime | None, datetime | None] | None],
                  memo: dict[int, CurrentDue | None] | None = None) -> list[int]:
    """How many cases of `where` fall in each deadline window (None: all of them), in one query.

    Each window is counted by the stored deadline, as a range of the deadline index (one scalar
    subquery each: no per-row test); then the cases paused now (a handful, read only when there are
    any) are moved from the window of their stored deadline to that of their current one.
    """
    c = COMPLAINT.c
    cols = [select(func.count()).select_from(COMPLAINT).where(*where, *_in_window(c.regulatory_due_at, w))
            .scalar_subquery() for w in windows]
    out = [int(n) for n in session.execute(select(*cols)).one()]
    bounded = [w for w in windows if w is not None]
    if not bounded or session.execute(select(PAUSED.c.complaint_id).limit(1)).first() is None:
        return out
    # The paused cases that may sit in a window by either deadline: a current deadline is never
    # earlier than the stored one, so a stored one past every window's end is in none of them.
    ends = [w[1] for w in bounded]
    paused: list[ColumnElement[bool]] = [c.id.in_(select(PAUSED.c.complaint_id))]
    if all(e is not None for e in ends):
        paused.append(c.regulatory_due_at < max(e for e in ends if e is not None))
    rows = session.execute(select(*_LIST_COLUMNS).where(*where, *paused)).all()
    current: dict[int, CurrentDue] = current_deadlines(session, rows, now=now, memo=memo)
    for i, w in enumerate(windows):
        if w is not None:
            for r in rows:
                stored = r.regulatory_due_at
                out[i] += _inside(current[r.id].due_at if r.id in current else stored, w) - _inside(stored, w)
    return out


def escalations_page(session: Session, person: str, *, cursor: str | None = None,
                     limit: int = PAGE_SIZE) -> Page[EscalationItem]:
    """Unacknowledged escalations sent to `person`, latest first, with their count."""
    mine = exists(select(PARTICIPANT.c.complaint_id).where(
        PARTICIPANT.c.person == person, PARTICIPANT.c.role == ESCALATION,
        PARTICIPANT.c.complaint_id == ESC.c.complaint_id, PARTICIPANT.c.level == ESC.c.level))
    base = select(ESC).where(ESC.c.acknowledged_at.is_(None), mine)
    total = int(session.execute(select(func.count()).select_from(base.subquery())).scalar_one())
    stmt = base
    if cursor:
        at, id_ = decode_cursor(cursor, "esc")
        stmt = stmt.where(ESC.c.fired_at <= at, or_(ESC.c.fired_at < at, ESC.c.id < id_))
    rows = session.execute(stmt.order_by(ESC.c.fired_at.desc(), ESC.c.id.desc()).limit(limit + 1)).all()
    items = [escalation_item(r) for r in rows[:limit]]
    nxt = _encode("esc", rows[limit - 1].fired_at, rows[limit - 1].id) if len(rows) > limit else None
    return Page(items, nxt, total, sort="fired")


def person_queue(session: Session, person: str, *, now: datetime, soon: timedelta,
                 cursors: Mapping[str, str | None], limit: int = PAGE_SIZE) -> dict[str, Page[CaseSummary]]:
    """The overdue / due-soon / open sections of one person's open cases (a handler's whole scope),
    with the same order, cursors and pause rules as `page` and `window_counts` (sorted by the stored
    deadline, placed in a section by the current one).

    Read from the person's own entries of `ix_case_participant_open_due` (person, due_at,
    complaint_id) WHERE open (migration 0014): the counts are one index-only scan, each section's
    page the first `limit + 1` entries of its deadline range, so the cost barely grows with her open
    work. The cases paused now (a handful) are placed by their current deadline in Python.
    """
    p = PARTICIPANT.c
    mine = [p.person == person, p.open]
    paused_ids = list(session.execute(select(p.complaint_id).distinct()
                                      .where(*mine, p.complaint_id.in_(select(PAUSED.c.complaint_id)))).scalars())
    paused_rows = session.execute(select(*_LIST_COLUMNS).where(COMPLAINT.c.id.in_(paused_ids))).all() if paused_ids else []
    current = current_deadlines(session, paused_rows, now=now)
    paused_due = {r.id: (current[r.id].due_at if r.id in current else r.regulatory_due_at) for r in paused_rows}
    windows: dict[str, tuple[datetime | None, datetime | None] | None] = {
        "overdue": (None, now), "soon": (now, now + soon), "open": None}
    not_paused = ~p.complaint_id.in_(paused_ids) if paused_ids else None
    # Counts: the cases not paused by their stored deadline (a case once per person, whatever her roles).
    cols = [func.count(p.complaint_id.distinct()).filter(and_(*_in_window(p.due_at, w))) if w is not None
            else func.count(p.complaint_id.distinct()) for w in windows.values()]
    counted = session.execute(select(*cols).where(*mine, *([not_paused] if not_paused is not None else []))).one()
    chosen: dict[str, list[tuple[datetime, int]]] = {}
    out: dict[str, Page[CaseSummary]] = {}
    for (name, w), n in zip(windows.items(), counted, strict=True):
        cursor = cursors.get(name)
        after = decode_cursor(cursor, DUE) if cursor else None
        stmt = select(p.due_at, p.complaint_id).distinct().where(*mine, *_in_window(p.due_at, w))
        if not_paused is not None:
            stmt = stmt.where(not_paused)
        if after:
            stmt = stmt.where(p.due_at >= after[0], or_(p.due_at > after[0], p.complaint_id > after[1]))
        keys = [(d, i) for d, i in session.execute(stmt.order_by(p.due_at, p.complaint_id).limit(limit + 1))]
        # the paused cases of this window by their current deadline, in the same (stored deadline, id) order
        extra = [(r.regulatory_due_at, r.id) for r in paused_rows if w is None or _inside(paused_due[r.id], w)]
        n += len(extra)
        if after:
            extra = [k for k in extra if k > (after[0], after[1])]
        keys = sorted(keys + extra)
        out[name] = Page([], _encode(DUE, *keys[limit - 1]) if len(keys) > limit else None, int(n), sort=DUE)
        chosen[name] = keys[:limit]
    ids = sorted({i for keys in chosen.values() for _, i in keys})
    full = {r.id: r for r in session.execute(select(*_LIST_COLUMNS).where(COMPLAINT.c.id.in_(ids))).all()} if ids else {}
    for name, keys in chosen.items():
        out[name].items = [summary(full[i], current=current.get(i)) for _, i in keys if i in full]
    return out
