"""One contract per message kind: every template rendered from what the REAL producers queued.

Intake, the escalation sweep (every level, with `now` moved forward), the digest, extensions
(complex and special), a review and a weekly report write their outbox rows; each row is
rendered with the real Renderer. A static check proves each template reads only its contract's
fields, and a producer that hands `enqueue` a bad context fails there, in its transaction.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jinja2 import meta, nodes
from sqlalchemy import Engine, func, select

from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.deadlines import ClockEvent, ClockKind, paused_days
from domain.wording import effective_due_at, lateness_text
from flows.escalation import run_escalation
from flows.intake import run_intake
from flows.weekly_report import build_weekly_report
from models import case_actions
from models.db import session_scope
from models.outbox import OutboxMessage
from models.sqlutil import table_of
from models.submission import submit
from notifications.contracts import (
    CONTRACTS,
    KINDS,
    RENDERER_KEYS,
    ContractError,
    Escalated,
    ReviewOpened,
    template_names,
)
from notifications.outbox import OutboxItem, enqueue
from notifications.render import ENV, Item, Rendered, Renderer
from tests.factories import complaint

CAL = WorkingCalendar()
OUT = table_of(OutboxMessage)
RAW = ("张三", "13812345678", "210202198001011238")


def at(text: str) -> datetime:
    """A local (Asia/Shanghai) time 'YYYY-MM-DD HH:MM[:SS]'."""
    seconds = "" if text.count(":") == 2 else ":00"
    return datetime.fromisoformat(text.replace(" ", "T") + seconds + "+08:00").astimezone(UTC)


def make_case(engine: Engine, config: Config, received: str = "2026-11-26 09:30", **overrides: Any) -> str:
    now = at(received)
    (result,) = submit(engine, [complaint(received_at=now.isoformat(), **overrides)], config=config, calendar=CAL,
                       now=now)
    run_intake(engine, config, now=now)
    return result.case_no


def sweep(engine: Engine, config: Config, when: str) -> dict[str, int]:
    return run_escalation(engine, config, now=at(when), calendar=CAL).per_level


def act(engine: Engine, fn: Any, **kwargs: Any) -> dict[str, Any]:
    with session_scope(engine) as s:
        out: dict[str, Any] = fn(s, calendar=CAL, actor="chen.jing", **kwargs)
        return out


def outbox(engine: Engine, kind: str, case_no: str | None = None) -> list[Any]:
    """One row per (recipient) of `kind` on e-mail (the channel with text and HTML)."""
    stmt = select(OUT.c.message_id, OUT.c.kind, OUT.c.recipient, OUT.c.context).where(
        OUT.c.kind == kind, OUT.c.channel == "email")
    if case_no is not None:
        stmt = stmt.where(OUT.c.case_no == case_no)
    with engine.connect() as conn:
        return list(conn.execute(stmt.order_by(OUT.c.id)))


def render(row: Any) -> Rendered:
    out = Renderer().render(Item(row.kind, row.context, row.message_id), html=True)
    text = out.subject + out.text + (out.html or "")
    for raw in RAW:
        assert raw not in text, f"{raw} unmasked in {row.kind}"
    assert row.context["link"] in out.text and out.html is not None and row.context["link"] in out.html
    return out


def escalated(engine: Engine, case_no: str, level: int) -> Rendered:
    rows = [r for r in outbox(engine, "escalated", case_no) if r.context["level"] == level]
    assert rows, f"no L{level} message for {case_no}"
    outs = [render(r) for r in rows]
    assert len({o.text.split("消息编号")[0] for o in outs}) == 1  # every recipient reads the same message
    return outs[0]


def test_routed_and_every_escalation_level_render_with_the_truth_about_the_deadline(
    db_engine: Engine, config: Config
) -> None:
    """Intake's routed message and L0–L3 of an ordinary case (vulnerable, at an outlet) render with the
    level's Chinese name, department, handler, masked complainant and 距…/今日到期/已逾期 as it was when fired."""
    case_no = make_case(db_engine, config, vulnerable=True, vulnerable_note="老年人", outlet="中山广场网点")
    [routed_row] = outbox(db_engine, "routed", case_no)
    routed = render(routed_row)
    assert "您有一件新投诉" in routed.text and "投诉人：张*" in routed.text and "信用卡部" in routed.text
    assert routed_row.context["handler"] in routed.text and "待指定" not in routed.text

    # the vulnerable case's triggers come a day early: L1 on the acknowledgement SLA, L0 and L2 before the deadline
    assert sweep(db_engine, config, "2026-11-28 00:10") == {"L1": 1}  # acknowledgement due 11-27 (Fri) missed
    assert sweep(db_engine, config, "2026-12-08 00:30") == {"L0": 1}
    assert sweep(db_engine, config, "2026-12-10 23:59:59") == {"L2": 1}  # deadline 12-11, a day early
    assert sweep(db_engine, config, "2026-12-12 23:59:59") == {"L3": 1}  # deadline + 2, a day early

    l1 = escalated(db_engine, case_no, 1)
    assert "承办部门负责人督办" in l1.subject and "距答复期限还有 13 天" in l1.text
    l0 = escalated(db_engine, case_no, 0)
    assert "到期提醒（经办人）" in l0.text and "距答复期限还有 3 天" in l0.text
    l2 = escalated(db_engine, case_no, 2)
    assert "消保办、分管行长督办" in l2.subject and "距答复期限还有 1 天" in l2.text
    assert "已逾期" not in l2.text and "届满" not in l2.text and "提前 1 天" in l2.text
    l3 = escalated(db_engine, case_no, 3)
    assert "行长（一把手）督办" in l3.subject and "已逾期 1 天" in l3.text
    for out in (l0, l1, l2, l3):
        assert "投诉人：张*" in out.text and "承办部门：信用卡部" in out.text
        assert "特殊群体：特殊群体（老年人）" in out.text and "受理网点：中山广场网点" in out.text
        assert "业务类别：银行卡" in out.text and "严重程度：普通" in out.text
        assert "答复期限：2026-12-11 23:59" in out.text and "经办人：" in out.text and "待指定" not in out.text
        assert "<strong>特殊群体（老年人）</strong>" in (out.html or "")


