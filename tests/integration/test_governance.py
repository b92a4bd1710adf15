"""投诉治理 through the real case actions (docs/governance.md): the outcome at response, the root cause at
close, call-backs over a holiday, 不满意 → reopen in one step, and remediation escalated once per level
when overdue — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from complaints.config import Config
from domain.calendar import CalendarOverrides, WorkingCalendar
from domain.deadlines import SHANGHAI
from domain.governance import check_outcome, parse_amount
from flows.intake import run_intake
from models import case_actions
from models.audit_chain import verify
from models.case_results import RespondResult
from models.case_views import case_detail
from models.db import session_scope
from models.escalation import CaseResponse
from models.governance import (
    CALLBACK,
    OUTCOME,
    REMEDIATION,
    callback_rates,
    outcome_counts,
    pattern_counts,
)
from models.outbox import OutboxMessage
from models.sqlutil import table_of
from models.submission import submit
from notifications.render import Item, Renderer
from services import governance
from services.unit_of_work import Runtime
from tests.factories import complaint

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 Beijing, received 09:30 the same day
CAL = WorkingCalendar()
OUTBOX = table_of(OutboxMessage)
RESPONSE = table_of(CaseResponse)
ANSWER: dict[str, Any] = {"verified": "已核实年费扣收情况", "basis": "《信用卡领用合约》第五条",
                          "remedies": "可申请核查、调解、仲裁、诉讼", "told_via": "phone"}


def _routed(engine: Engine, config: Config, *, now: datetime = NOW, **kw: Any) -> str:
    received = (now - timedelta(minutes=30)).astimezone(SHANGHAI).isoformat()
    (r,) = submit(engine, [complaint(category="银行卡", received_at=received, **kw)], config=config, calendar=CAL,
                  now=now)
    run_intake(engine, config, now=now)
    return r.case_no


def _act(engine: Engine, config: Config, fn: str, *, now: datetime, calendar: WorkingCalendar = CAL,
         **kw: Any) -> Any:
    """The store's typed result (models/case_results.py)."""
    with session_scope(engine) as s:
        return getattr(case_actions, fn)(s, config=config, calendar=calendar, now=now, actor="chen.jing", **kw)


def _respond(engine: Engine, config: Config, case_no: str, *, now: datetime, calendar: WorkingCalendar = CAL,
             **kw: Any) -> RespondResult:
    out = _act(engine, config, "respond", case_no=case_no, now=now, calendar=calendar, told_at=now,
               **{**ANSWER, **kw})
    assert isinstance(out, RespondResult)
    return out


def _outcome(engine: Engine, case_no: str) -> Any:
    with engine.connect() as c:
        return c.execute(select(OUTCOME).where(OUTCOME.c.case_no == case_no)).one()


def _runtime(engine: Engine, config: Config, calendar: WorkingCalendar = CAL) -> Runtime:
    rt = Runtime(config, engine)
    rt.__dict__["calendar"] = calendar  # the cached property, injected
    return rt


# ---------------------------------------------------------------- outcome at response


def test_respond_without_outcome_is_refused_in_chinese_and_stores_nothing(db_engine: Engine, config: Config) -> None:
    case_no = _routed(db_engine, config)
    with pytest.raises(case_actions.ActionError) as err:
        _respond(db_engine, config, case_no, now=NOW + timedelta(hours=1))
    assert err.value.problems == ["outcome（投诉是否成立）：必填：答复须写明投诉是否成立（成立（upheld）、"
                                  "部分成立（partly_upheld）、不成立（not_upheld））"]
    with pytest.raises(case_actions.ActionError, match=r"^not-upheld-reason（不成立理由）：投诉不成立时须写明理由$"):
        _respond(db_engine, config, case_no, now=NOW + timedelta(hours=1), outcome="不成立")
    with session_scope(db_engine) as s:
        detail = case_detail(s, case_no)
        responses = s.execute(select(func.count()).select_from(RESPONSE)).scalar_one()
        outcomes = s.execute(select(func.count()).select_from(OUTCOME)).scalar_one()
    assert detail is not None and detail["status"] == "routed"
    assert responses == 0 and outcomes == 0


