"""Intake's message decisions without a database: who is told about a routed case, in which words."""

from __future__ import annotations

from datetime import UTC, datetime

from complaints.config import Config
from domain.intake import (
    MessageFields,
    PendingCase,
    RoutedMemo,
    plan_batch,
    plan_messages,
    routed_message,
)
from domain.intents import MessageIntent
from notifications.contracts import Routed

T0 = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)  # 09:30 Asia/Shanghai
LINKS = "https://cp.bank.example/cases/"


def pending(cid: int, *, category: str | None = "B03", tags: tuple[str, ...] = (), respondent: str | None = None,
            branch: str = "dl") -> PendingCase:
    return PendingCase(cid, f"DL-2026-{cid:06d}", "desk", "A01" if category else None, category,
                       "C07" if category else None, None, 1, tags, branch, respondent)


def fields(name: str = "刘桂兰", request: str = "退还年费 200 元", others: tuple[str, ...] = ()) -> MessageFields:
    return MessageFields(name, request, others, T0, datetime(2026, 12, 11, 15, 59, 59, tzinfo=UTC),
                         datetime(2026, 11, 27, 15, 59, 59, tzinfo=UTC))


def plan(config: Config, cases: list[PendingCase], raw: dict[int, MessageFields]) -> list[MessageIntent[Routed]]:
    plans = plan_batch(cases, org=config.org, table=config.routing, load={})
    return plan_messages(plans, raw, org=config.org, case_link_base=LINKS)


def test_the_handler_is_told_in_chinese_with_the_customer_masked(config: Config) -> None:
    """A 银行卡 case goes to the card department's handler: one `routed` message, keyed by the case,
    naming category, severity, department and handler in Chinese, times in Beijing time, and the
    complainant, their agent and their phone number masked in the request."""
    request = "刘桂兰委托王建国办理，电话 13812345678，要求退还年费"
    (m,) = plan(config, [pending(1)], {1: fields(request=request, others=("王建国",))})
    assert (m.kind, m.recipient, m.key, m.complaint_id, m.case_no) == (
        "routed", "chen.jing", "DL-2026-000001:routed", 1, "DL-2026-000001")
    ctx = m.context
    assert (ctx.role, ctx.category, ctx.severity, ctx.department, ctx.handler) == ("handler", "银行卡", "普通", "信用卡部", "陈静")
    assert (ctx.received_at, ctx.due_at, ctx.ack_due_at) == ("2026-11-26 09:30", "2026-12-11 23:59", "2026-11-27 23:59")
    assert ctx.complainant == "刘**" and ctx.link == LINKS + "DL-2026-000001"
    assert "刘桂兰" not in ctx.request and "王建国" not in ctx.request and "13812345678" not in ctx.request
    assert ctx.request.endswith("要求退还年费") and not ctx.triage and ctx.reasons == ()


def test_with_no_handler_to_give_it_to_the_department_head_is_told_and_why(config: Config) -> None:
    """The only available handler is the one complained about (Art. 17 recusal): nobody is
    assigned, and the department head gets the message (role department_head) with the reasons."""
    (m,) = plan(config, [pending(5, category="B09", respondent="秦怡")], {5: fields()})
    assert (m.recipient, m.context.role, m.context.handler) == ("zhu.lin", "department_head", "待指定")
    assert m.context.reasons == ("回避：秦怡 为被投诉人，未分派 (Art. 17)", "财富管理部 无可分派的经办人，由部门负责人分派")


def test_watchers_get_the_same_words_in_their_own_role(config: Config) -> None:
    """A 舆情 case: the handler, then the 消保办 and the deputy as watchers, each once, all keyed by the case."""
    messages = plan(config, [pending(3, tags=("public_opinion",))], {3: fields()})
    assert [(m.recipient, m.context.role) for m in messages] == [
        ("chen.jing", "handler"), ("zhao.li", "watcher"), ("li.ming", "watcher")]
    assert {m.key for m in messages} == {"DL-2026-000003:routed"}
    assert messages[0].context.tags == ("舆情",)
    handler_words, watcher_words = messages[0].context, messages[1].context
    assert handler_words.request == watcher_words.request and handler_words.tags == watcher_words.tags
    assert messages[1].context is messages[2].context


def test_an_unclassified_case_goes_to_triage_and_says_so(config: Config) -> None:
    (m,) = plan(config, [pending(2, category=None)], {2: fields()})
    ctx = m.context
    assert (m.recipient, ctx.category, ctx.triage) == ("qian.hui", "待分拣", True)
    assert ctx.reasons == ("缺少业务类别（category missing）", "缺少投诉原因（cause missing）")


def test_the_route_part_of_the_wording_is_remembered_per_route(config: Config) -> None:
    memo: RoutedMemo = {}
    words = [routed_message(case_no=f"DL-2026-{i:06d}", role="handler", category="B03", severity="ordinary", tags=[],
                            triage=False, reasons=[], department_branch="dl", department="card", handler="chen.jing",
                            complainant_name=name, request="无", received_at=T0, regulatory_due_at=T0, ack_due_at=T0,
                            org=config.org, case_link_base=LINKS, memo=memo)
             for i, name in enumerate(("张三", "李四"))]
    assert len(memo) == 1 and [w.complainant for w in words] == ["张*", "李*"]
