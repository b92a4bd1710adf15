"""Pure rules of 投诉治理 (issue 16, the case level): the outcome at response, the root cause at close,
remediation (整改) and call-backs (回访). docs/governance.md describes them.

* Outcome (投诉是否成立): 成立 / 部分成立 / 不成立, required to respond; 不成立 needs its reason. Redress
  has a type and, for money, an amount in CNY with at most two decimals (a Decimal, never a float).
  The response is timely when it was told on or before the regulatory due date then in force (pauses
  counted); that flag is fixed by the first response and never changes afterwards.
* Root cause (溯源): a code from config/root_causes.yaml (R01 …) or its Chinese name, linked to a
  JR/T 0169 cause (C01 … C99); required to close.
* Remediation: overdue items go up the 一把手 chain one level at a time (REMEDIATION_LEVELS), each
  level once; an item closes only with evidence.
* Call-back: due at the end of the 3rd working day after the response was told; up to 3 attempts,
  then 未联系上; satisfaction 满意 / 基本满意 / 不满意.

Each `check_*` returns the problems (each naming its field, in Chinese) and stores nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from domain.calendar import WorkingCalendar
from domain.deadlines import end_of_local_day, local_date
from domain.taxonomy import CAUSES, E, parse_enum

FIELDS: Mapping[str, str] = {
    "outcome": "投诉是否成立",
    "not-upheld-reason": "不成立理由",
    "redress-type": "补偿方式",
    "redress-amount": "补偿金额",
    "root-cause": "投诉根因",
    "result": "回访结果",
    "satisfaction": "满意度",
    "then": "后续处理",
    "reason": "理由",
    "title": "整改事项",
    "owner-department": "整改责任部门",
    "owner-branch": "整改责任机构",
    "due": "整改期限",
    "evidence": "整改佐证",
    "category": "业务类别",
    "branch": "机构",
    "case": "案件",
    "remediation": "整改编号",
    "from-case": "来源案件",
    "start": "起始时间",
    "end": "截止时间",
}


def refuse(field: str, message: str) -> str:
    """`outcome（投诉是否成立）：必填…` — the machine name first, as the other refusals."""
    name = FIELDS.get(field)
    return f"{field}（{name}）：{message}" if name else f"{field}：{message}"


class Outcome(StrEnum):
    UPHELD = "upheld"
    PARTLY_UPHELD = "partly_upheld"
    NOT_UPHELD = "not_upheld"


OUTCOME_NAMES: Mapping[Outcome, str] = {
    Outcome.UPHELD: "成立",
    Outcome.PARTLY_UPHELD: "部分成立",
    Outcome.NOT_UPHELD: "不成立",
}


class Redress(StrEnum):
    REFUND = "refund"
    COMPENSATION = "compensation"
    WAIVER = "waiver"
    CORRECTION = "correction"
    APOLOGY = "apology"
    OTHER = "other"


REDRESS_NAMES: Mapping[Redress, str] = {
    Redress.REFUND: "退还费用",
    Redress.COMPENSATION: "赔偿",
    Redress.WAIVER: "减免",
    Redress.CORRECTION: "更正",
    Redress.APOLOGY: "致歉",
    Redress.OTHER: "其他",
}
MONEY_REDRESS = frozenset({Redress.REFUND, Redress.COMPENSATION, Redress.WAIVER})
MAX_AMOUNT = Decimal("999999999999.99")


class Satisfaction(StrEnum):
    SATISFIED = "satisfied"
    BASIC = "basic"
    DISSATISFIED = "dissatisfied"


SATISFACTION_NAMES: Mapping[Satisfaction, str] = {
    Satisfaction.SATISFIED: "满意",
    Satisfaction.BASIC: "基本满意",
    Satisfaction.DISSATISFIED: "不满意",
}


class CallbackResult(StrEnum):
    PENDING = "pending"
    REACHED = "reached"
    UNREACHABLE = "unreachable"
    SUPERSEDED = "superseded"


CALLBACK_RESULT_NAMES: Mapping[CallbackResult, str] = {
    CallbackResult.PENDING: "待回访",
    CallbackResult.REACHED: "已回访",
    CallbackResult.UNREACHABLE: "未联系上",
    CallbackResult.SUPERSEDED: "已被新一轮答复取代",
}


class Followup(StrEnum):
    REOPEN = "reopen"
    REVIEW = "review"


FOLLOWUP_NAMES: Mapping[Followup, str] = {Followup.REOPEN: "重新处理", Followup.REVIEW: "核查"}

CALLBACK_WORKING_DAYS = 3
MAX_ATTEMPTS = 3

# Overdue remediation goes up the chain: (level, whole local days past the due date). The level's
# name and seats are config/escalation.yaml's level of the same number (the 一把手 chain).
REMEDIATION_LEVELS: tuple[tuple[int, int], ...] = ((1, 1), (2, 5), (3, 10))


def _choices(names: Mapping[E, str]) -> str:
    return "、".join(f"{n}（{m.value}）" for m, n in names.items())


# ---------------------------------------------------------------- outcome at response


@dataclass(frozen=True)
class OutcomeDecision:
    outcome: Outcome
    not_upheld_reason: str | None
    redress_type: Redress | None
    redress_amount: Decimal | None


def parse_amount(value: Decimal | str | int | None) -> tuple[Decimal | None, list[str]]:
    """A CNY amount with at most two decimals, as a Decimal quantised to 0.01; floats are refused
    (200.1 as a float is not 200.10)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, []
    if isinstance(value, float) or isinstance(value, bool):
        return None, [refuse("redress-amount", "须为十进制数字文本（如 200.00），不能是浮点数")]
    try:
        amount = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        return None, [refuse("redress-amount", f"{value!r} 不是金额（如 200.00）")]
    if not amount.is_finite():
        return None, [refuse("redress-amount", f"{value!r} 不是金额（如 200.00）")]
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        return None, [refuse("redress-amount", f"{value} 超过两位小数（金额以元为单位，精确到分）")]
    if amount <= 0:
        return None, [refuse("redress-amount", "须大于 0")]
    if amount > MAX_AMOUNT:
        return None, [refuse("redress-amount", f"不能超过 {MAX_AMOUNT}")]
    return amount.quantize(Decimal("0.01")), []