@pytest.mark.parametrize(("amount", "message"), [
    ("200.001", "redress-amount（补偿金额）：200.001 超过两位小数（金额以元为单位，精确到分）"),
    ("abc", "redress-amount（补偿金额）：'abc' 不是金额（如 200.00）"),
    ("-5", "redress-amount（补偿金额）：须大于 0"),
    (200.5, "redress-amount（补偿金额）：须为十进制数字文本（如 200.00），不能是浮点数"),
])
def test_redress_amount_has_two_decimals_at_most(amount: Any, message: str) -> None:
    decision, problems = check_outcome(outcome="成立", not_upheld_reason=None, redress_type="退还费用",
                                       redress_amount=amount)
    assert decision is None and problems == [message]


def test_redress_amounts_accepted() -> None:
    assert parse_amount("200") == (Decimal("200.00"), [])
    assert parse_amount(Decimal("0.5")) == (Decimal("0.50"), [])
    decision, problems = check_outcome(outcome="refund", not_upheld_reason=None, redress_type=None,
                                       redress_amount=None)
    assert decision is None and problems[0].startswith("outcome（投诉是否成立）：'refund' 不是可选值之一")
    _, problems = check_outcome(outcome="成立", not_upheld_reason=None, redress_type="赔偿", redress_amount=None)
    assert problems == ["redress-amount（补偿金额）：补偿方式为“赔偿”时须写明金额（元，如 200.00）"]


def test_outcome_and_redress_stored_and_timely_fixed_at_the_first_response(db_engine: Engine, config: Config) -> None:
    """Answered in time: timely. Reopened and answered again long after the deadline: still timely, the
    outcome updated, two responses and two call-back rounds (the first superseded)."""
    case_no = _routed(db_engine, config)
    out = _respond(db_engine, config, case_no, now=NOW + timedelta(days=2), outcome="部分成立",
                   not_upheld_reason="年费按合约收取，但未提前提醒", redress_type="退还费用", redress_amount="200.5")
    assert out.outcome == "partly_upheld" and out.timely is True and out.redress_amount == "200.50"
    first = _outcome(db_engine, case_no)
    assert first.redress_amount_fen == 20050 and first.redress_type == "refund" and first.timely is True
    _act(db_engine, config, "reopen", case_no=case_no, reason="投诉人补充材料", now=NOW + timedelta(days=3))
    late = NOW + timedelta(days=40)  # past the 15-day deadline
    out = _respond(db_engine, config, case_no, now=late, outcome="成立")
    assert out.timely is True
    again = _outcome(db_engine, case_no)
    assert (again.outcome, again.timely, again.responses, again.redress_type) == ("upheld", True, 2, None)
    assert again.first_responded_at == first.first_responded_at and again.responded_at == late
    with db_engine.connect() as c:
        rounds = c.execute(select(CALLBACK.c.round, CALLBACK.c.result).order_by(CALLBACK.c.round)).all()
    assert [tuple(r) for r in rounds] == [(1, "superseded"), (2, "pending")]
    with session_scope(db_engine) as s:
        (row,) = outcome_counts(s, start=NOW, end=NOW + timedelta(days=60))
    assert row == {"branch": "dl", "outcome": "upheld", "count": 1, "timely": 1, "redress_amount": Decimal("0.00")}


def test_a_late_first_response_is_not_timely(db_engine: Engine, config: Config) -> None:
    case_no = _routed(db_engine, config)
    out = _respond(db_engine, config, case_no, now=NOW + timedelta(days=20), outcome="不成立",
                   not_upheld_reason="按合约收取")
    assert out.timely is False and _outcome(db_engine, case_no).timely is False


# ---------------------------------------------------------------- root cause at close


