"""Pure arithmetic of the weekly report: week bounds in Asia/Shanghai, rates, percentiles, change, caps, digests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.deadlines import SHANGHAI
from domain.report import (
    Change,
    cap_state,
    differences,
    digest,
    month_start,
    parse_week,
    per_10k,
    percentile,
    previous_week,
    rate,
    trailing,
    week_of,
)


def test_week_bounds_are_monday_to_sunday_midnight_shanghai_in_utc() -> None:
    """2026-W47 runs from Sunday 15 Nov 16:00Z to Sunday 22 Nov 16:00Z (Mon 00:00 to Sun 24:00 local)."""
    w = parse_week("2026-W47")
    assert w.start == datetime(2026, 11, 15, 16, tzinfo=UTC)
    assert w.end == datetime(2026, 11, 22, 16, tzinfo=UTC)
    assert w.key == "2026-w47" and w.period == "2026-11-16 至 2026-11-22"


def test_a_sunday_late_evening_belongs_to_its_week_and_monday_just_after_midnight_to_the_next() -> None:
    """Sunday 23:30 +08:00 (15:30Z) is W47; Monday 00:10 +08:00 (Sunday 16:10Z) is W48."""
    assert week_of(datetime(2026, 11, 22, 23, 30, tzinfo=SHANGHAI)).label == "2026-W47"
    assert week_of(datetime(2026, 11, 22, 16, 10, tzinfo=UTC)).label == "2026-W48"


def test_the_monday_schedule_reports_the_previous_week_across_a_year_end() -> None:
    """Monday 08:30 local reports the week just ended, also when it belongs to the previous ISO year."""
    assert previous_week(datetime(2026, 11, 23, 8, 30, tzinfo=SHANGHAI)).label == "2026-W47"
    assert previous_week(datetime(2027, 1, 4, 8, 30, tzinfo=SHANGHAI)).label == "2026-W53"
    assert [w.label for w in trailing(parse_week("2027-W02"), 4)] == ["2026-W52", "2026-W53", "2027-W01", "2027-W02"]


@pytest.mark.parametrize("bad", ["2026-47", "2026-W54", "2025-W53", "W47", ""])
def test_a_malformed_or_impossible_week_is_refused(bad: str) -> None:
    """A week that is not YYYY-Www or does not exist in that year raises ValueError."""
    with pytest.raises(ValueError):
        parse_week(bad)


def test_naive_instants_are_refused() -> None:
    """week_of needs a timezone-aware datetime."""
    with pytest.raises(ValueError):
        week_of(datetime(2026, 11, 22, 12))


def test_caps_count_the_local_month_of_the_weeks_sunday() -> None:
    """A week spanning two months counts its cap in the month its Sunday falls in."""
    assert month_start(parse_week("2026-W49")) == datetime(2026, 11, 30, 16, tzinfo=UTC)  # Sun 6 Dec → 1 Dec local


def test_percentile_uses_nearest_rank_over_aggregated_counts() -> None:
    """Median and p90 from (value, count) pairs equal the nearest-rank percentile of the expanded values."""
    hist = [(10, 3), (5, 1), (100, 1)]  # values 5, 10, 10, 10, 100
    assert percentile(hist, 0.5) == 10 and percentile(hist, 0.9) == 100 and percentile(hist, 0.2) == 5
    assert percentile([], 0.5) is None


def test_rates_are_none_without_a_denominator() -> None:
    """Rates, per-10,000 figures and relative change say None rather than dividing by zero."""
    assert rate(1, 3) == 0.3333 and rate(0, 0) is None
    assert per_10k(12, 1_200_000) == 0.1 and per_10k(5, None) is None
    assert Change(12, 10).delta == 2 and Change(12, 10).pct == 0.2 and Change(3, 0).pct is None


def test_cap_state_warns_from_80_percent_and_flags_above_the_cap() -> None:
    """正常 below 80 %, 预警 from 80 %, 超限 above the cap, 未设限值 without one."""
    assert [cap_state(n, 10) for n in (7, 8, 10, 11)] == ["正常", "预警", "预警", "超限"]
    assert cap_state(3, None) == "未设限值"


def test_digest_is_stable_and_differences_name_table_row_and_column() -> None:
    """The same content gives the same sha256 whatever the key order; a changed cell is named."""
    a = {"summary": {"new": 3}, "tables": {"t": {"columns": ["k", "n"], "rows": [["B03", 1]]}}}
    b = {"tables": {"t": {"rows": [["B03", 1]], "columns": ["k", "n"]}}, "summary": {"new": 3}}
    assert digest(a) == digest(b)
    c = {"summary": {"new": 4}, "tables": {"t": {"columns": ["k", "n"], "rows": [["B03", 2]]}}}
    assert differences(a, c) == ["summary.new: 3 → 4", "t[B03].n: 1 → 2"]


def test_rates_read_as_percentages_and_their_change_in_points() -> None:
    """A rate row shows 81.2%, its change +3.5 个百分点; counts stay plain and missing values show —."""
    from flows.report_render import cell_text

    assert cell_text(0.8125, "本周", "按时答复率（监管时限）") == "81.2%"
    assert cell_text(0.035, "变化", "按时答复率（监管时限）") == "+3.5 个百分点"
    assert cell_text(-0.0822, "变化率", "新受理") == "-8.2%" and cell_text(9, "变化", "新受理") == "9"
    assert cell_text(None, "本周", "新受理") == "—"
