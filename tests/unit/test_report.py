"""Pure arithmetic of the weekly report: week bounds in Asia/Shanghai, rates, percentiles, change, caps, digests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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
    from notifications.report_render import cell_text

    assert cell_text(0.8125, "本周", "按时答复率（监管时限）") == "81.2%"
    assert cell_text(0.035, "变化", "按时答复率（监管时限）") == "+3.5 个百分点"
    assert cell_text(-0.0822, "变化率", "新受理") == "-8.2%" and cell_text(9, "变化", "新受理") == "9"
    assert cell_text(None, "本周", "新受理") == "—"


def _week_data() -> tuple[Any, Any]:
    """A small week, typed as the SQL layer fills it (domain/report_data.py), and the week before."""
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

    w = parse_week("2026-W47")
    at = datetime(2026, 11, 17, 2, tzinfo=UTC)
    counts = WeekCounts(input_rows=40, new=5, responded=4, responded_on_time=3, closed=2, withdrawn=1,
                        open_at_end=9, overdue_at_end=2, ack_due=4, ack_on_time=4)
    data = WeekData(
        week=w, counts=counts, handling_minutes=((60, 2), (600, 2)),
        groups=(NewGroup("A01", "B03", "C07", "dl", None, "dl", "card", 3),
                NewGroup(None, None, None, "dl-zs", "中山广场网点", None, None, 2)),
        open_by_department=(DepartmentOpen("dl", "card", 7, 2),),
        month_by_department=(DepartmentCount("dl", "card", 100),),
        escalations=(EscalationCount(1, "L1督办", 2),), extensions=(ExtensionCount("special", 1),),
        pauses=(PauseCount(None, 1),),
        sensitive=(SensitiveCase(case_no="DL-1", received_at=at, branch="dl", department_branch="dl", department="card",
                                 category="B03", severity="major", tags=("regulatory", "public_opinion"),
                                 status="responded", responded_at=at, closed_at=None, due_at=at,
                                 request="张*要求退款，卡号 6222020200112233445 已冻结，请尽快处理并书面答复本人"),),
        repeats=(RepeatCase("DL-2", at, "B03", "dl", "card", "DL-0"),),
        overdue=(OverdueCase("DL-3", at - timedelta(days=30), "dl", "card", datetime(2026, 11, 19, 15, 59, tzinfo=UTC),
                             "chen.jing", (ChainSeat("handler", "甲"), ChainSeat("handler", "陈静")),
                             TopEscalation(2, "L2督办", (Notified("消保办主任", "赵丽"), Notified("", "王军")))),
                 OverdueCase("DL-4", at, None, None, datetime(2026, 11, 20, 15, 59, tzinfo=UTC), None, (), None)),
        trend=tuple(TrendPoint(f"2026-W{n:02d}", n, 1, 2, 0) for n in range(35, 48)),
    )
    previous = WeekTotals(WeekCounts(30, 4, 5, 5, 1, 0, 8, 1, 0, 0), ((30, 1),))
    return data, previous


def test_build_content_shapes_typed_week_data_into_typed_content() -> None:
    """The typed week (what SQL read) becomes the typed content: headline against the week before, the
    tables read by attribute, the chain's last handler seat and the escalation's holders named."""
    from domain.report import Names, ReportPolicy, build_content

    data, previous = _week_data()
    names = Names(branches={"dl": "大连分行", "dl-zs": "中山支行"}, departments={("dl", "card"): "信用卡部"},
                  terms={"channel": {"A01": "营业现场"}, "category": {"B03": "银行卡"}, "cause": {"C07": "定价收费"}})
    policy = ReportPolicy(repeat_window_days=30, customers={"dl": 1_000_000}, caps={("dl", "card"): 120})
    c = build_content(data=data, previous=previous, names=names, policy=policy)
    s = c.summary
    assert (s.new, s.on_time_rate, s.ack_sla_rate, s.median_hours, s.p90_hours) == (5, 0.75, 1.0, 1.0, 10.0)
    assert (s.sensitive, s.repeats, s.escalations, s.extensions, s.pauses) == (1, 1, 2, 1, 1)
    assert c.tables.summary.rows[0] == ("新受理", 5, 4, 1, 0.25)
    assert c.tables.summary.rows[7] == ("确认时效达标率（内部SLA）", 1.0, None, None, None)
    assert c.tables.by_channel.rows == (("A01", "营业现场", 3, 0.6), ("—", "未分类", 2, 0.4))
    assert c.tables.by_department.rows[0] == ("大连分行", "card", "信用卡部", 3, 7, 2, 100, 120, 0.8333, "预警")
    assert c.tables.by_branch.column("每万客户投诉") == (0.03, None)
    assert c.tables.extensions.rows == (("延期至30天", 0), ("延期至60天", 1))
    assert c.tables.pauses.rows == (("—", 1),)
    (sensitive,) = c.tables.sensitive.rows
    assert sensitive[6] == "舆情、监管" and sensitive[7] == "已答复"
    assert sensitive[9] == "张*要求退款，卡号 ***************3445 已冻结，请尽快处理并…"  # numbers masked, cut to 40
    assert c.tables.overdue.rows[0][4:] == (3, "陈静", "L2督办", "消保办主任赵丽、王军")
    assert c.tables.overdue.rows[1][2:] == ("待分派", "2026-11-20 23:59", 2, "（未指派）", "未督办", "—")
    assert c.tables.trend_4w.rows == (("新受理", 182, 45.5, 41.0), ("已答复", 4, 1.0, 1.0))
    assert c.policy.caps == {"dl/card": 120} and c.input_rows == 40
    assert c.as_dict()["summary"]["new"] == 5 and list(c.as_dict()["tables"])[:2] == ["summary", "by-channel"]


def test_content_reads_back_from_its_json_and_refuses_what_is_not_a_report() -> None:
    """from_dict(as_dict(c)) is c, with the same digest; a content, table or summary with missing or extra
    keys is refused naming the part, and a table put in another table's place is refused."""
    import json
    from dataclasses import replace

    from domain.report import Names, ReportContent, ReportPolicy, build_content

    data, previous = _week_data()
    c = build_content(data=data, previous=previous, names=Names({}, {}, {}), policy=ReportPolicy())
    stored = json.loads(json.dumps(c.as_dict()))
    assert ReportContent.from_dict(stored) == c and digest(stored) == c.sha256 == digest(c)
    with pytest.raises(ValueError, match="report content"):
        ReportContent.from_dict({**stored, "extra": 1})
    with pytest.raises(ValueError, match="report summary"):
        ReportContent.from_dict({**stored, "summary": {k: v for k, v in stored["summary"].items() if k != "new"}})
    with pytest.raises(ValueError, match="report tables"):
        ReportContent.from_dict({**stored, "tables": {k: v for k, v in stored["tables"].items() if k != "trend"}})
    with pytest.raises(ValueError, match="report table 'by-cause' given as 'by-channel'"):
        replace(c.tables, by_channel=c.tables.by_cause)