def check_outcome(*, outcome: str | None, not_upheld_reason: str | None, redress_type: str | None,
                  redress_amount: Decimal | str | int | None) -> tuple[OutcomeDecision | None, list[str]]:
    """The outcome of a response, or the problems (each naming its field)."""
    problems: list[str] = []
    parsed: Outcome | None = None
    if outcome is None or not outcome.strip():
        problems.append(refuse("outcome", f"必填：答复须写明投诉是否成立（{_choices(OUTCOME_NAMES)}）"))
    else:
        parsed = parse_enum(Outcome, OUTCOME_NAMES, outcome)
        if parsed is None:
            problems.append(refuse("outcome", f"{outcome!r} 不是可选值之一：{_choices(OUTCOME_NAMES)}"))
    reason = (not_upheld_reason or "").strip() or None
    if parsed is Outcome.NOT_UPHELD and reason is None:
        problems.append(refuse("not-upheld-reason", "投诉不成立时须写明理由"))
    if reason is not None and len(reason) > 2000:
        problems.append(refuse("not-upheld-reason", "不能超过 2000 字"))
    redress: Redress | None = None
    if redress_type is not None and redress_type.strip():
        redress = parse_enum(Redress, REDRESS_NAMES, redress_type)
        if redress is None:
            problems.append(refuse("redress-type", f"{redress_type!r} 不是可选值之一：{_choices(REDRESS_NAMES)}"))
    amount, amount_problems = parse_amount(redress_amount)
    problems += amount_problems
    if amount is not None and redress is None and not (redress_type or "").strip():
        problems.append(refuse("redress-type", "填写补偿金额时须写明补偿方式"))
    if redress in MONEY_REDRESS and amount is None and not amount_problems:
        problems.append(refuse("redress-amount", f"补偿方式为“{REDRESS_NAMES[redress]}”时须写明金额（元，如 200.00）"))
    if problems or parsed is None:
        return None, problems
    return OutcomeDecision(parsed, reason, redress, amount), []


def check_period(start: datetime, end: datetime) -> list[str]:
    """A statistics period: both instants between the years 1970 and 2999, the start before the end."""
    problems = [refuse(name, f"{value.isoformat()} 不在 1970 至 2999 年之间")
                for name, value in (("start", start), ("end", end)) if not 1970 <= value.year <= 2999]
    if not problems and start >= end:
        problems.append(refuse("end", "须晚于起始时间"))
    return problems


def is_timely(told_at: datetime, due_at: datetime) -> bool:
    """Told on or before the regulatory due date in force (its end of day, pauses counted)."""
    return told_at <= due_at


# ---------------------------------------------------------------- root cause at close


@dataclass(frozen=True)
class RootCause:
    code: str  # the project's own code, R01 …
    name: str
    jrt: str  # the JR/T 0169 cause code (C01 … C99) it is reported under


class RootCauses:
    """The configured root causes, looked up by code (any case) or by Chinese name."""

    def __init__(self, causes: Iterable[RootCause]) -> None:
        self.causes = tuple(causes)
        self._index: dict[str, RootCause] = {}
        for c in self.causes:
            self._index[c.code.upper()] = c
            self._index[c.name] = c

    def resolve(self, value: str) -> RootCause | None:
        key = value.strip()
        return self._index.get(key) or self._index.get(key.upper()) if key else None

    def by_code(self, code: str) -> RootCause | None:
        return self._index.get(code.upper())

    def choices(self) -> str:
        return "、".join(f"{c.name}（{c.code}）" for c in self.causes)


