"""Tests of the regulatory and acknowledgement deadlines (NFRA calendar days, China working days)."""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.calendar import CalendarOverrides, WorkingCalendar
from domain.deadlines import (
    SHANGHAI,
    ClockEvent,
    ClockKind,
    Deadlines,
    NfraRegime,
    Tier,
    ack_due_at,
    compute_deadlines,
    end_of_local_day,
    local_date,
    paused_days,
    regulatory_due_at,
)

CAL = WorkingCalendar()
NFRA = NfraRegime()


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, s, tzinfo=SHANGHAI)


def eod(y: int, m: int, d: int) -> datetime:
    return local(y, m, d, 23, 59, 59)


def pause(at: datetime) -> ClockEvent:
    return ClockEvent(ClockKind.PAUSE, at, "鉴定")


def resume(at: datetime) -> ClockEvent:
    return ClockEvent(ClockKind.RESUME, at)


def restart(at: datetime) -> ClockEvent:
    return ClockEvent(ClockKind.RESTART, at, "补充新的事实和理由")


def compute(
    received_at: datetime,
    events: list[ClockEvent] | None = None,
    *,
    tier: Tier = Tier.STANDARD,
    now: datetime | None = None,
    calendar: WorkingCalendar = CAL,
) -> Deadlines:
    return compute_deadlines(
        received_at=received_at,
        tier=tier,
        events=events or [],
        regime=NFRA,
        calendar=calendar,
        now=now,
    )


def test_nfra_regime_days() -> None:
    """The NFRA regime gives 15, 30 and 60 calendar days."""
    assert NFRA.name == "nfra"
    assert [NFRA.regulatory_days(t) for t in Tier] == [15, 30, 60]


def test_end_of_local_day_is_utc() -> None:
    """23:59:59 in Shanghai is 15:59:59 UTC the same date, returned with UTC tzinfo."""
    result = end_of_local_day(date(2026, 3, 17))
    assert result == datetime(2026, 3, 17, 15, 59, 59, tzinfo=UTC)
    assert result.tzinfo is UTC


def test_local_date_uses_shanghai_and_rejects_naive() -> None:
    """16:30 UTC is already the next local day; a naive datetime is refused."""
    assert local_date(datetime(2026, 3, 2, 16, 30, tzinfo=UTC)) == date(2026, 3, 3)
    with pytest.raises(ValueError, match="at must be timezone-aware"):
        local_date(datetime(2026, 3, 2, 16, 30))


def test_standard_deadline_does_not_count_the_receipt_day() -> None:
    """Received 2026-03-02 → due 2026-03-17 23:59:59 local, in UTC."""
    d = compute(local(2026, 3, 2, 10))
    assert d.regulatory_due_at == eod(2026, 3, 17)
    assert d.regulatory_due_at.tzinfo is UTC
    assert d.clock_started_at == local(2026, 3, 2, 10)
    assert d.clock_started_at.tzinfo is UTC
    assert (d.paused_days, d.open_pause_since) == (0, None)


@pytest.mark.parametrize(
    ("tier", "due"), [(Tier.COMPLEX, eod(2026, 4, 1)), (Tier.SPECIAL, eod(2026, 5, 1))]
)
def test_longer_tiers(tier: Tier, due: datetime) -> None:
    """Complex cases get 30 days and special cases 60, counted the same way."""
    assert compute(local(2026, 3, 2, 10), tier=tier).regulatory_due_at == due


def test_holiday_on_last_day_does_not_push() -> None:
    """Due on National Day 2026-10-01 stays 2026-10-01: calendar days, no holiday shift."""
    assert compute(local(2026, 9, 16, 9)).regulatory_due_at == eod(2026, 10, 1)


def test_deadline_across_spring_festival() -> None:
    """Received 2026-02-10 → due 2026-02-25 though Spring Festival falls in between."""
    assert compute(local(2026, 2, 10, 9)).regulatory_due_at == eod(2026, 2, 25)


def test_receipt_just_after_local_midnight_counts_by_local_date() -> None:
    """00:30 local on 2026-03-03 (still 03-02 in UTC) counts from 2026-03-03."""
    received = local(2026, 3, 3, 0, 30)
    assert received.astimezone(UTC).date() == date(2026, 3, 2)
    d = compute(received.astimezone(UTC))
    assert d.regulatory_due_at == eod(2026, 3, 18)
    assert d.ack_due_at == eod(2026, 3, 4)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (local(2026, 9, 30, 15), eod(2026, 10, 8)),  # National Day
        (local(2026, 9, 18, 15), eod(2026, 9, 20)),  # Fri → makeup Sunday
        (local(2026, 2, 13, 15), eod(2026, 2, 14)),  # Fri → makeup Saturday
        (local(2026, 2, 14, 15), eod(2026, 2, 24)),  # Spring Festival
        (local(2026, 3, 6, 15), eod(2026, 3, 9)),  # ordinary weekend
    ],
)
def test_ack_due_on_next_working_day(received: datetime, due: datetime) -> None:
    """The acknowledgement is due at the end of the first working day after the receipt date."""
    assert ack_due_at(received_at=received, calendar=CAL) == due
    assert compute(received).ack_due_at == due