def test_deadline_day_and_after_for_an_ordinary_case(db_engine: Engine, config: Config) -> None:
    """L2 fires on the deadline day itself (今日到期), L3 two days later (已逾期 2 天); no outlet: the branch."""
    case_no = make_case(db_engine, config)
    sweep(db_engine, config, "2026-12-09 00:30")
    assert sweep(db_engine, config, "2026-12-11 23:59:59") == {"L2": 1}
    assert sweep(db_engine, config, "2026-12-14 00:10") == {"L3": 1}
    l2, l3 = escalated(db_engine, case_no, 2), escalated(db_engine, case_no, 3)
    assert "（今日到期）" in l2.subject and "答复期限届满" in l2.text and "已逾期" not in l2.text
    assert "已逾期 3 天" in l3.text and "超过答复期限2天" in l3.text
    assert "特殊群体" not in l2.text and f"受理网点：{config.org.branches['dl'].name}" in l2.text


def test_an_urgent_case_whose_l2_fires_early_does_not_say_it_is_late(db_engine: Engine, config: Config) -> None:
    """A 重大 case: L0/L1 at once, L2 two days before the deadline says 距答复期限还有 2 天, never 已逾期 / 届满."""
    case_no = make_case(db_engine, config, group_size=25)
    assert sweep(db_engine, config, "2026-11-26 10:00") == {"L0": 1, "L1": 1}
    assert sweep(db_engine, config, "2026-12-09 23:59:59") == {"L2": 1}
    l1, l2 = escalated(db_engine, case_no, 1), escalated(db_engine, case_no, 2)
    assert "立即升级" in l1.text and "严重程度：重大" in l1.text
    assert "距答复期限还有 2 天" in l2.text and "已逾期" not in l2.text and "届满" not in l2.text
    assert "提前 2 天" in l2.text


def test_digest_lists_each_case_with_level_and_pause_counted(db_engine: Engine, config: Config) -> None:
    """The daily digest lists each unacknowledged case with its level name, lateness and link; a case whose
    clock is paused is not called late: its open pause is counted in its deadline."""
    late = make_case(db_engine, config)
    paused = make_case(db_engine, config)
    assert sweep(db_engine, config, "2026-11-28 00:10") == {"L1": 2}
    act(db_engine, case_actions.pause, case_no=paused, reason="评估", evidence="评估委托书 PG-17",
        at=at("2026-12-01 10:00"), config=config, now=at("2026-12-01 10:00"))
    sweep(db_engine, config, "2026-12-12 08:00")  # the running case's L0 and L2 fire; the paused one waits
    sweep(db_engine, config, "2026-12-14 09:10")  # digest hour
    rows = outbox(db_engine, "escalation_digest")
    assert rows
    head = next(r for r in rows if r.recipient == "feng.yu")  # the department head got both L1s
    out = render(head)
    assert "【升级汇总】2026-12-14" in out.subject and "2 件" in out.text
    lines = {c: next(line for line in out.text.splitlines() if c in line) for c in (late, paused)}
    assert "承办部门负责人督办" in lines[late] and "已逾期 3 天" in lines[late]
    # paused since 12-01: 13 days added to the 12-11 deadline → 12-24
    assert "距答复期限还有 10 天" in lines[paused] and "逾期" not in lines[paused]
    assert f"{config.policy.case_link_base}{late}" in out.text and out.html is not None
    assert f'href="{config.policy.case_link_base}{paused}"' in out.html
    assert head.context["link"].endswith("/overdue")


