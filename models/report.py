"""The weekly report: its frozen snapshots, and the SQL that aggregates a week as of its end.

Every figure is "as of the week's end" `e`: it reads timestamps relative to `e`, never the
current status, so running the report again later gives the same figures (docs/report.md):

* decided (已答复) at `responded_at`; closed (已办结) / withdrawn (已撤诉) at `closed_at` (a
  withdrawal ends handling on the day it is received, Art. 15, and is stamped in `closed_at`);
* open at `e`: received before `e` and neither responded nor closed before `e`;
* the deadline as of `e`: the current `regulatory_due_at`, unless an extension was recorded at or
  after `e`, then that extension's `previous_due_at` (the deadline that stood at `e`);
* escalations, extensions and pauses by their own timestamps.

Merged cases (合并) carry no timestamp of the merge, so they are left out of open and overdue.
Every query is set-based (GROUP BY in the database); only small lists (重大, overdue, repeats) come
back row by row. Complainant data is read only to match repeats inside SQL and never selected.
Each query returns the typed rows of domain/report_data.py; `load_week` fills a `WeekData`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    case,
    cast,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session, aliased
from sqlmodel import Field, SQLModel

from domain.masking import mask_free_text
from domain.report import Week, trailing
from domain.report_data import (
    ChainSeat,
    DepartmentCount,
    DepartmentOpen,
    EscalationCount,
    ExtensionCount,
    NewGroup,
    Notified,
    OverdueCase,
    PauseCount,
    RepeatCase,
    SensitiveCase,
    TopEscalation,
    TrendPoint,
    WeekCounts,
    WeekData,
    WeekTotals,
)
from domain.taxonomy import SENSITIVE_TAGS
from models.complaint import ClockEventRow, Complaint
from models.escalation import Escalation, Extension
from models.sqlutil import table_of

SENSITIVE_CODES = tuple(t.value for t in SENSITIVE_TAGS)  # domain/taxonomy.py, in its order


class ReportSnapshot(SQLModel, table=True):
    """One generated version of a week's report, frozen: its figures and their sha256."""

    __tablename__ = "report_snapshot"
    __table_args__ = (UniqueConstraint("week", "version", name="uq_report_snapshot_week_version"),)

    id: int | None = Field(default=None, primary_key=True)
    week: str = Field(max_length=10, index=True)
    version: int
    generated_at: datetime
    input_rows: int
    sha256: str = Field(max_length=64)
    content: str = Field(sa_type=Text)  # canonical JSON of the figures (what sha256 is over)
    output_dir: str = Field(max_length=512)
    forced: bool = False
    actor: str = Field(max_length=64)
    anchor: dict[str, Any] | None = Field(default=None, sa_type=JSON)  # the audit chain's signed head (0007)


C = table_of(Complaint)
ESC = table_of(Escalation)
EXT = table_of(Extension)
CLOCK = table_of(ClockEventRow)
SNAP = table_of(ReportSnapshot)

# Indexes the report needs (created in migration 0003): week ranges on each timestamp, and the
# complainant+category lookups of repeat detection.
REPORT_INDEXES = (
    Index("ix_complaint_received_at", C.c.received_at),
    Index("ix_complaint_ended", C.c.responded_at, C.c.closed_at),
    Index("ix_complaint_closed_at", C.c.closed_at),
    Index("ix_complaint_ack_due_at", C.c.ack_due_at),
    Index("ix_complaint_repeat_id", C.c.complainant_id_number, C.c.category, C.c.received_at),
    Index("ix_complaint_repeat_phone", C.c.complainant_phone, C.c.category, C.c.received_at),
    Index("ix_escalation_fired_at", ESC.c.fired_at),
    Index("ix_extension_recorded_at", EXT.c.recorded_at),
    Index("ix_clock_event_at", CLOCK.c.at),
)


# ---------------------------------------------------------------- expressions


def _ended() -> ColumnElement[Any]:
    return func.coalesce(C.c.responded_at, C.c.closed_at)


def not_ended_before(e: datetime) -> ColumnElement[bool]:
    """coalesce(responded_at, closed_at) is NULL or >= e, written as three index ranges on
    (responded_at, closed_at) so both SQLite (OR by union) and PostgreSQL (BitmapOr) read only
    the cases still open at `e` instead of scanning the table."""
    return or_(
        C.c.responded_at >= e,
        and_(C.c.responded_at.is_(None), C.c.closed_at >= e),
        and_(C.c.responded_at.is_(None), C.c.closed_at.is_(None)),
    )