def test_close_needs_a_root_cause_by_name_or_code(db_engine: Engine, config: Config) -> None:
    a, b = _routed(db_engine, config), _routed(db_engine, config)
    for case_no in (a, b):
        _respond(db_engine, config, case_no, now=NOW + timedelta(hours=1), outcome="成立")
    with pytest.raises(case_actions.ActionError, match=r"^root-cause（投诉根因）：必填：办结须写明投诉根因（溯源），可选：产品设计（R01）"):
        _act(db_engine, config, "close", case_no=a, now=NOW + timedelta(hours=2))
    with pytest.raises(case_actions.ActionError, match=r"^root-cause（投诉根因）：'天气' 不是可选值之一"):
        _act(db_engine, config, "close", case_no=a, now=NOW + timedelta(hours=2), root_cause="天气")
    with session_scope(db_engine) as s:
        detail = case_detail(s, a)
    assert detail is not None and detail["status"] == "responded"
    out = _act(db_engine, config, "close", case_no=a, now=NOW + timedelta(hours=2), root_cause="收费定价")
    assert (out.status, out.root_cause, out.root_cause_jrt) == ("closed", "R02", "C07")
    out = _act(db_engine, config, "close", case_no=b, now=NOW + timedelta(hours=2), root_cause="r05")
    assert (out.root_cause, out.root_cause_name, out.root_cause_jrt) == ("R05", "系统故障", "C02")
    assert _outcome(db_engine, a).root_cause == "R02" and _outcome(db_engine, b).root_cause == "R05"


# ---------------------------------------------------------------- call-back


def test_callback_due_in_three_working_days_over_national_day(db_engine: Engine, config: Config) -> None:
    """Told on 2026-09-30 (Wed): 10-01..10-07 are the holiday, 10-10 (Sat) a 调休 working day → due 10-10;
    with the bank's own extra holiday on 10-08 it moves to 10-12 (Mon). Three failed attempts: 未联系上."""
    told = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)
    a = _routed(db_engine, config, now=told)
    out = _respond(db_engine, config, a, now=told + timedelta(hours=1), outcome="成立")
    assert out.callback_due_at.astimezone(SHANGHAI).date() == date(2026, 10, 10)
    own = WorkingCalendar(overrides=CalendarOverrides(extra_holidays=frozenset({date(2026, 10, 8)})))
    b = _routed(db_engine, config, now=told)
    out = _respond(db_engine, config, b, now=told + timedelta(hours=1), calendar=own, outcome="成立")
    assert out.callback_due_at.astimezone(SHANGHAI).date() == date(2026, 10, 12)
    rt = _runtime(db_engine, config)
    results = []
    for day in (8, 9, 10):
        with rt.unit(now=datetime(2026, 10, day, 2, 0, tzinfo=UTC)) as uow:
            results.append(governance.record_callback(uow, case_no=a, result="unreachable", actor="chen.jing"))
    assert [(r["callback"]["attempts"], r["callback"]["result"]) for r in results] == [
        (1, "pending"), (2, "pending"), (3, "unreachable")]
    assert results[-1]["callback"]["result_name"] == "未联系上"
    with pytest.raises(case_actions.ActionError, match=f"^case（案件）：案件 {a} 没有待回访的记录"):
        with rt.unit(now=datetime(2026, 10, 12, 2, 0, tzinfo=UTC)) as uow:
            governance.record_callback(uow, case_no=a, result="unreachable", actor="chen.jing")
    with rt.unit(now=datetime(2026, 10, 9, 2, 0, tzinfo=UTC)) as uow:
        governance.record_callback(uow, case_no=b, result="reached", satisfaction="基本满意", actor="chen.jing")
        pending = governance.pending_callbacks(uow)
    assert pending == []
    with session_scope(db_engine) as s:
        (rate,) = callback_rates(s, start=datetime(2026, 10, 1, tzinfo=UTC), end=datetime(2026, 11, 1, tzinfo=UTC))
    assert (rate.branch, rate.due, rate.reached, rate.unreachable, rate.basic) == ("dl", 2, 1, 1, 1)
    assert rate.callback_rate == 0.5 and rate.satisfaction_rate == 1.0


def test_reached_needs_satisfaction(db_engine: Engine, config: Config) -> None:
    case_no = _routed(db_engine, config)
    _respond(db_engine, config, case_no, now=NOW + timedelta(hours=1), outcome="成立")
    with pytest.raises(case_actions.ActionError, match=r"^satisfaction（满意度）：联系上投诉人时须记录满意度"):
        with _runtime(db_engine, config).unit(now=NOW + timedelta(days=1)) as uow:
            governance.record_callback(uow, case_no=case_no, result="reached", actor="chen.jing")
    with pytest.raises(case_actions.ActionError, match=r"^then（后续处理）：只有“不满意”时才转重新处理或核查$"):
        with _runtime(db_engine, config).unit(now=NOW + timedelta(days=1)) as uow:
            governance.record_callback(uow, case_no=case_no, result="reached", satisfaction="满意", then="reopen",
                                       reason="x", actor="chen.jing")