def test_extension_messages_complex_and_special(db_engine: Engine, config: Config) -> None:
    """A complex (30 日) then special (60 日) extension: the approver, the 一把手, the handler and head are told
    by name, with the days added and both deadlines."""
    case_no = make_case(db_engine, config)
    now = at("2026-12-01 10:00")
    act(db_engine, case_actions.extend, case_no=case_no, to="complex", approver="li.ming", approver_org=None,
        approval_ref=None, reason="需调取监控录像", customer_told_at=now, customer_told_via="sms", config=config,
        now=now)
    act(db_engine, case_actions.extend, case_no=case_no, to="special", approver="省分行 刘洋",
        approver_org="某银行辽宁省分行", approval_ref="辽银消保〔2026〕12号", reason="涉及第三方机构",
        customer_told_at=now, customer_told_via="written", config=config, now=now)
    requested = [render(r) for r in outbox(db_engine, "extension_requested", case_no)]
    approved = [render(r) for r in outbox(db_engine, "extension_approved", case_no)]
    assert requested and approved
    complex_req = next(o for o in requested if "30 日" in o.subject)
    assert "延长 15 天" in complex_req.text and "现答复期限：2026-12-11 23:59" in complex_req.text
    assert "申请后期限：2026-12-26 23:59" in complex_req.text and "需调取监控录像" in complex_req.text
    special_req = [o for o in requested if "60 日" in o.subject]
    assert special_req and "延长 30 天" in special_req[0].text and "2027-01-25 23:59" in special_req[0].text
    special_ok = next(o for o in approved if "60 日" in o.text)
    assert "省分行 刘洋（某银行辽宁省分行）" in special_ok.text and "原答复期限：2026-12-26 23:59" in special_ok.text
    assert "新答复期限：2027-01-25 23:59" in special_ok.text
    complex_ok = next(o for o in approved if "30 日" in o.text)
    assert "李明" in complex_ok.text and "（" not in complex_ok.text.split("已批准")[0]


def test_review_opened_message(db_engine: Engine, config: Config) -> None:
    """A review (核查) tells the 消保办 who decides it and by when."""
    case_no = make_case(db_engine, config)
    told = at("2026-12-05 10:00")
    act(db_engine, case_actions.respond, case_no=case_no, verified="已核实年费扣收情况", basis="按合同约定",
        remedies="可申请核查、调解、仲裁或诉讼", told_via="phone", told_at=told, config=config, now=told,
        outcome="成立")
    act(db_engine, case_actions.review, case_no=case_no, requested_at=at("2026-12-20 10:00"), config=config,
        now=at("2026-12-21 10:00"))
    rows = outbox(db_engine, "review_opened", case_no)
    assert {r.recipient for r in rows} == set(config.escalation.review.notify)
    out = render(rows[0])
    assert "申请核查" in out.text and "核查期限：2027-01-19 23:59" in out.text
    assert f"{config.escalation.review.owner_org} {config.escalation.review.owner_name}" in out.text


def test_report_ready_links_to_the_report_page(db_engine: Engine, config: Config, tmp_path: Path) -> None:
    """The weekly report's message opens the API's HTML page of that week (the route that exists)."""
    from api.pages import router

    make_case(db_engine, config)
    build_weekly_report(db_engine, config, "2026-W48", at("2026-12-20 10:00"), output_dir=tmp_path)
    rows = outbox(db_engine, "report_ready")
    assert {r.recipient for r in rows} == set(config.report.recipients)
    out = render(rows[0])
    link = rows[0].context["link"]
    assert link == "http://127.0.0.1:8000/reports/2026-W48"
    assert any(getattr(r, "path", None) == "/reports/{week}" for r in router.routes)  # a page, behind login
    assert "2026-W48" in out.subject and "新受理：1 件" in out.text and "查看周报" in out.text