def open_at(e: datetime) -> ColumnElement[bool]:
    # `received_at < e` is wrapped so that no planner picks the received_at index for it (it
    # matches nearly every row); the few rows not ended before `e` come from not_ended_before.
    received_before = case((C.c.received_at < e, 1), else_=0) == 1
    return and_(not_ended_before(e), received_before, C.c.status != "merged")


# An extension goes up a tier at a time (standard → complex → special): at most one row per target
# tier, the complex one first. Joined once, they give the deadline that stood at any instant.
X1 = EXT.alias("x_complex")
X2 = EXT.alias("x_special")


def with_extensions(base: Any = None) -> Any:
    base = C if base is None else base
    return (base.outerjoin(X1, and_(X1.c.complaint_id == C.c.id, X1.c.to_tier == "complex"))
            .outerjoin(X2, and_(X2.c.complaint_id == C.c.id, X2.c.to_tier == "special")))


def due_as_of(e: datetime) -> ColumnElement[Any]:
    """The regulatory deadline that stood at `e` (undoing extensions recorded since); needs the
    query's FROM to be `with_extensions()`."""
    return case(
        (X1.c.recorded_at >= e, X1.c.previous_due_at),
        (X2.c.recorded_at >= e, X2.c.previous_due_at),
        else_=C.c.regulatory_due_at,
    )


