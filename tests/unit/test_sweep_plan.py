"""The escalation sweep's and the digest's decisions, without a database (domain.sweep)."""

from __future__ import annotations

from datetime import UTC, datetime

from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.sweep import (
    OpenEscalation,
    ScheduleCase,
    StoredRecipient,
    SweepCase,
    SweepMemo,
    digest_day,
    plan_digests,
    plan_schedule,
    plan_sweep,
)
from notifications.contracts import ChainEntry, EscalationDigest

CAL = WorkingCalendar()


def local(text: str) -> datetime:
    return datetime.fromisoformat(text.replace(" ", "T") + "+08:00").astimezone(UTC)


def memo(config: Config, now: str) -> SweepMemo:
    return SweepMemo(now=local(now), policy=config.escalation.policy(), calendar=CAL, org=config.org,
                     case_link_base="https://cp.bank.example/cases/")


def case(cid: int = 1, **kw: object) -> SweepCase:
    """A routed, unacknowledged 银行卡 case received 2026-11-26 09:30 (due 12-11, ack due 11-27)."""
    base: dict[str, object] = {
        "id": cid, "case_no": f"DL-2026-{cid:06d}", "status": "routed", "branch": "dl", "department_branch": "dl",
        "department": "card", "handler": "chen.jing", "severity": "ordinary", "severity_requested": None,
        "group_size": 1, "tags": (), "source": "desk", "vulnerable": False, "category": "B03",
        "complainant_name": "张三", "clock_started_at": local("2026-11-26 09:30:00"),
        "regulatory_due_at": local("2026-12-11 23:59:59"), "ack_due_at": local("2026-11-27 23:59:59"),
        "acknowledged": False, "vulnerable_note": None, "outlet": None,
    }
    base.update(kw)
    return SweepCase(**base)  # type: ignore[arg-type]


def test_due_levels_fire_to_the_chain_with_their_wording_and_the_next_level_is_scheduled(config: Config) -> None:
    """On the deadline day an unacknowledged case has L0 (3 working days before) and L1 (the
    acknowledgement SLA) due: L0 to the handler, L1 to the department head, each one message
    per recipient with the masked, Chinese wording; the case is next due for L2 at the deadline."""
    m = memo(config, "2026-12-11 10:00:00")
    plan = plan_sweep([case()], fired={}, paused=set(), memo=m)
    assert list(plan.firings) == [(1, 0), (1, 1)]
    l0, l1 = plan.firings[(1, 0)], plan.firings[(1, 1)]
    assert l0.row.recipients == (StoredRecipient("chen.jing", "陈静", "handler", "经办人", False, False),)
    assert l1.row.recipients == (StoredRecipient("feng.yu", "冯宇", "department_head", "信用卡部总经理", False, False),)
    assert [(x.kind, x.recipient, x.key) for x in l1.messages] == [("escalated", "feng.yu", "DL-2026-000001:escalated:L1")]
    ctx = l1.messages[0].context
    assert (ctx.level_title, ctx.reason, ctx.late_by) == ("承办部门负责人督办", "确认（受理告知）期限届满", "今日到期")
    assert (ctx.category, ctx.severity, ctx.department, ctx.handler) == ("银行卡", "普通", "信用卡部", "陈静")
    assert (ctx.complainant, ctx.outlet, ctx.vulnerable, ctx.due_at) == ("张*", "大连分行", "", "2026-12-11 23:59")
    assert ctx.link == "https://cp.bank.example/cases/DL-2026-000001"
    assert ctx.chain[:2] == (ChainEntry("经办人", "陈静"), ChainEntry("信用卡部总经理", "冯宇"))
    assert [c.name for c in ctx.chain] == ["陈静", "冯宇", "赵丽", "李明", "王军"]
    assert l1.audit.action == "escalated" and l1.audit.after == {
        "level": 1, "name": "承办部门负责人督办", "recipients": ["feng.yu"], "due_at": "2026-11-27T15:59:59+00:00"}
    assert (l0.event.recipients, l0.event.late_days) == (("chen.jing",), 0)
    assert [(e.complaint_id, e.next_level, e.next_at) for e in plan.schedule] == [(1, 2, local("2026-12-11 23:59:59"))]
    assert plan.unschedule == []


def test_paused_closed_and_already_fired_cases(config: Config) -> None:
    """A paused or responded case fires nothing and leaves the schedule; fired levels do not fire again."""
    m = memo(config, "2026-12-11 10:00:00")
    plan = plan_sweep([case(1), case(2, status="responded"), case(3)], fired={3: {0, 1}}, paused={1}, memo=m)
    assert plan.firings == {} and plan.unschedule == [1, 2]
    assert [(e.complaint_id, e.next_level) for e in plan.schedule] == [(3, 2)]