def test_dissatisfied_reopens_in_one_step(db_engine: Engine, config: Config) -> None:
    case_no = _routed(db_engine, config)
    _respond(db_engine, config, case_no, now=NOW + timedelta(hours=1), outcome="不成立", not_upheld_reason="按合约")
    rt = _runtime(db_engine, config)
    with rt.unit(now=NOW + timedelta(days=1)) as uow:
        out = governance.record_callback(uow, case_no=case_no, result="reached", satisfaction="不满意", then="reopen",
                                         reason="客户认为未提前告知年费", actor="chen.jing")
    assert out["callback"]["satisfaction"] == "dissatisfied" and out["callback"]["followup"] == "reopen"
    assert out["followup"]["status"] == "reopened"
    with session_scope(db_engine) as s:
        detail = case_detail(s, case_no)
    assert detail is not None and detail["status"] == "reopened"
    actions = [e["action"] for e in detail["audit"]]
    assert actions[-2:] == ["callback_recorded", "reopened"]
    assert verify(db_engine, rows=True).ok


def test_dissatisfied_opens_a_review_in_one_step(db_engine: Engine, config: Config) -> None:
    case_no = _routed(db_engine, config)
    _respond(db_engine, config, case_no, now=NOW + timedelta(hours=1), outcome="成立")
    with _runtime(db_engine, config).unit(now=NOW + timedelta(days=1)) as uow:
        out = governance.record_callback(uow, case_no=case_no, result="reached", satisfaction="不满意", then="核查",
                                         actor="chen.jing")
    assert out["followup"]["status"] == "under_review"


# ---------------------------------------------------------------- remediation


def _closed(engine: Engine, config: Config, *, now: datetime, cause: str = "收费定价") -> str:
    case_no = _routed(engine, config, now=now)
    _respond(engine, config, case_no, now=now + timedelta(hours=1), outcome="成立")
    _act(engine, config, "close", case_no=case_no, now=now + timedelta(hours=2), root_cause=cause)
    return case_no