def _minutes(later: Any, earlier: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", later - earlier) / 60), Integer)
    seconds = cast(func.round((func.julianday(later) - func.julianday(earlier)) * 86400), Integer)
    return seconds / literal_column("60")  # integer division in SQLite


def _minus_days(col: Any, days: int, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return col - timedelta(days=days)  # type: ignore[no-any-return]
    return func.datetime(col, f"-{days} days")


def _has_tag(tag: str) -> ColumnElement[bool]:
    return cast(C.c.tags, String).like(f'%"{tag}"%')


def _sensitive() -> ColumnElement[bool]:
    return or_(C.c.severity == "major", *(_has_tag(t) for t in SENSITIVE_CODES))


def _in(col: Any, week: Week) -> ColumnElement[bool]:
    return and_(col >= week.start, col < week.end)


def _count(session: Session, *where: ColumnElement[bool]) -> int:
    return int(session.execute(select(func.count()).select_from(C).where(*where)).scalar_one())


# ---------------------------------------------------------------- the figures of one week


def counts(session: Session, week: Week) -> WeekCounts:
    """The headline counts of a week, each by its own timestamp."""
    e = week.end
    responded = select(
        func.count(),
        func.coalesce(func.sum(case((C.c.responded_at <= C.c.regulatory_due_at, 1), else_=0)), 0),
    ).where(_in(C.c.responded_at, week))
    r_all, r_on_time = session.execute(responded).one()
    closed_rows = session.execute(
        select(C.c.status, func.count()).where(_in(C.c.closed_at, week)).group_by(C.c.status)
    ).all()
    withdrawn = sum(int(n) for st, n in closed_rows if st == "withdrawn")
    closed = sum(int(n) for st, n in closed_rows if st != "withdrawn")
    open_row = session.execute(
        select(func.count(), func.coalesce(func.sum(case((due_as_of(e) < e, 1), else_=0)), 0))
        .select_from(with_extensions()).where(open_at(e))
    ).one()
    acked = func.coalesce(C.c.acknowledged_at, C.c.responded_at)
    withdrawn_before_ack = and_(C.c.status == "withdrawn", C.c.closed_at <= C.c.ack_due_at, acked.is_(None))
    ack = session.execute(
        select(func.count(), func.coalesce(func.sum(case((acked <= C.c.ack_due_at, 1), else_=0)), 0))
        .where(_in(C.c.ack_due_at, week), ~withdrawn_before_ack)
    ).one()
    return WeekCounts(
        input_rows=_count(session, C.c.received_at < e),
        new=_count(session, _in(C.c.received_at, week)),
        responded=int(r_all), responded_on_time=int(r_on_time),
        closed=closed, withdrawn=withdrawn,
        open_at_end=int(open_row[0]), overdue_at_end=int(open_row[1]),
        ack_due=int(ack[0]), ack_on_time=int(ack[1]),
    )


def handling_histogram(session: Session, week: Week) -> tuple[tuple[int, int], ...]:
    """Minutes from receipt to decision of the cases decided in the week, as (minutes, count)."""
    dialect = session.get_bind().dialect.name
    minutes = _minutes(C.c.responded_at, C.c.received_at, dialect).label("m")
    rows = session.execute(select(minutes, func.count()).where(_in(C.c.responded_at, week)).group_by(minutes))
    return tuple((int(m), int(n)) for m, n in rows)


def new_groups(session: Session, week: Week) -> tuple[NewGroup, ...]:
    """New complaints of the week counted by every combination of the report's dimensions."""
    cols = [C.c.channel, C.c.category, C.c.cause, C.c.branch, C.c.outlet, C.c.department_branch, C.c.department]
    stmt = select(*cols, func.count().label("n")).where(_in(C.c.received_at, week)).group_by(*cols)
    return tuple(NewGroup(r.channel, r.category, r.cause, r.branch, r.outlet, r.department_branch, r.department, int(r.n))
                 for r in session.execute(stmt))


def open_by_department(session: Session, week: Week) -> tuple[DepartmentOpen, ...]:
    e = week.end
    cols = [C.c.department_branch, C.c.department]
    stmt = (
        select(*cols, func.count().label("open"),
               func.coalesce(func.sum(case((due_as_of(e) < e, 1), else_=0)), 0).label("overdue"))
        .select_from(with_extensions()).where(open_at(e)).group_by(*cols)
    )
    return tuple(DepartmentOpen(r.department_branch, r.department, int(r.open), int(r.overdue))
                 for r in session.execute(stmt))


def month_by_department(session: Session, start: datetime, end: datetime) -> tuple[DepartmentCount, ...]:
    """Complaints received from `start` to `end` per (branch of department, department): for caps."""
    cols = [C.c.department_branch, C.c.department]
    stmt = (select(*cols, func.count().label("n"))
            .where(C.c.received_at >= start, C.c.received_at < end).group_by(*cols))
    return tuple(DepartmentCount(r.department_branch, r.department, int(r.n)) for r in session.execute(stmt))


def escalations_by_level(session: Session, week: Week) -> tuple[EscalationCount, ...]:
    stmt = (select(ESC.c.level, ESC.c.name, func.count().label("n"))
            .where(_in(ESC.c.fired_at, week)).group_by(ESC.c.level, ESC.c.name).order_by(ESC.c.level))
    return tuple(EscalationCount(int(r.level), r.name, int(r.n)) for r in session.execute(stmt))


def extensions_by_tier(session: Session, week: Week) -> tuple[ExtensionCount, ...]:
    stmt = (select(EXT.c.to_tier, func.count().label("n"))
            .where(_in(EXT.c.recorded_at, week)).group_by(EXT.c.to_tier).order_by(EXT.c.to_tier))
    return tuple(ExtensionCount(r.to_tier, int(r.n)) for r in session.execute(stmt))


def pauses_by_reason(session: Session, week: Week) -> tuple[PauseCount, ...]:
    stmt = (select(CLOCK.c.reason, func.count().label("n"))
            .where(CLOCK.c.kind == "pause", _in(CLOCK.c.at, week)).group_by(CLOCK.c.reason).order_by(CLOCK.c.reason))
    return tuple(PauseCount(r.reason, int(r.n)) for r in session.execute(stmt))


_CASE_COLS = (C.c.id, C.c.case_no, C.c.received_at, C.c.branch, C.c.outlet, C.c.department_branch,
              C.c.department, C.c.category, C.c.severity, C.c.tags, C.c.status, C.c.responded_at,
              C.c.closed_at)


def sensitive_cases(session: Session, week: Week) -> tuple[SensitiveCase, ...]:
    """重大 and sensitive (舆情/司法/监管) complaints received in the week, the request already masked
    (`mask_free_text` with the case's names), so no personal data leaves this read."""
    e = week.end
    # The names are read only to mask them inside the request, and dropped.
    stmt = (select(*_CASE_COLS, C.c.request, C.c.complainant_name, C.c.agent_name, C.c.complainant_legal_rep,
                   due_as_of(e).label("due_at"))
            .select_from(with_extensions()).where(_in(C.c.received_at, week), _sensitive()).order_by(C.c.received_at, C.c.case_no))
    return tuple(
        SensitiveCase(case_no=r.case_no, received_at=r.received_at, branch=r.branch, department_branch=r.department_branch,
                      department=r.department, category=r.category, severity=r.severity, tags=tuple(r.tags or ()),
                      status=r.status, responded_at=r.responded_at, closed_at=r.closed_at, due_at=r.due_at,
                      request=mask_free_text(r.request or "",
                                             names=(r.complainant_name, r.agent_name, r.complainant_legal_rep)))
        for r in session.execute(stmt))


def repeat_cases(session: Session, week: Week, window_days: int) -> tuple[RepeatCase, ...]:
    """Complaints of the week whose complainant (same ID number or phone) complained about the
    same category within `window_days` before; the match stays inside SQL."""
    dialect = session.get_bind().dialect.name
    p = aliased(C)
    earlier = and_(
        p.c.category == C.c.category,
        p.c.received_at >= _minus_days(C.c.received_at, window_days, dialect),
        or_(p.c.received_at < C.c.received_at, and_(p.c.received_at == C.c.received_at, p.c.id < C.c.id)),
    )
    by_id = and_(C.c.complainant_id_number.is_not(None), p.c.complainant_id_number == C.c.complainant_id_number)
    by_phone = and_(C.c.complainant_phone.is_not(None), p.c.complainant_phone == C.c.complainant_phone)
    same_person = or_(exists().where(earlier, by_id), exists().where(earlier, by_phone))
    previous = (select(p.c.case_no).where(earlier, or_(by_id, by_phone))
                .order_by(p.c.received_at.desc(), p.c.id.desc()).limit(1).scalar_subquery())
    stmt = (select(C.c.case_no, C.c.received_at, C.c.category, C.c.department_branch, C.c.department,
                   previous.label("previous_case_no"))
            .where(_in(C.c.received_at, week), C.c.category.is_not(None), same_person)
            .order_by(C.c.received_at, C.c.case_no))
    return tuple(RepeatCase(r.case_no, r.received_at, r.category, r.department_branch, r.department, r.previous_case_no)
                 for r in session.execute(stmt))


def _top_escalation(row: Any) -> TopEscalation:
    return TopEscalation(int(row.level), row.name, tuple(Notified(str(x.get("title", "")), str(x.get("name", "")))
                                                         for x in row.recipients or ()))


def overdue_cases(session: Session, week: Week) -> tuple[OverdueCase, ...]:
    """Cases open and past their deadline at the week's end, with the chain and the highest
    escalation level fired before the end (who holds it)."""
    e = week.end
    due = due_as_of(e)
    stmt = (select(*_CASE_COLS, C.c.handler, C.c.chain, due.label("due_at"))
            .select_from(with_extensions()).where(open_at(e), due < e).order_by(due, C.c.case_no))
    rows = session.execute(stmt).all()
    ids = [r.id for r in rows]
    top: dict[int, TopEscalation] = {}
    for i in range(0, len(ids), 1000):
        esc = session.execute(
            select(ESC.c.complaint_id, ESC.c.level, ESC.c.name, ESC.c.recipients)
            .where(ESC.c.complaint_id.in_(ids[i:i + 1000]), ESC.c.fired_at < e)
            .order_by(ESC.c.complaint_id, ESC.c.level)
        )
        for e_row in esc:
            top[int(e_row.complaint_id)] = _top_escalation(e_row)  # ordered by level: the last is the highest
    return tuple(
        OverdueCase(case_no=r.case_no, received_at=r.received_at, department_branch=r.department_branch,
                    department=r.department, due_at=r.due_at, handler=r.handler,
                    chain=tuple(ChainSeat(m.get("level"), m.get("name")) for m in r.chain or ()),
                    escalation=top.get(r.id))
        for r in rows)


def trend(session: Session, weeks: Sequence[Week]) -> tuple[TrendPoint, ...]:
    """New, answered, open and overdue at the end, for each week (oldest first), in three queries."""
    first, last = weeks[0], weeks[-1]

    def bucket(col: Any) -> ColumnElement[Any]:
        return case(*((col < w.end, i) for i, w in enumerate(weeks)), else_=len(weeks))

    out: list[dict[str, Any]] = [{"week": w.label, "new": 0, "responded": 0, "overdue": 0, "open": 0} for w in weeks]
    for key, col in (("new", C.c.received_at), ("responded", C.c.responded_at)):
        b = bucket(col).label("b")
        stmt = select(b, func.count()).where(col >= first.start, col < last.end).group_by(b)
        for i, n in session.execute(stmt):
            out[int(i)][key] = int(n)
    # Open and overdue at each week end, from one pass grouped by three small numbers per case:
    # the first week end after its receipt, the last week end before its decision, and the first
    # week end past its deadline. A case is open at end i when first_open <= i <= last_open, and
    # overdue when also i >= first_overdue. The final deadline gives the same answer as the
    # deadline as of each end, because an extension is recorded before the deadline it moves.
    n = len(weeks)
    ended = _ended()
    first_open = case(*((C.c.received_at < w.end, i) for i, w in enumerate(weeks)), else_=n).label("fo")
    last_open = case((ended.is_(None), n - 1), *((ended < w.end, i - 1) for i, w in enumerate(weeks)),
                     else_=n - 1).label("lo")
    first_overdue = case(*((C.c.regulatory_due_at < w.end, i) for i, w in enumerate(weeks)), else_=n).label("fd")
    stmt2 = (select(first_open, last_open, first_overdue, func.count())
             .where(not_ended_before(first.end), case((C.c.received_at < last.end, 1), else_=0) == 1,
                    C.c.status != "merged")
             .group_by(first_open, last_open, first_overdue))
    for fo, lo, fd, count in session.execute(stmt2):
        for i in range(int(fo), int(lo) + 1):
            out[i]["open"] += int(count)
            if i >= int(fd):
                out[i]["overdue"] += int(count)
    return tuple(TrendPoint(**t) for t in out)


def totals(session: Session, week: Week) -> WeekTotals:
    """The counts and handling-time histogram of `week` (what week-over-week change needs)."""
    return WeekTotals(counts(session, week), handling_histogram(session, week))


def load_week(session: Session, week: Week, *, repeat_window_days: int, month_start: datetime,
              trend_weeks: int = 13) -> WeekData:
    """Every figure of `week` as of its end (read-only)."""
    return WeekData(
        week=week,
        counts=counts(session, week),
        handling_minutes=handling_histogram(session, week),
        groups=new_groups(session, week),
        open_by_department=open_by_department(session, week),
        month_by_department=month_by_department(session, month_start, week.end),
        escalations=escalations_by_level(session, week),
        extensions=extensions_by_tier(session, week),
        pauses=pauses_by_reason(session, week),
        sensitive=sensitive_cases(session, week),
        repeats=repeat_cases(session, week, repeat_window_days),
        overdue=overdue_cases(session, week),
        trend=trend(session, trailing(week, trend_weeks)),
    )


# ---------------------------------------------------------------- snapshots


def latest_snapshot(session: Session, week: str) -> Any | None:
    return session.execute(
        select(SNAP).where(SNAP.c.week == week).order_by(SNAP.c.version.desc()).limit(1)
    ).first()


def store_snapshot(session: Session, row: dict[str, Any]) -> None:
    session.execute(SNAP.insert(), [row])


# ---------------------------------------------------------------- as registered at a freeze
#
# `received_at` is when the bank received a complaint, `created_at` when the system registered it.
# A case registered after a week was frozen (补录, backdated) changes that week's figures as
# they are computed now; the frozen figures are reproduced from the cases registered before the
# freeze, and the later ones are named as late registrations.


def late_registrations(session: Session, week: Week, frozen_at: datetime) -> list[dict[str, Any]]:
    """Cases received before the week's end but registered at or after `frozen_at`."""
    stmt = (select(C.c.case_no, C.c.received_at, C.c.created_at)
            .where(C.c.received_at < week.end, C.c.created_at >= frozen_at)
            .order_by(C.c.received_at, C.c.case_no))
    return [dict(r._mapping) for r in session.execute(stmt)]


def _time_literal(dialect: str, at: datetime) -> str:
    utc = at.astimezone(UTC)
    if dialect == "sqlite":  # SQLite holds UTCDateTime as naive UTC text
        return "'" + utc.strftime("%Y-%m-%d %H:%M:%S.%f") + "'"
    return "TIMESTAMPTZ '" + utc.isoformat() + "'"


@contextmanager
def registered_before(session: Session, at: datetime) -> Iterator[None]:
    """Inside this block, every query of this session on `complaint` sees only the cases
    registered (created_at) before `at`: a temporary view of that name shadows the table for this
    connection (temporary objects come first in name lookup, on SQLite and PostgreSQL alike).
    Read-only use; the view is dropped on the way out (on an error the caller's rollback drops it).

    PostgreSQL re-plans a prepared statement when search_path changes, not when a new object
    shadows a table it names: pg_temp is put first in search_path explicitly for the block (so
    statements psycopg prepared earlier on this connection see the view), then set back."""
    conn = session.connection()
    dialect = conn.dialect.name
    original = None
    if dialect == "sqlite":
        source = "main.complaint"
    else:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        source = conn.dialect.identifier_preparer.quote_schema(str(schema)) + ".complaint"
        original = str(conn.execute(text("SELECT current_setting('search_path')")).scalar_one())
    conn.exec_driver_sql(f"CREATE TEMP VIEW complaint AS SELECT * FROM {source} "
                         f"WHERE created_at < {_time_literal(dialect, at)}")
    if original is not None:
        conn.execute(text("SELECT set_config('search_path', :p, true)"), {"p": "pg_temp, " + original})
    yield
    if original is not None:
        conn.execute(text("SELECT set_config('search_path', :p, true)"), {"p": original})
        conn.exec_driver_sql("DROP VIEW IF EXISTS pg_temp.complaint")
    else:
        conn.exec_driver_sql("DROP VIEW IF EXISTS temp.complaint")
