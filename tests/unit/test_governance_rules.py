"""The pure rules of domain/governance.py: remediation levels, call-back steps, root-cause tables."""

from __future__ import annotations

from datetime import UTC, date, datetime

from domain.calendar import WorkingCalendar
from domain.deadlines import SHANGHAI, end_of_local_day
from domain.governance import (
    CallbackResult,
    RootCause,
    RootCauses,
    callback_due_at,
    check_callback,
    check_root_causes,
    remediation_level,
)


def test_remediation_levels_by_whole_local_days_late() -> None:
    due = end_of_local_day(date(2026, 12, 10))
    at = [datetime(2026, 12, d, 9, 0, tzinfo=SHANGHAI) for d in (10, 11, 14, 15, 19, 20, 31)]
    assert [remediation_level(due, t) for t in at] == [0, 1, 1, 2, 2, 3, 3]


def test_callback_steps_end_after_three_failures_or_a_reached_call() -> None:
    step, problems = check_callback(attempts=0, result="unreachable", satisfaction=None, then=None, reason=None)
    assert problems == [] and step is not None and (step.attempts, step.result, step.finished) == (
        1, CallbackResult.PENDING, False)
    step, _ = check_callback(attempts=2, result="unreachable", satisfaction=None, then=None, reason=None)
    assert step is not None and (step.result, step.finished) == (CallbackResult.UNREACHABLE, True)
    _, problems = check_callback(attempts=3, result="unreachable", satisfaction=None, then=None, reason=None)
    assert problems == ["result（回访结果）：已回访 3 次，不能再记录"]
    _, problems = check_callback(attempts=0, result="unreachable", satisfaction="满意", then=None, reason=None)
    assert problems == ["satisfaction（满意度）：未联系上时不能记录满意度或后续处理"]
    _, problems = check_callback(attempts=0, result="reached", satisfaction="不满意", then="reopen", reason=" ")
    assert problems == ["reason（理由）：转重新处理时须写明投诉人不满意的内容"]
    _, problems = check_callback(attempts=0, result="maybe", satisfaction=None, then="later", reason=None)
    assert problems[0].startswith("result（回访结果）：'maybe' 不是可选值之一") and problems[1].startswith("then（后续处理）")


def test_callback_due_skips_weekends() -> None:
    told = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # Fri 10:00 Beijing
    assert callback_due_at(told, WorkingCalendar()) == end_of_local_day(date(2026, 12, 2))


def test_root_cause_table_resolves_names_and_codes_and_checks_itself() -> None:
    causes = RootCauses([RootCause("R02", "收费定价", "C07"), RootCause("R05", "系统故障", "C02")])
    assert causes.resolve("r02") == causes.resolve(" 收费定价 ") == RootCause("R02", "收费定价", "C07")
    assert causes.resolve("C07") is None and causes.resolve("") is None
    assert check_root_causes([RootCause("R01", "甲", "C07"), RootCause("r01", "乙", "C99"),
                              RootCause("R03", "丙", "C42")]) == [
        "causes[1]: duplicate 'R01'", "causes[2].jrt: 'C42' is not a JR/T 0169 cause code (C01..C12, C99)"]