def check_root_causes(causes: Iterable[RootCause]) -> list[str]:
    """Problems with a root-cause table (unique codes and names, known JR/T 0169 causes)."""
    known = {t.code for t in CAUSES}
    problems: list[str] = []
    seen: set[str] = set()
    for i, c in enumerate(causes):
        if not c.code.strip() or not c.name.strip():
            problems.append(f"causes[{i}]: code and name are required")
        for key in (c.code.upper(), c.name):
            if key in seen:
                problems.append(f"causes[{i}]: duplicate {key!r}")
            seen.add(key)
        if c.jrt not in known:
            problems.append(f"causes[{i}].jrt: {c.jrt!r} is not a JR/T 0169 cause code (C01..C12, C99)")
    return problems


def check_root_cause(value: str | None, causes: RootCauses) -> tuple[RootCause | None, list[str]]:
    if value is None or not value.strip():
        return None, [refuse("root-cause", f"必填：办结须写明投诉根因（溯源），可选：{causes.choices()}")]
    found = causes.resolve(value)
    if found is None:
        return None, [refuse("root-cause", f"{value!r} 不是可选值之一：{causes.choices()}")]
    return found, []


# ---------------------------------------------------------------- call-back


def callback_due_at(told_at: datetime, calendar: WorkingCalendar) -> datetime:
    """End of the local day 3 working days after the day the response was told."""
    return end_of_local_day(calendar.add_working_days(local_date(told_at), CALLBACK_WORKING_DAYS))


@dataclass(frozen=True)
class CallbackStep:
    attempts: int
    result: CallbackResult
    satisfaction: Satisfaction | None
    followup: Followup | None
    finished: bool


def check_callback(*, attempts: int, result: str, satisfaction: str | None, then: str | None,
                   reason: str | None) -> tuple[CallbackStep | None, list[str]]:
    """One call-back attempt: reached (with satisfaction) or not; the third failure is 未联系上.

    不满意 may go on at once to reopening or review (`then`), with the customer's words (`reason`)."""
    problems: list[str] = []
    if result not in ("reached", "unreachable"):
        problems.append(refuse("result", f"{result!r} 不是可选值之一：reached（联系上）、unreachable（未接通）"))
    sat: Satisfaction | None = None
    if satisfaction is not None and satisfaction.strip():
        sat = parse_enum(Satisfaction, SATISFACTION_NAMES, satisfaction)
        if sat is None:
            problems.append(refuse("satisfaction", f"{satisfaction!r} 不是可选值之一：{_choices(SATISFACTION_NAMES)}"))
    follow: Followup | None = None
    if then is not None and then.strip():
        follow = parse_enum(Followup, FOLLOWUP_NAMES, then)
        if follow is None:
            problems.append(refuse("then", f"{then!r} 不是可选值之一：{_choices(FOLLOWUP_NAMES)}"))
    if result == "reached" and sat is None and not problems:
        problems.append(refuse("satisfaction", f"联系上投诉人时须记录满意度：{_choices(SATISFACTION_NAMES)}"))
    if result == "unreachable" and (sat is not None or follow is not None):
        problems.append(refuse("satisfaction", "未联系上时不能记录满意度或后续处理"))
    if follow is not None and sat is not None and sat is not Satisfaction.DISSATISFIED:
        problems.append(refuse("then", "只有“不满意”时才转重新处理或核查"))
    if follow is Followup.REOPEN and not (reason or "").strip():
        problems.append(refuse("reason", "转重新处理时须写明投诉人不满意的内容"))
    if attempts >= MAX_ATTEMPTS:
        problems.append(refuse("result", f"已回访 {attempts} 次，不能再记录"))
    if problems:
        return None, problems
    n = attempts + 1
    if result == "reached":
        return CallbackStep(n, CallbackResult.REACHED, sat, follow, True), []
    if n >= MAX_ATTEMPTS:
        return CallbackStep(n, CallbackResult.UNREACHABLE, None, None, True), []
    return CallbackStep(n, CallbackResult.PENDING, None, None, False), []


# ---------------------------------------------------------------- remediation


def check_remediation(*, title: str, due: date | None, today: date, evidence: str | None = None) -> list[str]:
    problems: list[str] = []
    if not title.strip():
        problems.append(refuse("title", "必填"))
    elif len(title) > 500:
        problems.append(refuse("title", "不能超过 500 字"))
    if due is None:
        problems.append(refuse("due", "必填（日期，如 2026-12-31）"))
    elif due < today:
        problems.append(refuse("due", f"{due.isoformat()} 早于今天（{today.isoformat()}）"))
    if evidence is not None and len(evidence) > 4000:
        problems.append(refuse("evidence", "不能超过 4000 字"))
    return problems


def check_close_remediation(evidence: str | None) -> list[str]:
    if evidence is None or not evidence.strip():
        return [refuse("evidence", "整改须有佐证材料（制度修订、系统变更单号、培训记录等）才能销号")]
    if len(evidence) > 4000:
        return [refuse("evidence", "不能超过 4000 字")]
    return []


def remediation_level(due_at: datetime, now: datetime) -> int:
    """The overdue level an item has reached by `now` (0: not overdue)."""
    late = (local_date(now) - local_date(due_at)).days
    level = 0
    for lv, days in REMEDIATION_LEVELS:
        if late >= days and now > due_at:
            level = lv
    return level
