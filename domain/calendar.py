"""China's working-day calendar, with a bank's own overrides.

Working days are Monday–Friday except public holidays and the weekdays given off in exchange
(调休), plus the weekend days made working days in exchange (e.g. 2026-02-14 Sat). The data
comes from the `holidays` package (`holidays.China`, pure data, no I/O). The State Council
publishes each next year's schedule late in the year, so a bank can add working days or
holidays itself (`CalendarOverrides`); an override always wins over the package.

Answers are memoised per date, so a calendar is cheap to ask many times; years are added
to the underlying data on first use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from holidays.utils import country_holidays

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class CalendarOverrides:
    extra_workdays: frozenset[date] = frozenset()  # 调休 makeup days not yet in `holidays`
    extra_holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        both = self.extra_workdays & self.extra_holidays
        if both:
            days = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"a day cannot be both an extra workday and an extra holiday: {days}")


class WorkingCalendar:
    """Is a date a working day in mainland China, and working-day arithmetic over dates."""

    def __init__(
        self,
        *,
        overrides: CalendarOverrides = CalendarOverrides(),
        years: Iterable[int] | None = None,
    ) -> None:
        self.overrides = overrides
        self._china = country_holidays("CN", years=list(years) if years is not None else [])
        self._cache: dict[date, bool] = {}

    def is_working_day(self, d: date) -> bool:
        """True on a working day; the overrides win over the package's data."""
        cached = self._cache.get(d)
        if cached is not None:
            return cached
        if d in self.overrides.extra_workdays:
            result = True
        elif d in self.overrides.extra_holidays:
            result = False
        else:
            result = bool(self._china.is_working_day(d))
        self._cache[d] = result
        return result

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after `d`."""
        d += _ONE_DAY
        while not self.is_working_day(d):
            d += _ONE_DAY
        return d

    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day after `d` (`d` itself when n is 0)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        for _ in range(n):
            d = self.next_working_day(d)
        return d

    def working_days_between(self, start: date, end: date) -> int:
        """How many working days lie in (start, end]; 0 when end <= start."""
        count = 0
        d = start + _ONE_DAY
        while d <= end:
            if self.is_working_day(d):
                count += 1
            d += _ONE_DAY
        return count
