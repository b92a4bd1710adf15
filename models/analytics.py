"""Analytics tables and SQL: daily counts, early-warning alerts, frozen regulator statistics.

`analytics_daily_count` holds the complaints received per local day (Asia/Shanghai) × institution
(branch code) × outlet × JR/T 0169 category ("" where unknown): what the dashboard and the early warning
read. Channel and cause are not in it: at that grain 1,000,000 cases made 908,447 rows (one per case,
no aggregation left; docs/benchmarks.md); the statistics, which need every case number, read the rows.
It is kept by
`refresh`, which recomputes whole days from the complaint rows: the days of every complaint whose
row changed (`updated_at`) since the last refresh, less an overlap for transactions still running
then. Recomputing a day from the rows (instead of adding one per submit) stays right whatever moved
a case between cells: routing giving it its category, a reclassification, a transfer, a merge
(merged cases are not counted). received_at never changes, so a case never leaves its day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    ColumnElement,
    Date,
    Index,
    Select,
    Text,
    UniqueConstraint,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from domain.lifecycle import OPEN_STATUSES
from domain.statistics import NONE, local_midnight
from models.complaint import ClockEventRow, Complaint
from models.escalation import Escalation
from models.participants import ESCALATION, PARTICIPANT
from models.sqlutil import table_of

OVERLAP = timedelta(minutes=15)
DASHBOARD_STALENESS = timedelta(seconds=60)  # the dashboard's counts are at most this old
STATE_KEY = "daily_counts_refreshed_at"


class DailyCount(SQLModel, table=True):
    __tablename__ = "analytics_daily_count"
    __table_args__ = (Index("ix_analytics_daily_count_branch_day", "branch", "day"),)

    day: date = Field(primary_key=True, sa_type=Date)
    branch: str = Field(primary_key=True, max_length=32)
    outlet: str = Field(primary_key=True, max_length=64)
    category: str = Field(primary_key=True, max_length=16)
    n: int


class AnalyticsState(SQLModel, table=True):
    __tablename__ = "analytics_state"

    key: str = Field(primary_key=True, max_length=64)
    at: datetime


class EarlyWarningAlert(SQLModel, table=True):
    """One alert per spike of a cell (institution × category), by unique dedupe key."""

    __tablename__ = "early_warning_alert"
    __table_args__ = (Index("ix_early_warning_alert_cell_day", "institution", "outlet", "category", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=160, unique=True)
    day: date = Field(sa_type=Date)  # the local day the spike was seen
    institution: str = Field(max_length=32)
    outlet: str = Field(max_length=64)  # "" for the institution as a whole
    category: str = Field(max_length=16)
    window_days: int
    observed: int
    expected: float
    p_value: float
    terms: list[str] = Field(default_factory=list, sa_type=JSON)
    cases: list[str] = Field(default_factory=list, sa_type=JSON)
    recipients: list[str] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime


class StatsSnapshot(SQLModel, table=True):
    """One frozen version of a period's regulator statistics: its content and sha256; a correction adds a version."""

    __tablename__ = "stats_snapshot"
    __table_args__ = (UniqueConstraint("period", "version", name="uq_stats_snapshot_period_version"),)

    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(max_length=10, index=True)
    kind: str = Field(max_length=8)
    version: int
    generated_at: datetime
    total: int
    sha256: str = Field(max_length=64)
    content: str = Field(sa_type=Text)
    reason: str = Field(default="", max_length=500)  # why a correction was made (v2 on)
    diff: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    actor: str = Field(max_length=64)


C = table_of(Complaint)
D = table_of(DailyCount)
ST = table_of(AnalyticsState)
ALERT = table_of(EarlyWarningAlert)
SNAP = table_of(StatsSnapshot)
ESC = table_of(Escalation)
CLOCK = table_of(ClockEventRow)
UPDATED_INDEX = Index("ix_complaint_updated_at", C.c.updated_at)


