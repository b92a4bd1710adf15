"""Deadline arithmetic for one complaint: the regulatory due time and the acknowledgement due time.

Project rule (regulation.md §1, our conservative reading of NFRA Art. 18 and 43):

* Days are calendar days. The day of receipt is not counted (Civil Code art. 201): a case
  received on local date D with N days is due at 23:59:59 Asia/Shanghai on D + N. A holiday
  on the last day does **not** push the deadline later.
* N comes from the regime and the tier; for the NFRA rule 15 / 30 / 60.
* Paused intervals (鉴定、检测、评估, mediation) add back their whole calendar days: an interval
  from local date S to local date E adds (E − S).days, so a pause within one day adds 0 and
  Mon 10:00 → Wed 16:00 adds 2. A pause still open counts up to `now` (0 without `now`).
* New facts or reasons (RESTART, Art. 18) start the clock again at the restart's time; pauses
  before it are dropped. A pause still open at the restart carries on, counted from the
  restart.
* The acknowledgement is due at 23:59:59 local on the first working day after the local date
  of the original receipt, whatever restarts happen later.

Every datetime given must be timezone-aware (ValueError naming the argument otherwise); every
datetime returned is aware and in UTC. Events are taken in order of `at`; events with equal
`at` keep the order they were given in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from domain.calendar import WorkingCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
_END_OF_DAY = time(23, 59, 59)


class Tier(StrEnum):
    STANDARD = "standard"
    COMPLEX = "complex"
    SPECIAL = "special"


class ClockKind(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    RESTART = "restart"


@dataclass(frozen=True)
class ClockEvent:
    kind: ClockKind
    at: datetime
    reason: str = ""


@dataclass(frozen=True)
class Deadlines:
    regulatory_due_at: datetime
    ack_due_at: datetime
    clock_started_at: datetime
    paused_days: int
    open_pause_since: datetime | None


class DeadlineRegime(Protocol):
    name: str

    def regulatory_days(self, tier: Tier) -> int: ...


class NfraRegime:
    """NFRA Order 2020 No. 3, Art. 18: 15 days, 30 when complex, 60 with special approval."""

    name: str = "nfra"
    _DAYS = {Tier.STANDARD: 15, Tier.COMPLEX: 30, Tier.SPECIAL: 60}

    def regulatory_days(self, tier: Tier) -> int:
        return self._DAYS[tier]


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


@lru_cache(maxsize=4096)
def end_of_local_day(d: date) -> datetime:
    """23:59:59 Asia/Shanghai on `d`, as an aware UTC datetime."""
    return datetime.combine(d, _END_OF_DAY, tzinfo=SHANGHAI).astimezone(UTC)


def local_date(at: datetime) -> date:
    """The Asia/Shanghai calendar date of an aware datetime; ValueError when naive."""
    _require_aware("at", at)
    return at.astimezone(SHANGHAI).date()


MINUTE_FORMAT = "%Y-%m-%d %H:%M"


@lru_cache(maxsize=65536)
def local_text(at: datetime, fmt: str = MINUTE_FORMAT) -> str:
    """An instant as Asia/Shanghai wall time (to the minute unless `fmt` says otherwise), as people read
    it in messages, reports and pages: the one definition."""
    return at.astimezone(SHANGHAI).strftime(fmt)


def regulatory_due_at(*, received_at: datetime, days: int, paused_days: int = 0) -> datetime:
    """End of the local day `days + paused_days` calendar days after the local receipt date."""
    _require_aware("received_at", received_at)
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    if paused_days < 0:
        raise ValueError(f"paused_days must be >= 0, got {paused_days}")
    return _regulatory_due_on(local_date(received_at), days + paused_days)


def ack_due_at(*, received_at: datetime, calendar: WorkingCalendar) -> datetime:
    """End of the first working day after the local receipt date."""
    _require_aware("received_at", received_at)
    return _ack_due_on(local_date(received_at), calendar)


def _regulatory_due_on(received_on: date, days: int) -> datetime:
    return end_of_local_day(received_on + timedelta(days=days))


def _ack_due_on(received_on: date, calendar: WorkingCalendar) -> datetime:
    return end_of_local_day(calendar.next_working_day(received_on))


def _sorted_events(events: Sequence[ClockEvent]) -> list[ClockEvent]:
    for i, event in enumerate(events):
        _require_aware(f"events[{i}].at", event.at)
    return sorted(events, key=lambda e: e.at)


def _days_between(start: datetime, end: datetime) -> int:
    return max(0, (local_date(end) - local_date(start)).days)


def paused_days(
    events: Sequence[ClockEvent], *, now: datetime | None
) -> tuple[int, datetime | None]:
    """Whole calendar days paused since the last restart, and when a still-open pause began."""
    if now is not None:
        _require_aware("now", now)
    total = 0
    open_since: datetime | None = None
    for event in _sorted_events(events):
        if event.kind is ClockKind.PAUSE:
            if open_since is not None:
                raise ValueError(
                    f"pause at {event.at.isoformat()} while the clock is already paused "
                    f"since {open_since.isoformat()}"
                )
            open_since = event.at
        elif event.kind is ClockKind.RESUME:
            if open_since is None:
                raise ValueError(f"resume at {event.at.isoformat()} without an open pause")
            total += _days_between(open_since, event.at)
            open_since = None
        else:  # RESTART: the clock starts again; earlier pauses no longer count
            total = 0
            if open_since is not None:
                open_since = event.at
    if open_since is not None and now is not None:
        total += _days_between(open_since, now)
    return total, (open_since.astimezone(UTC) if open_since is not None else None)


def compute_deadlines(
    *,
    received_at: datetime,
    tier: Tier,
    events: Sequence[ClockEvent],
    regime: DeadlineRegime,
    calendar: WorkingCalendar,
    now: datetime | None = None,
) -> Deadlines:
    """The regulatory and acknowledgement deadlines of one complaint from its clock events."""
    _require_aware("received_at", received_at)
    if now is not None:
        _require_aware("now", now)
    if not events:  # a new complaint (every submission): the same answer, without the event walk
        received_on = received_at.astimezone(SHANGHAI).date()  # aware: checked above
        return Deadlines(
            regulatory_due_at=_regulatory_due_on(received_on, regime.regulatory_days(tier)),
            ack_due_at=_ack_due_on(received_on, calendar),
            clock_started_at=received_at.astimezone(UTC),
            paused_days=0,
            open_pause_since=None,
        )
    ordered = _sorted_events(events)
    if ordered and ordered[0].at < received_at:
        first = ordered[0]
        raise ValueError(
            f"clock event {first.kind.value} at {first.at.isoformat()} is before the "
            f"complaint was received ({received_at.isoformat()})"
        )
    restarts = [e for e in ordered if e.kind is ClockKind.RESTART]
    started = restarts[-1].at if restarts else received_at
    paused, open_since = paused_days(ordered, now=now)
    return Deadlines(
        regulatory_due_at=regulatory_due_at(
            received_at=started, days=regime.regulatory_days(tier), paused_days=paused
        ),
        ack_due_at=ack_due_at(received_at=received_at, calendar=calendar),
        clock_started_at=started.astimezone(UTC),
        paused_days=paused,
        open_pause_since=open_since,
    )


def lift_text(until: datetime) -> str:
    """When a sign-in lock lifts, as people read it (Beijing time)."""
    return f"{local_text(until)}（北京时间）"
