"""Tests of China's working-day calendar (holidays 0.108 data for 2026) and its overrides."""

import time
from datetime import date, timedelta

import pytest

from domain.calendar import CalendarOverrides, WorkingCalendar


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


def test_spring_festival_2026(cal: WorkingCalendar) -> None:
    """2026-02-15..23 are off and the makeup Saturdays 02-14 and 02-28 are working days."""
    assert not any(cal.is_working_day(d) for d in _days(date(2026, 2, 15), date(2026, 2, 23)))
    assert cal.is_working_day(date(2026, 2, 14))
    assert cal.is_working_day(date(2026, 2, 28))
    assert cal.is_working_day(date(2026, 2, 13))
    assert cal.is_working_day(date(2026, 2, 24))


def test_national_day_2026(cal: WorkingCalendar) -> None:
    """2026-10-01..07 are off; makeup Sun 09-20 and Sat 10-10 are working days."""
    assert not any(cal.is_working_day(d) for d in _days(date(2026, 10, 1), date(2026, 10, 7)))
    assert cal.is_working_day(date(2026, 9, 20))
    assert cal.is_working_day(date(2026, 10, 10))
    assert cal.is_working_day(date(2026, 10, 8))
    assert not cal.is_working_day(date(2026, 10, 11))


def test_new_year_2026_makeup_sunday(cal: WorkingCalendar) -> None:
    """2026-01-01/02 are off and Sun 2026-01-04 is a makeup working day."""
    assert not cal.is_working_day(date(2026, 1, 1))
    assert not cal.is_working_day(date(2026, 1, 2))
    assert not cal.is_working_day(date(2026, 1, 3))
    assert cal.is_working_day(date(2026, 1, 4))


def test_ordinary_weekend_is_off(cal: WorkingCalendar) -> None:
    """A plain weekend is off and a plain weekday is working."""
    assert not cal.is_working_day(date(2026, 3, 7))
    assert not cal.is_working_day(date(2026, 3, 8))
    assert cal.is_working_day(date(2026, 3, 9))


def test_next_working_day_is_strictly_after(cal: WorkingCalendar) -> None:
    """next_working_day skips holidays and lands on makeup days, never returning the day itself."""
    assert cal.next_working_day(date(2026, 3, 9)) == date(2026, 3, 10)
    assert cal.next_working_day(date(2026, 9, 30)) == date(2026, 10, 8)
    assert cal.next_working_day(date(2026, 9, 18)) == date(2026, 9, 20)
    assert cal.next_working_day(date(2026, 2, 13)) == date(2026, 2, 14)
    assert cal.next_working_day(date(2026, 2, 14)) == date(2026, 2, 24)


def test_add_working_days(cal: WorkingCalendar) -> None:
    """add_working_days counts n working days after the date, holidays skipped."""
    assert cal.add_working_days(date(2026, 9, 29), 0) == date(2026, 9, 29)
    assert cal.add_working_days(date(2026, 9, 29), 1) == date(2026, 9, 30)
    assert cal.add_working_days(date(2026, 9, 29), 2) == date(2026, 10, 8)
    assert cal.add_working_days(date(2026, 9, 29), 4) == date(2026, 10, 10)
    with pytest.raises(ValueError, match="n must be >= 0"):
        cal.add_working_days(date(2026, 9, 29), -1)


def test_working_days_between(cal: WorkingCalendar) -> None:
    """working_days_between counts working days in (start, end] and is 0 when end <= start."""
    assert cal.working_days_between(date(2026, 9, 30), date(2026, 10, 8)) == 1
    assert cal.working_days_between(date(2026, 9, 29), date(2026, 10, 10)) == 4
    assert (
        cal.working_days_between(date(2026, 2, 13), date(2026, 2, 28)) == 6
    )  # 02-14, 02-24..27, 02-28
    assert cal.working_days_between(date(2026, 3, 10), date(2026, 3, 10)) == 0
    assert cal.working_days_between(date(2026, 3, 10), date(2026, 3, 1)) == 0


def test_add_and_between_agree(cal: WorkingCalendar) -> None:
    """Adding n working days and counting back between the dates gives n again."""
    start = date(2026, 1, 1)
    for n in range(0, 300, 7):
        assert cal.working_days_between(start, cal.add_working_days(start, n)) == n


def test_overrides_win() -> None:
    """An extra workday and an extra holiday override the package's data."""
    overrides = CalendarOverrides(
        extra_workdays=frozenset({date(2026, 10, 3), date(2027, 2, 6)}),
        extra_holidays=frozenset({date(2026, 9, 20), date(2026, 3, 9)}),
    )
    cal = WorkingCalendar(overrides=overrides, years=[2026])
    assert cal.is_working_day(date(2026, 10, 3))
    assert cal.is_working_day(date(2027, 2, 6))
    assert not cal.is_working_day(date(2026, 9, 20))
    assert not cal.is_working_day(date(2026, 3, 9))
    assert cal.next_working_day(date(2026, 9, 18)) == date(2026, 9, 21)


def test_overrides_reject_a_day_in_both_sets() -> None:
    """A day cannot be both an extra workday and an extra holiday."""
    with pytest.raises(ValueError, match="2026-05-09"):
        CalendarOverrides(
            extra_workdays=frozenset({date(2026, 5, 9)}),
            extra_holidays=frozenset({date(2026, 5, 9)}),
        )


def test_years_are_extended_lazily() -> None:
    """A calendar built for one year still answers for other years."""
    cal = WorkingCalendar(years=[2026])
    assert not cal.is_working_day(date(2025, 10, 1))
    assert not cal.is_working_day(date(2027, 1, 1))
    assert cal.is_working_day(date(2025, 9, 28))  # 2025 National Day makeup Sunday


def test_a_million_lookups_are_fast(cal: WorkingCalendar) -> None:
    """A million memoised lookups take well under two seconds."""
    days = _days(date(2026, 1, 1), date(2027, 12, 31))
    started = time.perf_counter()
    for i in range(1_000_000):
        cal.is_working_day(days[i % len(days)])
    assert time.perf_counter() - started < 2.0
