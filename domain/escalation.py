"""The escalation policy: when each level of the 一把手 chain must hear about a case, and who.

A level fires at the earliest of its triggers. A trigger is an offset from a deadline
(the regulatory due time, or the acknowledgement due time while the case is not yet
acknowledged), counted in calendar days or in working days on China's calendar; negative
offsets are before the deadline. The deadlines end at 23:59:59 local, so offset 0 on the
regulatory deadline is the last second of the last day and +2 is two days later.

Urgent cases (重大, 舆情/司法/监管, regulator-forwarded: `is_urgent`) start higher: every level up
to `urgent.start_level` is due at once when the clock starts, and every other trigger comes
`urgent.advance_days` earlier. A vulnerable customer's case has its triggers `vulnerable.
advance_days` earlier. While the clock is paused (鉴定/检测/评估/调解) nothing escalates: the
case is not running late, and the paused days will be added back to its deadline.

Recipients are resolved when a level fires, from the org chart: a vacant seat goes to its
acting holder, a person on leave to their delegate, and a seat nobody answers for to the next
level up (`resolve_recipients`).

Pure: no database, no clock; `now`, the calendar and the policy are arguments.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache

from domain.calendar import WorkingCalendar
from domain.classification import MAJOR_GROUP_SIZE
from domain.deadlines import SHANGHAI
from domain.lifecycle import OPEN_STATUSES, Status
from domain.org import CHAIN_ORDER, LEVEL_TITLES, ChainLevel, ChainMember, OrgChart
from domain.taxonomy import REGULATOR_SOURCES, SENSITIVE_TAG_CODES, Severity

_REGULATOR_SOURCES = frozenset(s.value for s in REGULATOR_SOURCES)

# A review (核查) has its own 30-day clock with the 上级机构; the branch's chain is not
# escalated on it again, so only these statuses escalate.
ESCALATING_STATUSES: frozenset[Status] = OPEN_STATUSES - {Status.UNDER_REVIEW}
_ESCALATING_VALUES = frozenset(s.value for s in ESCALATING_STATUSES)


class Anchor(StrEnum):
    REGULATORY_DUE = "regulatory_due"
    ACK_DUE = "ack_due"  # void once the case is acknowledged


class Unit(StrEnum):
    CALENDAR = "calendar"
    WORKING = "working"


@dataclass(frozen=True)
class Trigger:
    anchor: Anchor
    offset_days: int  # negative: before the deadline
    unit: Unit = Unit.CALENDAR

    def describe(self, advance: int = 0, why: str = "") -> str:
        """The trigger as it applies to a case: `advance` days earlier (urgent / vulnerable cases)
        moves the wording too, so an early level never claims the deadline has passed."""
        what = "答复期限" if self.anchor is Anchor.REGULATORY_DUE else "确认（受理告知）期限"
        unit = "个工作日" if self.unit is Unit.WORKING else "天"
        offset = self.offset_days - advance
        if offset < 0:
            text = f"距{what}{-offset}{unit}"
        elif offset == 0:
            text = f"{what}届满"
        else:
            text = f"超过{what}{offset}{unit}"
        return f"{text}（{why}提前 {advance} 天升级）" if advance else text


@dataclass(frozen=True)
class EscalationLevel:
    level: int
    name: str
    notify: tuple[ChainLevel, ...]
    triggers: tuple[Trigger, ...]


DEFAULT_SCHEDULE_PAGE = 5000  # new complaints scheduled per page (one transaction)
DEFAULT_SCHEDULE_PER_SWEEP = 100_000  # at most about this many new complaints scheduled per sweep (20 pages)


@dataclass(frozen=True)
class EscalationPolicy:
    levels: tuple[EscalationLevel, ...]  # ordered by level, levels unique
    urgent_start_level: int = -1  # levels <= this fire at once for urgent cases (-1: none)
    urgent_advance_days: int = 0
    vulnerable_advance_days: int = 0
    # How the sweep schedules new complaints (config/escalation.yaml `sweep.schedule_page`,
    # `sweep.schedule_per_sweep`): a page per transaction, at most about `schedule_per_sweep` a sweep.
    schedule_page: int = DEFAULT_SCHEDULE_PAGE
    schedule_per_sweep: int = DEFAULT_SCHEDULE_PER_SWEEP

    def level(self, n: int) -> EscalationLevel:
        for lv in self.levels:
            if lv.level == n:
                return lv
        raise KeyError(f"no escalation level {n}")


@dataclass(frozen=True)
class CaseClock:
    """What the policy needs to know about one case."""

    status: Status
    clock_started_at: datetime
    regulatory_due_at: datetime
    ack_due_at: datetime
    acknowledged: bool
    urgent: bool
    vulnerable: bool
    paused: bool


@dataclass(frozen=True)
class DueLevel:
    level: int
    due_at: datetime
    reason: str


def is_urgent(*, severity: str, severity_requested: str | None, group_size: int,
              tags: Iterable[str], source: str) -> bool:
    """重大 (given or 20+ together), sensitive (舆情/司法/监管) or forwarded by a regulator.

    Read from the stored fields so a case is known urgent from submission, before intake
    has classified it (the same rules as Classification.escalate_at_once).
    """
    return (
        severity == Severity.MAJOR.value
        or severity_requested == Severity.MAJOR.value
        or group_size >= MAJOR_GROUP_SIZE
        or bool(SENSITIVE_TAG_CODES.intersection(tags))
        or source in _REGULATOR_SOURCES
    )


def shift(anchor: datetime, days: int, unit: Unit, calendar: WorkingCalendar) -> datetime:
    """`anchor` moved by `days` calendar or working days, keeping its local time of day."""
    if unit is Unit.CALENDAR or days == 0:
        return anchor + timedelta(days=days)
    return _working_shift(anchor, days, calendar)


@lru_cache(maxsize=4096)
def _working_shift(anchor: datetime, days: int, calendar: WorkingCalendar) -> datetime:
    """Memoised: deadlines end at 23:59:59 local, so the cases of a sweep share a few anchors."""
    local = anchor.astimezone(SHANGHAI)
    d = local.date()
    step = timedelta(days=1 if days > 0 else -1)
    for _ in range(abs(days)):
        d += step
        while not calendar.is_working_day(d):
            d += step
    moved = datetime.combine(d, local.timetz().replace(tzinfo=None), tzinfo=SHANGHAI)
    return moved.astimezone(anchor.tzinfo)


def _trigger_time(trigger: Trigger, case: CaseClock, advance: int,
                  calendar: WorkingCalendar) -> datetime | None:
    if trigger.anchor is Anchor.ACK_DUE:
        if case.acknowledged:
            return None
        anchor = case.ack_due_at
    else:
        anchor = case.regulatory_due_at
    return shift(anchor, trigger.offset_days - advance, trigger.unit, calendar)


def level_times(case: CaseClock, policy: EscalationPolicy,
                calendar: WorkingCalendar) -> list[DueLevel]:
    """When each level becomes due for this case (levels with no live trigger are left out)."""
    advance, why = 0, ""
    if case.urgent and policy.urgent_advance_days > advance:
        advance, why = policy.urgent_advance_days, "重大/敏感/监管转办，"
    if case.vulnerable and policy.vulnerable_advance_days > advance:
        advance, why = policy.vulnerable_advance_days, "特殊群体，"
    out: list[DueLevel] = []
    for lv in policy.levels:
        if case.urgent and lv.level <= policy.urgent_start_level:
            out.append(DueLevel(lv.level, case.clock_started_at, "重大/敏感/监管转办，立即升级"))
            continue
        best: tuple[datetime, Trigger] | None = None
        for trigger in lv.triggers:
            at = _trigger_time(trigger, case, advance, calendar)
            if at is not None and (best is None or at < best[0]):
                best = (at, trigger)
        if best is not None:
            out.append(DueLevel(lv.level, best[0], best[1].describe(advance, why)))
    return out


def due_levels(case: CaseClock, *, fired: Collection[int], now: datetime,
               policy: EscalationPolicy, calendar: WorkingCalendar) -> list[DueLevel]:
    """The levels that are due by `now` and have not fired yet, lowest first."""
    return decide(case, fired=fired, now=now, policy=policy, calendar=calendar)[0]


def next_escalation(case: CaseClock, *, fired: Collection[int], policy: EscalationPolicy,
                    calendar: WorkingCalendar) -> DueLevel | None:
    """The earliest level still to fire, or None when nothing more will (closed, paused, all fired)."""
    if case.status not in ESCALATING_STATUSES or case.paused:
        return None
    return _earliest([d for d in level_times(case, policy, calendar) if d.level not in fired])


def _earliest(levels: Sequence[DueLevel]) -> DueLevel | None:
    return min(levels, key=lambda d: (d.due_at, d.level)) if levels else None


def decide(case: CaseClock, *, fired: Collection[int], now: datetime, policy: EscalationPolicy,
           calendar: WorkingCalendar) -> tuple[list[DueLevel], DueLevel | None]:
    """`due_levels` and then `next_escalation` once those have fired, from one `level_times`:
    what a sweep fires for the case now, and when the case is next due (None: never again)."""
    if case.status not in ESCALATING_STATUSES or case.paused:
        return [], None
    times = level_times(case, policy, calendar)
    due = [d for d in times if d.level not in fired and d.due_at <= now]
    done = set(fired).union(d.level for d in due)
    return due, _earliest([d for d in times if d.level not in done])


_NONE_FIRED: frozenset[int] = frozenset()


class SweepDecisions:
    """`decide` for the many cases of one sweep (one `now`, policy and calendar), memoised on what
    the policy reads of a case: the regulatory deadline, the acknowledgement deadline while not
    acknowledged, the clock start when urgent, urgent, vulnerable and the fired levels. A sweep's
    due cases share a few deadlines (23:59:59 local), so most cases are a dictionary look-up, and
    no `CaseClock` is built for them. The results are shared between cases: do not modify them.
    """

    def __init__(self, *, now: datetime, policy: EscalationPolicy, calendar: WorkingCalendar) -> None:
        self.now = now
        self.policy = policy
        self.calendar = calendar
        self._memo: dict[tuple[object, ...], tuple[tuple[DueLevel, ...], DueLevel | None]] = {}
        self._next: dict[tuple[object, ...], DueLevel | None] = {}

    def __call__(self, *, status: str, clock_started_at: datetime, regulatory_due_at: datetime,
                 ack_due_at: datetime, acknowledged: bool, urgent: bool, vulnerable: bool, paused: bool,
                 fired: Collection[int]) -> tuple[tuple[DueLevel, ...], DueLevel | None]:
        if paused or status not in _ESCALATING_VALUES:
            return (), None
        done = frozenset(fired)
        key = (regulatory_due_at, None if acknowledged else ack_due_at, clock_started_at if urgent else None,
               urgent, vulnerable, done)
        hit = self._memo.get(key)
        if hit is None:
            case = CaseClock(status=Status(status), clock_started_at=clock_started_at,
                             regulatory_due_at=regulatory_due_at, ack_due_at=ack_due_at, acknowledged=acknowledged,
                             urgent=urgent, vulnerable=vulnerable, paused=False)
            due, nxt = decide(case, fired=done, now=self.now, policy=self.policy, calendar=self.calendar)
            hit = self._memo[key] = (tuple(due), nxt)
        return hit

    def next(self, *, status: str, clock_started_at: datetime, regulatory_due_at: datetime,
             ack_due_at: datetime, acknowledged: bool, urgent: bool, vulnerable: bool, paused: bool,
             fired: Collection[int]) -> DueLevel | None:
        """`next_escalation`, memoised on the same key: the earliest level still to fire (due or
        not), which is what a case's schedule row holds."""
        if paused or status not in _ESCALATING_VALUES:
            return None
        done = frozenset(fired) if fired else _NONE_FIRED
        key = (regulatory_due_at, None if acknowledged else ack_due_at, clock_started_at if urgent else None,
               urgent, vulnerable, done)
        try:
            return self._next[key]
        except KeyError:
            pass
        case = CaseClock(status=Status(status), clock_started_at=clock_started_at,
                         regulatory_due_at=regulatory_due_at, ack_due_at=ack_due_at, acknowledged=acknowledged,
                         urgent=urgent, vulnerable=vulnerable, paused=False)
        nxt = self._next[key] = next_escalation(case, fired=done, policy=self.policy, calendar=self.calendar)
        return nxt