def test_recipients_and_wording_follow_leave_and_mask_the_vulnerable_note(config: Config) -> None:
    """A handler on leave: the delegate gets L0 (acting); the vulnerable note is masked, the
    triggers come a day sooner and say why, and an overdue case says by how many days."""
    m = memo(config, "2026-12-15 10:00:00")
    plan = plan_sweep([case(department="wealth", handler="xu.ming", vulnerable=True,
                            vulnerable_note="张三听力障碍，请电话联系", outlet="大连西岗支行")],
                      fired={1: {1}}, paused=set(), memo=m)
    assert sorted(lv for _, lv in plan.firings) == [0, 2, 3]
    l0 = plan.firings[(1, 0)]
    assert [(r.person, r.acting, r.seat) for r in l0.row.recipients] == [("qin.yi", True, "handler")]
    ctx = l0.messages[0].context
    assert "张三" not in ctx.vulnerable and ctx.vulnerable.startswith("特殊群体（张*")
    assert ctx.late_by == "已逾期 4 天" and ctx.outlet == "大连西岗支行"
    assert "特殊群体，提前 1 天升级" in ctx.reason
    l2 = plan.firings[(1, 2)]
    assert [r.person for r in l2.row.recipients] == ["zhao.li", "li.ming"]
    assert [x.recipient for x in l2.messages] == ["zhao.li", "li.ming"]
    assert l2.messages[0].context is l2.messages[1].context  # one contract per fired level


def test_one_memo_per_run_shares_what_cases_have_in_common(config: Config) -> None:
    """Two batches of one run: the same chain's recipients and the same wording are built once."""
    m = memo(config, "2026-12-11 10:00:00")
    a = plan_sweep([case(1)], fired={}, paused=set(), memo=m)
    b = plan_sweep([case(2, complainant_name="李四")], fired={}, paused=set(), memo=m)
    assert a.firings[(1, 1)].row.recipients is b.firings[(2, 1)].row.recipients
    assert a.firings[(1, 1)].messages[0].context.chain is b.firings[(2, 1)].messages[0].context.chain
    assert b.firings[(2, 1)].messages[0].context.complainant == "李*"


def test_schedule_is_the_earliest_level_still_to_fire_even_if_already_past(config: Config) -> None:
    m = memo(config, "2026-12-11 10:00:00")
    cases = [ScheduleCase(1, "routed", "ordinary", None, 1, (), "desk", False, local("2026-11-26 09:30:00"),
                          local("2026-12-11 23:59:59"), local("2026-11-27 23:59:59"), False),
             ScheduleCase(2, "closed", "ordinary", None, 1, (), "desk", False, local("2026-11-26 09:30:00"),
                          local("2026-12-11 23:59:59"), local("2026-11-27 23:59:59"), False),
             ScheduleCase(3, "routed", "ordinary", None, 1, ("judicial",), "desk", False,
                          local("2026-11-26 09:30:00"), local("2026-12-11 23:59:59"), local("2026-11-27 23:59:59"),
                          True)]
    keep, drop = plan_schedule(cases, fired={3: {0}}, paused=set(), memo=m)
    assert drop == [2]
    assert [(e.complaint_id, e.next_level, e.next_at) for e in keep] == [
        (1, 1, local("2026-11-27 23:59:59")),  # the acknowledgement SLA: past, so due at the next sweep
        (3, 1, local("2026-11-26 09:30:00")),  # urgent: L1 at once when the clock starts
    ]


def test_digest_per_recipient_with_its_cases_counted_and_the_pause_counted_in_the_lateness(config: Config) -> None:
    m = memo(config, "2026-12-15 09:30:00")
    assert digest_day(local("2026-12-15 08:59:00"), hour=9) is None
    day = digest_day(local("2026-12-15 09:00:00"), hour=9)
    assert day is not None and day.isoformat() == "2026-12-15"
    due = local("2026-12-11 23:59:59")
    found = [OpenEscalation(1, "DL-2026-000001", 1, "承办部门负责人督办", local("2026-12-10 10:00:00"), ("feng.yu",), due),
             OpenEscalation(2, "DL-2026-000002", 2, "消保办、分管行长督办", local("2026-12-12 10:00:00"),
                            ("zhao.li", "li.ming"), due)]
    found += [OpenEscalation(10 + i, f"DL-2026-{10 + i:06d}", 2, "消保办、分管行长督办", local("2026-12-12 10:00:00"),
                             ("zhao.li",), due) for i in range(200)]
    intents = plan_digests(found, pauses={2: local("2026-12-13 10:00:00")}, day=day, memo=m)
    assert [(i.kind, i.recipient, i.key) for i in intents] == [
        ("escalation_digest", p, "escalation_digest:2026-12-15") for p in ("feng.yu", "li.ming", "zhao.li")]
    by = {i.recipient: i.context for i in intents}
    assert all(isinstance(c, EscalationDigest) for c in by.values())
    zhao = by["zhao.li"]
    assert zhao.count == 201 and len(zhao.cases) == 200 and zhao.cases[0].case_no == "DL-2026-000002"
    assert zhao.link == "https://cp.bank.example/overdue" and zhao.date == "2026-12-15"
    feng = by["feng.yu"]
    assert feng.cases[0].late_by == "已逾期 4 天" and feng.cases[0].fired_at == "2026-12-10 10:00"
    assert zhao.cases[0].late_by == "已逾期 2 天"  # two days of a pause still open are added to its deadline