def test_remediation_escalates_once_per_level_and_closes_only_with_evidence(db_engine: Engine,
                                                                           config: Config) -> None:
    case_no = _closed(db_engine, config, now=NOW)
    rt = _runtime(db_engine, config)
    with rt.unit(now=NOW + timedelta(hours=3)) as uow:
        with pytest.raises(case_actions.ActionError, match=r"due（整改期限）：2026-11-01 早于今天"):
            governance.add_remediation(uow, title="年费提醒短信", due="2026-11-01", actor="zhao.li", from_case=case_no)
    with rt.unit(now=NOW + timedelta(hours=3)) as uow:
        item = governance.add_remediation(uow, title="信用卡年费扣收前短信提醒（客户13812345678反映）", due="2026-12-10",
                                          actor="zhao.li", from_case=case_no)
    assert "13812345678" not in item["title"] and "138****5678" in item["title"]  # masked wherever shown
    ref = item["ref"]
    assert (item["root_cause"], item["category"], item["branch"], item["source"]) == ("R02", "B03", "dl", "case")
    assert item["before_90_days"] == 1 and item["pattern"] == "收费定价 × 银行卡 × 大连分行"

    def sweep(day: int) -> dict[str, Any]:
        with rt.unit(now=datetime(2026, 12, day, 2, 0, tzinfo=UTC)) as uow:
            return governance.sweep_remediation(uow)

    assert sweep(10)["fired"] == 0  # due today
    first = sweep(11)
    assert [(e["level"], e["late_days"]) for e in first["escalations"]] == [(1, 1)]
    assert sweep(11)["fired"] == 0 and sweep(14)["fired"] == 0
    assert [e["level"] for e in sweep(15)["escalations"]] == [2]
    assert [e["level"] for e in sweep(20)["escalations"]] == [3]
    assert sweep(25)["fired"] == 0
    with db_engine.connect() as c:
        rows = c.execute(select(OUTBOX.c.dedupe_key, OUTBOX.c.recipient, OUTBOX.c.kind, OUTBOX.c.context,
                                OUTBOX.c.message_id).where(OUTBOX.c.kind == "remediation_overdue")).all()
    top = next(r for r in rows if r.context["level"] == 3)
    message = Renderer().render(Item(top.kind, top.context, top.message_id), html=True)
    assert message.subject.startswith(f"【整改督办】{ref} 行长（一把手）督办（已逾期 10 天）")
    assert "收费定价 × 银行卡 × 大连分行" in message.text and f"/remediation/{ref}" in message.text
    assert message.html is not None and f"来源案件</th><td>{case_no}" in message.html
    recipients: dict[int, set[str]] = {}
    for key, person, *_ in rows:
        assert key.startswith(f"{ref}:remediation_overdue:")
        recipients.setdefault(int(key.split(":")[2]), set()).add(person)
    assert sorted(recipients) == [1, 2, 3]
    president = config.org.branches["dl"].president.holder
    assert president in recipients[3] and president not in recipients[1]
    with rt.unit(now=datetime(2026, 12, 26, 2, 0, tzinfo=UTC)) as uow:
        with pytest.raises(case_actions.ActionError, match=r"^evidence（整改佐证）：整改须有佐证材料"):
            governance.close_remediation(uow, ref=ref, evidence="  ", actor="zhao.li")
    with rt.unit(now=datetime(2026, 12, 26, 2, 0, tzinfo=UTC)) as uow:
        closed = governance.close_remediation(uow, ref=ref, evidence="短信提醒上线，变更单 CHG-2026-1201", actor="zhao.li")
    assert closed["status"] == "closed" and closed["after_90_days"] == 0
    with rt.unit(now=datetime(2026, 12, 27, 2, 0, tzinfo=UTC)) as uow:
        with pytest.raises(case_actions.ActionError, match=r"^remediation（整改编号）：整改事项 .* 已于"):
            governance.close_remediation(uow, ref=ref, evidence="again", actor="zhao.li")
    with db_engine.connect() as c:
        levels = c.execute(select(REMEDIATION.c.escalated_level, REMEDIATION.c.status)).one()
    assert tuple(levels) == (3, "closed")
    result = verify(db_engine, rows=True)
    assert result.ok, result.problem


def test_pattern_remediation_counts_90_days_before_and_after(db_engine: Engine, config: Config) -> None:
    """A pattern (收费定价 × 银行卡 × 大连分行 and its sub-branches): two cases before the item opens, one after
    it closes; a case of another root cause is not counted."""
    _closed(db_engine, config, now=NOW - timedelta(days=30))
    _closed(db_engine, config, now=NOW - timedelta(days=10))
    _closed(db_engine, config, now=NOW - timedelta(days=5), cause="系统故障")
    rt = _runtime(db_engine, config)
    with rt.unit(now=NOW) as uow:
        with pytest.raises(case_actions.ActionError) as err:
            governance.add_remediation(uow, title="x", due="2026-12-31", actor="zhao.li", root_cause="收费定价",
                                       branch="nowhere", owner_department="card")
    assert err.value.problems == ["branch（机构）：组织架构中没有机构 'nowhere'",
                                  "owner-department（整改责任部门）：机构 'nowhere' 没有部门 'card'"]
    with rt.unit(now=NOW) as uow:
        item = governance.add_remediation(uow, title="年费收取规则复核", due="2026-12-31", actor="zhao.li",
                                          root_cause="R02", category="银行卡", branch="dl", owner_department="card")
        listed = governance.list_remediation(uow, status="open")
    assert item["source"] == "pattern" and item["before_90_days"] == 2 and item["after_90_days"] == 0
    assert [i["ref"] for i in listed] == [item["ref"]]
    with rt.unit(now=NOW + timedelta(days=1)) as uow:
        governance.close_remediation(uow, ref=item["ref"], evidence="收费规则已修订", actor="zhao.li")
    _closed(db_engine, config, now=NOW + timedelta(days=3))
    with rt.unit(now=NOW + timedelta(days=4)) as uow:
        shown = governance.report(uow, item["ref"])
    assert (shown["before_90_days"], shown["after_90_days"]) == (2, 1)
    with session_scope(db_engine) as s:
        assert pattern_counts(s, root_cause="R05", category=None, branches={"dl"}, at=NOW) == (1, 0)