def test_lateness_wording_counts_an_open_pause() -> None:
    """Before / on / after the deadline, and an open pause moving the deadline (pure)."""
    due = at("2026-12-11 23:59:59")
    assert lateness_text(due, at("2026-12-09 10:00")) == "距答复期限还有 2 天"
    assert lateness_text(due, at("2026-12-11 00:00")) == "今日到期"
    assert lateness_text(due, at("2026-12-11 23:59:59")) == "今日到期"
    assert lateness_text(due, at("2026-12-12 00:00")) == "已逾期 1 天"
    since = at("2026-12-10 10:00")
    assert lateness_text(due, at("2026-12-14 10:00"), open_pause_since=since) == "距答复期限还有 1 天"
    expected, _ = paused_days([ClockEvent(ClockKind.PAUSE, since)], now=at("2026-12-14 10:00"))
    assert effective_due_at(due, open_pause_since=since, now=at("2026-12-14 10:00")) == due.replace(
        day=11 + expected)


# ------------------------------------------------------------------------------------ static check


def _undeclared(name: str, overridden: frozenset[str] = frozenset()) -> set[str]:
    """Names a template reads from its context, with its parents' (blocks the child overrides left out)."""
    source = ENV.loader.get_source(ENV, name)[0]  # type: ignore[union-attr]
    ast = ENV.parse(source)
    for block in ast.find_all(nodes.Block):
        if block.name in overridden:
            block.body = []
    names = set(meta.find_undeclared_variables(ast))
    own = frozenset(b.name for b in ast.find_all(nodes.Block) if b.body) | overridden
    for parent in meta.find_referenced_templates(ast):
        if parent:
            names |= _undeclared(parent, own)
    return names


def _nested_fields(cls: type[Any]) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("kind", KINDS)
def test_every_template_reads_only_its_contracts_fields(kind: str) -> None:
    """jinja2.meta over each template and its parents: every name it reads is a contract field (or the
    renderer's message_id / subject), and every field is used by the text template."""
    fields = _nested_fields(CONTRACTS[kind])
    for name in template_names(kind):
        used = _undeclared(name)
        assert used <= fields | RENDERER_KEYS, f"{name} reads {sorted(used - fields - RENDERER_KEYS)}"
    text_used = _undeclared(template_names(kind)[0])
    assert fields - text_used <= {"role", "triage", "level"} | ({"tags", "reasons"} if kind == "routed" else set())


def test_the_static_check_catches_a_name_the_contract_lacks() -> None:
    """The check itself fails for a template that reads a field no contract has."""
    from jinja2 import DictLoader, Environment

    env = Environment(loader=DictLoader({"t.txt": "{{ level_name }} {{ case_no }}"}))
    used = set(meta.find_undeclared_variables(env.parse(env.loader.get_source(env, "t.txt")[0])))  # type: ignore[union-attr]
    assert not used <= _nested_fields(Escalated) | RENDERER_KEYS


# ---------------------------------------------------------------------------------- enqueue checks


def _escalated_ok() -> Escalated:
    return Escalated(case_no="DL-1", level=2, level_title="消保办、分管行长督办", reason="答复期限届满",
                     late_by="今日到期", category="银行卡", severity="普通", department="信用卡部", handler="陈静",
                     complainant="张*", outlet="中山广场网点", vulnerable="", due_at="2026-12-11 23:59", chain=(),
                     link="http://127.0.0.1:8000/cases/DL-1")


@pytest.mark.parametrize("bad", ["dict", "wrong_kind", "none_field", "str_level"])
def test_a_producer_with_a_bad_context_fails_at_enqueue_and_stores_nothing(
    db_engine: Engine, config: Config, bad: str
) -> None:
    """A dict, another kind's contract, a None or a wrongly typed field: ContractError in the producer's
    transaction, which then stores nothing."""
    good = _escalated_ok()
    context: Any = {
        "dict": {"case_no": "DL-1", "level_name": "x"},
        "wrong_kind": ReviewOpened(case_no="DL-1", requested_at="x", due_at="y", owner="z", link="l"),
        "none_field": dataclasses.replace(good, department=None),  # type: ignore[arg-type]
        "str_level": dataclasses.replace(good, level="2"),  # type: ignore[arg-type]
    }[bad]
    person = next(iter(config.org.people))
    with pytest.raises(ContractError, match="通知 escalated"), session_scope(db_engine) as s:
        enqueue(s, [OutboxItem("escalated", person, "DL-1:escalated:L2", good),
                    OutboxItem("escalated", person, "DL-1:escalated:L3", context)],
                org=config.org, now=at("2026-12-11 10:00"))
    with db_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(OUT)).scalar_one() == 0