def local_day(session: Session) -> ColumnElement[date]:
    """The local (Asia/Shanghai, UTC+8 all year) date of received_at, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("Asia/Shanghai", C.c.received_at), Date)
    return func.date(C.c.received_at, "+8 hours")


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _recompute(session: Session, days: Sequence[date]) -> int:
    """Delete and rebuild the counts of `days` from the complaint rows; returns the rows written."""
    written = 0
    day = local_day(session).label("day")
    cols = [func.coalesce(C.c.outlet, NONE), func.coalesce(C.c.category, NONE)]
    for i in range(0, len(days), 31):
        chunk = sorted(days[i:i + 31])
        session.execute(delete(D).where(D.c.day.in_(chunk)))
        # One range per run of consecutive days: received_at's index reads only those days.
        ranges = []
        start = prev = chunk[0]
        for d in chunk[1:] + [None]:
            if d is not None and d == prev + timedelta(days=1):
                prev = d
                continue
            ranges.append((start, prev))
            if d is not None:
                start = prev = d
        for first, last in ranges:
            sel = (select(day, C.c.branch, *cols, func.count())
                   .where(C.c.received_at >= local_midnight(first),
                          C.c.received_at < local_midnight(last + timedelta(days=1)),
                          C.c.status != "merged")
                   .group_by(day, C.c.branch, *cols))
            result = session.execute(insert(D).from_select(["day", "branch", "outlet", "category", "n"], sel))
            written += max(int(result.rowcount or 0), 0)  # type: ignore[attr-defined]
    return written


def rebuild(session: Session, *, now: datetime) -> int:
    """Recompute every day (the first refresh, or after a bulk load)."""
    session.execute(delete(D))
    day = local_day(session).label("day")
    cols = [func.coalesce(C.c.outlet, NONE), func.coalesce(C.c.category, NONE)]
    sel = select(day, C.c.branch, *cols, func.count()).where(C.c.status != "merged").group_by(day, C.c.branch, *cols)
    session.execute(insert(D).from_select(["day", "branch", "outlet", "category", "n"], sel))
    _set_state(session, now)
    return int(session.execute(select(func.count()).select_from(D)).scalar_one())


def _state(session: Session, *, lock: bool) -> datetime | None:
    stmt = select(ST.c.at).where(ST.c.key == STATE_KEY)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    at = session.execute(stmt).scalar_one_or_none()
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at


def _set_state(session: Session, at: datetime) -> None:
    if session.execute(select(ST.c.key).where(ST.c.key == STATE_KEY)).first() is None:
        session.execute(insert(ST).values(key=STATE_KEY, at=at))
    else:
        session.execute(ST.update().where(ST.c.key == STATE_KEY).values(at=at))


def refresh(session: Session, *, now: datetime, days: Iterable[date] = (),
            unless_within: timedelta | None = None) -> dict[str, int]:
    """Bring the daily counts up to the complaint rows: the days of rows changed since the last refresh
    (less `OVERLAP`), plus `days`. Concurrent refreshes queue on the state row (PostgreSQL).

    `unless_within`: nothing is done when the last refresh is more recent than that (the dashboard reads
    counts at most that old, instead of recomputing the same recent days on every view)."""
    extra = set(days)
    if unless_within is not None and not extra:
        last = _state(session, lock=False)
        if last is not None and now - last < unless_within:
            return {"days": 0, "rows": 0}
    since = _state(session, lock=True)
    if since is None:
        rows = rebuild(session, now=now)
        return {"days": -1, "rows": rows}
    day = local_day(session)
    changed = {_as_date(d) for (d,) in session.execute(
        select(day).where(C.c.updated_at >= since - OVERLAP).group_by(day))}
    changed |= extra
    rows = _recompute(session, sorted(changed)) if changed else 0
    _set_state(session, now)
    return {"days": len(changed), "rows": rows}


# ---------------------------------------------------------------- reading the counts


def _counts(session: Session, branches: Sequence[str], first: date, last: date,
            *dims: str) -> list[tuple[Any, ...]]:
    """Sum of counts grouped by `dims` (columns of the daily table), e.g. ("branch", "outlet")."""
    cols = [D.c[d] for d in dims]
    stmt = (select(*cols, func.sum(D.c.n)).where(D.c.branch.in_(list(branches)), D.c.day >= first, D.c.day <= last)
            .group_by(*cols))
    return [tuple(r) for r in session.execute(stmt)]


def counts_per_day(session: Session, branches: Sequence[str], first: date, last: date) -> list[tuple[date, int]]:
    """(day, complaints received) of `branches` from `first` to `last`, the days with any."""
    return [(_as_date(d), int(n)) for d, n in _counts(session, branches, first, last, "day")]


def counts_per_outlet(session: Session, branches: Sequence[str], first: date,
                      last: date) -> list[tuple[str, str, int]]:
    """(branch, outlet ("" for the institution itself), complaints received) from `first` to `last`."""
    return [(str(b), str(o), int(n)) for b, o, n in _counts(session, branches, first, last, "branch", "outlet")]


def counts_per_category(session: Session, branches: Sequence[str], first: date,
                        last: date) -> list[tuple[str, int]]:
    """(category ("" where unknown), complaints received) from `first` to `last`."""
    return [(str(c), int(n)) for c, n in _counts(session, branches, first, last, "category")]


def cell_matrix(session: Session, first: date, last: date) -> list[tuple[date, str, str, str, int]]:
    """(day, branch, outlet, category, n) for the early warning."""
    stmt = select(D.c.day, D.c.branch, D.c.outlet, D.c.category, D.c.n).where(D.c.day >= first, D.c.day <= last)
    return [(_as_date(d), b, o, c, int(n)) for d, b, o, c, n in session.execute(stmt)]


# ---------------------------------------------------------------- live figures (open cases)


OPEN = tuple(sorted(s.value for s in OPEN_STATUSES))  # as migration 0009's partial indexes list them


def is_open() -> ColumnElement[bool]:
    """status IN the open statuses, written as literals: SQLite uses a partial index (0009's
    ix_complaint_open_branch_due) only when the query's terms match its WHERE, which bound parameters
    never do (a full scan of 1,000,000 rows: 0.7 s against 0.02 s)."""
    return C.c.status.in_([literal_column(f"'{v}'") for v in OPEN])


def aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def open_counts(session: Session, branches: Sequence[str], now: datetime) -> tuple[int, int]:
    """Open cases of `branches`, and how many of them have their stored deadline before `now`."""
    row = session.execute(
        select(func.count(), func.coalesce(func.sum(case((C.c.regulatory_due_at < now, 1), else_=0)), 0))
        .where(is_open(), C.c.branch.in_(list(branches)))).one()
    return int(row[0]), int(row[1])


def paused_open(session: Session, branches: Sequence[str]) -> dict[int, datetime]:
    """The open cases of `branches` whose clock is paused now (their last pause/resume is a pause), with their
    stored deadline: read from the clock events of open cases only (a few)."""
    stmt = (select(CLOCK.c.complaint_id, CLOCK.c.kind, C.c.regulatory_due_at)
            .join(C, C.c.id == CLOCK.c.complaint_id)
            .where(CLOCK.c.kind.in_(["pause", "resume"]), is_open(), C.c.branch.in_(list(branches)))
            .order_by(CLOCK.c.complaint_id, CLOCK.c.at, CLOCK.c.id))
    state: dict[int, tuple[bool, datetime]] = {}
    for cid, kind, due in session.execute(stmt):
        state[int(cid)] = (kind == "pause", due)
    return {cid: due for cid, (paused, due) in state.items() if paused}


def escalations_waiting_query(person: str, branches: Sequence[str]) -> Select[tuple[str, int, str, datetime]]:
    """Unacknowledged escalations sent to `person`, of open cases of `branches`, oldest first: the person's
    escalation rows of `case_participant` (index `ix_case_participant_person_role`), each joined to its
    level's row by (case, level), as `models.queries.escalations_query` reads them (no LIKE over the
    recipients JSON)."""
    return (select(ESC.c.case_no, ESC.c.level, ESC.c.name, ESC.c.fired_at)
            .join(PARTICIPANT, and_(PARTICIPANT.c.complaint_id == ESC.c.complaint_id,
                                    PARTICIPANT.c.level == ESC.c.level))
            .join(C, C.c.id == ESC.c.complaint_id)
            .where(PARTICIPANT.c.person == person, PARTICIPANT.c.role == ESCALATION, ESC.c.acknowledged_at.is_(None),
                   is_open(), C.c.branch.in_(list(branches)))
            .order_by(ESC.c.fired_at, ESC.c.id))


@dataclass(frozen=True)
class WaitingEscalation:
    """An escalation level not yet acknowledged, of an open case."""

    case_no: str
    level: int
    name: str
    fired_at: datetime


def escalations_waiting(session: Session, person: str, branches: Sequence[str]) -> list[WaitingEscalation]:
    """Unacknowledged escalations sent to `person` (among their recipients), of open cases of `branches`."""
    return [WaitingEscalation(**r._mapping) for r in session.execute(escalations_waiting_query(person, branches))]


@dataclass(frozen=True)
class CaseNumber:
    """A case behind a figure, as the drill-down lists it."""

    case_no: str
    received_at: datetime
    status: str
    branch: str
    outlet: str | None
    category: str | None
    regulatory_due_at: datetime


def case_numbers(session: Session, *, branches: Sequence[str], first: date | None = None, last: date | None = None,
                 category: str | None = None, outlet: str | None = None, channel: str | None = None,
                 cause: str | None = None, status: Sequence[str] | None = None, limit: int = 500,
                 extra: Sequence[ColumnElement[bool]] = ()) -> tuple[int, list[CaseNumber]]:
    """The cases behind a figure: how many, and the first `limit` (case_no, received_at, status, branch, outlet,
    category, regulatory_due_at), newest first."""
    where: list[ColumnElement[bool]] = [C.c.branch.in_(list(branches)), C.c.status != "merged", *extra]
    if first is not None:
        where.append(C.c.received_at >= local_midnight(first))
    if last is not None:
        where.append(C.c.received_at < local_midnight(last + timedelta(days=1)))
    for col, value in ((C.c.category, category), (C.c.outlet, outlet), (C.c.channel, channel), (C.c.cause, cause)):
        if value is not None:
            where.append(col.is_(None) if value == NONE else col == value)
    if status:
        where.append(is_open() if tuple(sorted(status)) == OPEN else C.c.status.in_(list(status)))
    total = int(session.execute(select(func.count()).select_from(C).where(*where)).scalar_one())
    rows = session.execute(select(C.c.case_no, C.c.received_at, C.c.status, C.c.branch, C.c.outlet, C.c.category,
                                  C.c.regulatory_due_at)
                           .where(*where).order_by(C.c.received_at.desc(), C.c.case_no).limit(limit)).all()
    return total, [CaseNumber(**r._mapping) for r in rows]


# ---------------------------------------------------------------- statistics rows and snapshots


class PeriodRow(NamedTuple):
    """A complaint as the statistics read it: its case number and dimensions ("" where unknown). A named
    tuple, not a dataclass: a year is every case of the year, and a tuple is built three times faster."""

    case_no: str
    branch: str
    outlet: str
    channel: str
    category: str
    cause: str


def period_rows(session: Session, start: datetime, end: datetime) -> list[PeriodRow]:
    """Every complaint received in [start, end) (merged left out): case_no and its dimensions."""
    stmt = (select(C.c.case_no, C.c.branch, func.coalesce(C.c.outlet, NONE), func.coalesce(C.c.channel, NONE),
                   func.coalesce(C.c.category, NONE), func.coalesce(C.c.cause, NONE))
            .where(C.c.received_at >= start, C.c.received_at < end, C.c.status != "merged"))
    return [PeriodRow(*r) for r in session.execute(stmt)]


@dataclass(frozen=True)
class FrozenStats:
    """One stored version of a period's statistics (`stats_snapshot`): `content` is the frozen JSON text
    whose sha256 is `sha256`; `diff` what a correction changed (free-form JSON, None for v1)."""

    id: int
    period: str
    kind: str
    version: int
    generated_at: datetime
    total: int
    sha256: str
    content: str
    reason: str
    diff: dict[str, Any] | None
    actor: str


def latest_snapshot(session: Session, period: str) -> FrozenStats | None:
    row = session.execute(select(SNAP).where(SNAP.c.period == period)
                          .order_by(SNAP.c.version.desc()).limit(1)).first()
    return FrozenStats(**row._mapping) if row is not None else None


def snapshot(session: Session, period: str, version: int) -> FrozenStats | None:
    row = session.execute(select(SNAP).where(SNAP.c.period == period, SNAP.c.version == version)).first()
    return FrozenStats(**row._mapping) if row is not None else None


@dataclass(frozen=True)
class StatsVersion:
    """A stored version in the list of frozen statistics (its content left out)."""

    period: str
    kind: str
    version: int
    generated_at: datetime
    total: int
    sha256: str
    reason: str


def snapshots(session: Session) -> list[StatsVersion]:
    """Every stored version, the latest period first, each period's latest version first."""
    return [StatsVersion(**r._mapping) for r in session.execute(
        select(SNAP.c.period, SNAP.c.kind, SNAP.c.version, SNAP.c.generated_at, SNAP.c.total, SNAP.c.sha256,
               SNAP.c.reason).order_by(SNAP.c.period.desc(), SNAP.c.version.desc()))]