def test_ack_respects_overrides() -> None:
    """A bank's extra workday or extra holiday changes the acknowledgement deadline."""
    extra_work = WorkingCalendar(
        overrides=CalendarOverrides(extra_workdays=frozenset({date(2026, 10, 2)}))
    )
    extra_off = WorkingCalendar(
        overrides=CalendarOverrides(extra_holidays=frozenset({date(2026, 3, 9)}))
    )
    assert ack_due_at(received_at=local(2026, 9, 30, 15), calendar=extra_work) == eod(2026, 10, 2)
    assert ack_due_at(received_at=local(2026, 3, 6, 15), calendar=extra_off) == eod(2026, 3, 10)


def test_regulatory_due_at_adds_paused_days_and_validates() -> None:
    """Paused days extend the due date; negative numbers and naive times are refused."""
    assert regulatory_due_at(received_at=local(2026, 3, 2, 10), days=15, paused_days=3) == eod(
        2026, 3, 20
    )
    with pytest.raises(ValueError, match="days must be >= 0"):
        regulatory_due_at(received_at=local(2026, 3, 2), days=-1)
    with pytest.raises(ValueError, match="paused_days must be >= 0"):
        regulatory_due_at(received_at=local(2026, 3, 2), days=15, paused_days=-1)
    with pytest.raises(ValueError, match="received_at must be timezone-aware"):
        regulatory_due_at(received_at=datetime(2026, 3, 2), days=15)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: compute(datetime(2026, 3, 2, 10)), "received_at"),
        (lambda: compute(local(2026, 3, 2), now=datetime(2026, 3, 5)), "now"),
        (
            lambda: compute(
                local(2026, 3, 2), [pause(local(2026, 3, 3)), resume(datetime(2026, 3, 5))]
            ),
            r"events\[1\]\.at",
        ),
        (lambda: ack_due_at(received_at=datetime(2026, 3, 2), calendar=CAL), "received_at"),
        (lambda: paused_days([], now=datetime(2026, 3, 5)), "now"),
    ],
)
def test_naive_inputs_are_refused_by_name(call: Callable[[], object], argument: str) -> None:
    """Every naive datetime raises ValueError naming the argument it came in."""
    with pytest.raises(ValueError, match=f"{argument} must be timezone-aware"):
        call()


def test_pause_adds_whole_calendar_days() -> None:
    """Mon 10:00 → Wed 16:00 adds 2 days; a pause within one day adds 0."""
    events = [pause(local(2026, 3, 9, 10)), resume(local(2026, 3, 11, 16))]
    d = compute(local(2026, 3, 2, 10), events)
    assert d.paused_days == 2
    assert d.regulatory_due_at == eod(2026, 3, 19)
    same_day = [pause(local(2026, 3, 9, 10)), resume(local(2026, 3, 9, 17))]
    assert compute(local(2026, 3, 2, 10), same_day).paused_days == 0


def test_several_pauses_add_up_and_are_sorted() -> None:
    """Two intervals given out of order are sorted by time and their days summed."""
    events = [
        resume(local(2026, 3, 12, 9)),
        pause(local(2026, 3, 10, 9)),
        pause(local(2026, 3, 4, 9)),
        resume(local(2026, 3, 5, 9)),
    ]
    assert paused_days(events, now=None) == (3, None)


def test_open_pause_counts_up_to_now() -> None:
    """An open pause counts whole days up to now and is reported as open since its start."""
    events = [pause(local(2026, 3, 9, 10))]
    d = compute(local(2026, 3, 2, 10), events, now=local(2026, 3, 13, 8))
    assert d.paused_days == 4
    assert d.open_pause_since == local(2026, 3, 9, 10)
    assert d.open_pause_since is not None and d.open_pause_since.tzinfo is UTC
    assert d.regulatory_due_at == eod(2026, 3, 21)


def test_open_pause_without_now_counts_zero() -> None:
    """Without now an open pause adds nothing but is still reported."""
    d = compute(local(2026, 3, 2, 10), [pause(local(2026, 3, 9, 10))])
    assert d.paused_days == 0
    assert d.open_pause_since == local(2026, 3, 9, 10)


