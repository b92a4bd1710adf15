"""What the weekly report reads for a week, as typed values: the SQL layer (models/report.py
`load_week`) fills a `WeekData`, and `domain.report.build_content` shapes it into the report's
content (`domain.report.ReportContent`).

Every figure is "as of the week's end" (docs/report.md). The rows carry no complainant data: the
one free text (a sensitive case's request) is masked by the loader before it is put here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # domain.report shapes these and imports this module
    from domain.report import Week


@dataclass(frozen=True)
class WeekCounts:
    """The headline counts of one week, each by its own timestamp."""

    input_rows: int  # received before the week's end
    new: int
    responded: int
    responded_on_time: int
    closed: int
    withdrawn: int
    open_at_end: int
    overdue_at_end: int
    ack_due: int
    ack_on_time: int


@dataclass(frozen=True)
class WeekTotals:
    """What week-over-week change needs of a week: its counts and its handling-time histogram."""

    counts: WeekCounts
    handling_minutes: tuple[tuple[int, int], ...]  # (minutes from receipt to answer, cases)


@dataclass(frozen=True)
class NewGroup:
    """New complaints of the week with one combination of the report's dimensions."""

    channel: str | None
    category: str | None
    cause: str | None
    branch: str | None
    outlet: str | None
    department_branch: str | None
    department: str | None
    n: int


@dataclass(frozen=True)
class DepartmentOpen:
    """Cases open and overdue at the week's end in one (branch of department, department)."""

    department_branch: str | None
    department: str | None
    open: int
    overdue: int


@dataclass(frozen=True)
class DepartmentCount:
    """Complaints received month-to-date in one (branch of department, department): for the caps."""

    department_branch: str | None
    department: str | None
    n: int


@dataclass(frozen=True)
class EscalationCount:
    level: int
    name: str
    n: int


@dataclass(frozen=True)
class ExtensionCount:
    to_tier: str  # complex / special
    n: int


@dataclass(frozen=True)
class PauseCount:
    reason: str | None
    n: int


@dataclass(frozen=True)
class SensitiveCase:
    """A 重大 or sensitive complaint received in the week; `request` already masked."""

    case_no: str
    received_at: datetime
    branch: str | None
    department_branch: str | None
    department: str | None
    category: str | None
    severity: str
    tags: tuple[str, ...]
    status: str
    responded_at: datetime | None
    closed_at: datetime | None
    due_at: datetime | None  # the deadline that stood at the week's end
    request: str


@dataclass(frozen=True)
class RepeatCase:
    """A complaint of the week whose complainant complained about the same category before."""

    case_no: str
    received_at: datetime
    category: str
    department_branch: str | None
    department: str | None
    previous_case_no: str | None


@dataclass(frozen=True)
class ChainSeat:
    """One seat of the responsibility chain snapshotted at routing (domain.org.chain_snapshot)."""

    level: str
    name: str | None


@dataclass(frozen=True)
class Notified:
    """Whom an escalation went to, as the report names them (title and name)."""

    title: str
    name: str


@dataclass(frozen=True)
class TopEscalation:
    """The highest escalation level fired for a case before the week's end."""

    level: int
    name: str
    recipients: tuple[Notified, ...]


@dataclass(frozen=True)
class OverdueCase:
    """A case open and past its deadline (as of the week's end) at the week's end."""

    case_no: str
    received_at: datetime
    department_branch: str | None
    department: str | None
    due_at: datetime
    handler: str | None  # the handler's person id
    chain: tuple[ChainSeat, ...]
    escalation: TopEscalation | None


@dataclass(frozen=True)
class TrendPoint:
    """One week of the 13-week trend: new and answered in it, open and overdue at its end."""

    week: str
    new: int
    responded: int
    open: int
    overdue: int


@dataclass(frozen=True)
class WeekData:
    """Every figure of one week as of its end, as the SQL layer read it, before it is shaped into tables."""

    week: Week
    counts: WeekCounts
    handling_minutes: tuple[tuple[int, int], ...]
    groups: tuple[NewGroup, ...]
    open_by_department: tuple[DepartmentOpen, ...]
    month_by_department: tuple[DepartmentCount, ...]
    escalations: tuple[EscalationCount, ...]
    extensions: tuple[ExtensionCount, ...]
    pauses: tuple[PauseCount, ...]
    sensitive: tuple[SensitiveCase, ...]
    repeats: tuple[RepeatCase, ...]
    overdue: tuple[OverdueCase, ...]
    trend: tuple[TrendPoint, ...]

    @property
    def totals(self) -> WeekTotals:
        return WeekTotals(self.counts, self.handling_minutes)