def store_snapshot(session: Session, row: dict[str, Any]) -> None:
    session.execute(insert(SNAP).values(**row))


# ---------------------------------------------------------------- alerts


def last_alert_day(session: Session, institution: str, outlet: str, category: str) -> date | None:
    d = session.execute(select(func.max(ALERT.c.day)).where(ALERT.c.institution == institution,
                                                            ALERT.c.outlet == outlet,
                                                            ALERT.c.category == category)).scalar_one()
    return _as_date(d) if d is not None else None


def store_alert(session: Session, row: dict[str, Any]) -> bool:
    """Insert unless its dedupe key is there; True when new."""
    from models.sqlutil import insert_ignoring_conflicts

    return insert_ignoring_conflicts(session, ALERT, [row], key="dedupe_key") > 0


@dataclass(frozen=True)
class AlertRow:
    """A stored early-warning alert (`early_warning_alert`)."""

    id: int
    dedupe_key: str
    day: date
    institution: str
    outlet: str
    category: str
    window_days: int
    observed: int
    expected: float
    p_value: float
    terms: tuple[str, ...]
    cases: tuple[str, ...]
    recipients: tuple[str, ...]
    created_at: datetime


def alerts(session: Session, branches: Sequence[str], *, since: date) -> list[AlertRow]:
    """The alerts of `branches` seen on `since` or later, the latest first."""
    stmt = (select(ALERT).where(ALERT.c.institution.in_(list(branches)), ALERT.c.day >= since)
            .order_by(ALERT.c.day.desc(), ALERT.c.id.desc()))
    return [AlertRow(r.id, r.dedupe_key, _as_date(r.day), r.institution, r.outlet, r.category, r.window_days,
                     r.observed, float(r.expected), float(r.p_value), tuple(r.terms), tuple(r.cases),
                     tuple(r.recipients), r.created_at) for r in session.execute(stmt)]


@dataclass(frozen=True)
class SpikeText:
    """A case of a spike window: its texts and the names to mask inside them."""

    case_no: str
    request: str
    facts: str
    complainant_name: str
    agent_name: str | None
    complainant_legal_rep: str | None


def spike_texts(session: Session, *, branches: Sequence[str], outlet: str | None, category: str, first: date,
                last: date, limit: int = 300) -> list[SpikeText]:
    """The cases of a spike window (case_no, request, facts and the names to mask inside them)."""
    where = [C.c.branch.in_(list(branches)), C.c.received_at >= local_midnight(first),
             C.c.received_at < local_midnight(last + timedelta(days=1)), C.c.status != "merged",
             C.c.category.is_(None) if category == NONE else C.c.category == category]
    if outlet is not None:
        where.append(C.c.outlet.is_(None) if outlet == NONE else C.c.outlet == outlet)
    stmt = (select(C.c.case_no, C.c.request, C.c.facts, C.c.complainant_name, C.c.agent_name, C.c.complainant_legal_rep)
            .where(*where).order_by(C.c.received_at).limit(limit))
    return [SpikeText(**r._mapping) for r in session.execute(stmt)]


__all__ = ["ALERT", "D", "SNAP"]