def test_resume_without_pause_is_refused() -> None:
    """A RESUME with no open pause raises a clear ValueError."""
    with pytest.raises(ValueError, match="resume at .* without an open pause"):
        paused_days([resume(local(2026, 3, 9, 10))], now=None)


def test_pause_while_paused_is_refused() -> None:
    """A second PAUSE while paused raises a clear ValueError."""
    with pytest.raises(ValueError, match="already paused since"):
        paused_days([pause(local(2026, 3, 9, 10)), pause(local(2026, 3, 10, 10))], now=None)


def test_event_before_receipt_is_refused() -> None:
    """A clock event dated before the receipt is refused."""
    with pytest.raises(ValueError, match="before the complaint was received"):
        compute(local(2026, 3, 2, 10), [pause(local(2026, 3, 1, 10)), resume(local(2026, 3, 3))])


def test_restart_starts_the_clock_again_and_drops_earlier_pauses() -> None:
    """New facts restart the regulatory clock; pauses before it no longer count; ack stays."""
    events = [
        pause(local(2026, 3, 3, 10)),
        resume(local(2026, 3, 8, 10)),
        restart(local(2026, 3, 10, 14)),
    ]
    d = compute(local(2026, 3, 2, 10), events)
    assert d.clock_started_at == local(2026, 3, 10, 14)
    assert d.paused_days == 0
    assert d.regulatory_due_at == eod(2026, 3, 25)
    assert d.ack_due_at == eod(2026, 3, 3)


def test_pause_after_restart_counts() -> None:
    """Pauses after the latest restart still extend the new deadline."""
    events = [
        restart(local(2026, 3, 10, 14)),
        pause(local(2026, 3, 11, 9)),
        resume(local(2026, 3, 14, 9)),
    ]
    assert compute(local(2026, 3, 2, 10), events).regulatory_due_at == eod(2026, 3, 28)


def test_open_pause_carries_over_a_restart() -> None:
    """A pause open at a restart carries on, counted from the restart, and can be resumed."""
    events = [
        pause(local(2026, 3, 3, 10)),
        restart(local(2026, 3, 10, 14)),
        resume(local(2026, 3, 12, 9)),
    ]
    d = compute(local(2026, 3, 2, 10), events)
    assert d.paused_days == 2
    assert d.regulatory_due_at == eod(2026, 3, 27)
    still_open = compute(local(2026, 3, 2, 10), events[:2], now=local(2026, 3, 11, 9))
    assert (still_open.paused_days, still_open.open_pause_since) == (1, local(2026, 3, 10, 14))


received_times = st.datetimes(
    min_value=datetime(2024, 1, 1),
    max_value=datetime(2028, 12, 31),
    timezones=st.sampled_from([UTC, SHANGHAI]),
)
offsets = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=90))


@given(received=received_times, tier=st.sampled_from(list(Tier)))
def test_deadline_never_before_receipt(received: datetime, tier: Tier) -> None:
    """The regulatory and acknowledgement deadlines are always after the receipt."""
    d = compute(received, tier=tier)
    assert d.regulatory_due_at > received
    assert d.ack_due_at > received


@given(received=received_times, tier=st.sampled_from(list(Tier)))
def test_new_case_shortcut_agrees_with_the_event_walk(received: datetime, tier: Tier) -> None:
    """No clock events takes a shortcut; a restart at the moment of receipt changes nothing and
    goes the long way: both must give the same deadlines."""
    assert compute(received, tier=tier) == compute(received, [restart(received)], tier=tier)


@given(received=received_times, start=offsets, length=offsets, now_after=offsets)
def test_adding_a_pause_never_moves_the_deadline_earlier(
    received: datetime, start: timedelta, length: timedelta, now_after: timedelta
) -> None:
    """Adding a closed or open pause never makes the regulatory deadline earlier."""
    now = received + start + length + now_after
    base = compute(received, now=now).regulatory_due_at
    closed = [pause(received + start), resume(received + start + length)]
    assert compute(received, closed, now=now).regulatory_due_at >= base
    assert compute(received, closed[:1], now=now).regulatory_due_at >= base


@given(
    received=received_times, pause_at=offsets, restart_at=offsets, tier=st.sampled_from(list(Tier))
)
def test_restart_never_before_restart_time(
    received: datetime, pause_at: timedelta, restart_at: timedelta, tier: Tier
) -> None:
    """After a restart the deadline is never earlier than the restart itself."""
    at = received + restart_at
    events = [pause(received + pause_at), resume(received + pause_at), restart(at)]
    d = compute(received, events, tier=tier)
    assert d.regulatory_due_at > at
    assert d.clock_started_at == at