@dataclass(frozen=True)
class Recipient:
    person_id: str
    seat: ChainLevel  # the seat the level asked for
    title: str  # the title of the seat that actually answers
    acting: bool  # acting holder or leave delegate
    moved_up: bool  # the asked-for seat had nobody: the next level up receives it


def _handler_member(org: OrgChart, handler: str | None) -> ChainMember | None:
    if handler is None:
        return None
    person = org.people.get(handler)
    if person is not None and person.on_leave:
        if person.delegate:
            return ChainMember(ChainLevel.HANDLER, LEVEL_TITLES[ChainLevel.HANDLER], person.delegate, True)
        return None
    return ChainMember(ChainLevel.HANDLER, LEVEL_TITLES[ChainLevel.HANDLER], handler)


def case_chain(org: OrgChart, *, branch: str, department_branch: str | None, department: str | None,
               handler: str | None) -> tuple[ChainMember, ...]:
    """The chain for a case as the org chart stands now (the triage department if unrouted)."""
    found = org.find_department(department_branch or branch, department) if department else None
    if found is None:
        found = org.cp_department(branch)
    if found is None:
        return ()
    owning, dept = found
    members = org.chain(branch_code=owning.code, department=dept, handler=None)
    first = _handler_member(org, handler)
    return ((first,) if first else ()) + members


def resolve_recipients(chain: Sequence[ChainMember], seats: Iterable[ChainLevel]) -> tuple[Recipient, ...]:
    """For each seat, who answers: the member at that seat, else the next one up; no one twice."""
    rank: Mapping[ChainLevel, int] = {lv: i for i, lv in enumerate(CHAIN_ORDER)}
    out: list[Recipient] = []
    seen: set[str] = set()
    for seat in seats:
        member = next((m for m in chain if rank[m.level] >= rank[seat]), None)
        if member is None or member.person_id in seen:
            continue
        seen.add(member.person_id)
        out.append(Recipient(member.person_id, seat, member.title, member.acting, member.level is not seat))
    return tuple(out)


def lateness_days(due_at: datetime, now: datetime) -> int:
    """Whole local days past the deadline (negative: days left), by Asia/Shanghai dates."""
    return (now.astimezone(SHANGHAI).date() - due_at.astimezone(SHANGHAI).date()).days
