"""The pure escalation policy and case-action rules: no database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.case_actions import (
    ExtensionRequest,
    check_extension,
    check_pause,
    check_response,
    check_review,
)
from domain.deadlines import Tier
from domain.escalation import (
    CaseClock,
    SweepDecisions,
    Unit,
    case_chain,
    decide,
    due_levels,
    is_urgent,
    next_escalation,
    resolve_recipients,
    shift,
)
from domain.lifecycle import Status
from domain.org import ChainLevel

CAL = WorkingCalendar()


def local(text: str) -> datetime:
    return datetime.fromisoformat(text + "+08:00").astimezone(UTC)


def clock(**kw: object) -> CaseClock:
    base: dict[str, object] = {"status": Status.ROUTED, "clock_started_at": local("2026-11-26T09:30:00"),
                                   "regulatory_due_at": local("2026-12-11T23:59:59"),
                                   "ack_due_at": local("2026-11-27T23:59:59"), "acknowledged": True, "urgent": False,
                                   "vulnerable": False, "paused": False}
    base.update(kw)
    return CaseClock(**base)  # type: ignore[arg-type]


def test_working_day_shift_skips_the_national_day_week() -> None:
    """Three working days before Thu 2026-10-08 is Mon 09-28 (10-01..07 are off); one after Sat 10-10 (a 调休 day) is Mon 10-12."""
    assert shift(local("2026-10-08T23:59:59"), -3, Unit.WORKING, CAL) == local("2026-09-28T23:59:59")
    assert shift(local("2026-10-09T23:59:59"), 1, Unit.WORKING, CAL) == local("2026-10-10T23:59:59")
    assert shift(local("2026-09-30T12:00:00"), 1, Unit.WORKING, CAL) == local("2026-10-08T12:00:00")


def test_levels_fire_in_order_and_only_once(config: Config) -> None:
    """At the deadline +2 days every level is due; already fired levels are not due again."""
    policy = config.escalation.policy()
    now = local("2026-12-14T00:00:00")
    assert [d.level for d in due_levels(clock(), fired=set(), now=now, policy=policy, calendar=CAL)] == [0, 1, 2, 3]
    assert [d.level for d in due_levels(clock(), fired={0, 1, 2}, now=now, policy=policy, calendar=CAL)] == [3]
    assert due_levels(clock(), fired={0, 1, 2, 3}, now=now, policy=policy, calendar=CAL) == []


def test_unacknowledged_case_reaches_department_head_after_ack_sla(config: Config) -> None:
    """An unacknowledged case's next escalation is L1 at the acknowledgement deadline."""
    nxt = next_escalation(clock(acknowledged=False), fired=set(), policy=config.escalation.policy(), calendar=CAL)
    assert nxt is not None and (nxt.level, nxt.due_at) == (1, local("2026-11-27T23:59:59"))


def test_paused_or_responded_cases_never_escalate(config: Config) -> None:
    """A paused clock or a responded case has no next escalation and nothing due."""
    policy = config.escalation.policy()
    for case in (clock(paused=True), clock(status=Status.RESPONDED), clock(status=Status.UNDER_REVIEW)):
        assert next_escalation(case, fired=set(), policy=policy, calendar=CAL) is None
        assert due_levels(case, fired=set(), now=local("2027-01-01T00:00:00"), policy=policy, calendar=CAL) == []


def test_urgent_starts_at_once_and_moves_two_days_sooner(config: Config) -> None:
    """An urgent case has L0 and L1 due when the clock starts and L2 two days before the deadline."""
    times = {d.level: d.due_at for d in due_levels(clock(urgent=True), fired=set(), now=local("2026-12-31T00:00:00"),
                                                     policy=config.escalation.policy(), calendar=CAL)}
    assert times[0] == times[1] == local("2026-11-26T09:30:00")
    assert times[2] == local("2026-12-09T23:59:59")


def test_sweep_decisions_match_decide_for_every_kind_of_case(config: Config) -> None:
    """The sweep's memoised `decide` gives what `decide` gives, case by case, whatever the memo already holds:
    cases differing only in what the policy ignores (the clock start when not urgent, the acknowledgement
    deadline once acknowledged) share an entry; every other difference gets its own."""
    policy = config.escalation.policy()
    now = local("2026-12-10T10:00:00")
    decisions = SweepDecisions(now=now, policy=policy, calendar=CAL)
    cases = [
        clock(**{"status": status, "clock_started_at": local(start), "regulatory_due_at": local(due),
                 "ack_due_at": local(ack), "acknowledged": acked, "urgent": urgent, "vulnerable": vulnerable,
                 "paused": paused})
        for status in (Status.ROUTED, Status.ACKNOWLEDGED, Status.RESPONDED, Status.UNDER_REVIEW)
        for start in ("2026-11-26T09:30:00", "2026-11-27T15:00:00")
        for due in ("2026-12-11T23:59:59", "2026-12-14T23:59:59", "2026-12-08T23:59:59")
        for ack in ("2026-11-27T23:59:59", "2026-12-11T23:59:59")
        for acked in (True, False)
        for urgent in (False, True)
        for vulnerable in (False, True)
        for paused in (False, True)
    ]
    for fired in (set(), {0}, {0, 1, 2}, {0, 1, 2, 3}):
        for case in cases:
            got = decisions(status=case.status.value, clock_started_at=case.clock_started_at,
                            regulatory_due_at=case.regulatory_due_at, ack_due_at=case.ack_due_at,
                            acknowledged=case.acknowledged, urgent=case.urgent, vulnerable=case.vulnerable,
                            paused=case.paused, fired=fired)
            due, nxt = decide(case, fired=fired, now=now, policy=policy, calendar=CAL)
            assert got == (tuple(due), nxt), (case, fired)


def test_urgency_is_read_from_stored_fields() -> None:
    """重大 (given or 20 together), 舆情/司法/监管 and NFRA/PBoC/信访 sources are urgent; 情绪激动 alone is not."""
    plain: dict[str, object] = {"severity": "ordinary", "severity_requested": None, "group_size": 1, "tags": [], "source": "desk"}
    assert not is_urgent(**plain)  # type: ignore[arg-type]
    assert not is_urgent(**{**plain, "tags": ["emotional"]})  # type: ignore[arg-type]
    for change in ({"group_size": 20}, {"severity_requested": "major"}, {"tags": ["judicial"]}, {"source": "pboc"}):
        assert is_urgent(**{**plain, **change})  # type: ignore[arg-type]


def test_recipients_follow_acting_leave_and_vacancy(config: Config) -> None:
    """A handler on leave is replaced by the delegate; a seat with nobody goes to the next seat up."""
    org = config.org
    chain = case_chain(org, branch="dl", department_branch="dl", department="wealth", handler="xu.ming")
    assert [(r.person_id, r.acting) for r in resolve_recipients(chain, [ChainLevel.HANDLER])] == [("qin.yi", True)]
    xg = case_chain(org, branch="dl-xg", department_branch="dl-xg", department="outlet", handler="tang.li")
    (r,) = resolve_recipients(xg, [ChainLevel.DEPARTMENT_HEAD])
    assert (r.person_id, r.moved_up) == ("zhao.li", True)
    both = resolve_recipients(chain, [ChainLevel.CP_OFFICE, ChainLevel.DEPUTY])
    assert [x.person_id for x in both] == ["zhao.li", "li.ming"]


def _request(**kw: object) -> ExtensionRequest:
    base: dict[str, object] = {"current": Tier.STANDARD, "target": Tier.COMPLEX, "approver": "li.ming", "approver_org": None,
                                   "approval_ref": None, "reason": "需鉴定", "customer_told_at": local("2026-11-30T10:00:00"),
                                   "customer_told_via": "sms", "at": local("2026-11-30T10:00:00"),
                                   "current_due_at": local("2026-12-11T23:59:59")}
    base.update(kw)
    return ExtensionRequest(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("change", "field"), [
    ({"approver": "zhao.li"}, "approver（批准人）：30 日延期须由本行投诉处理工作负责人 li.ming 批准"),
    ({"target": Tier.SPECIAL, "approver_org": "某某公司", "approval_ref": "x"}, "approver-org（批准机构）：'某某公司' 不是上级机构或总行"),
    ({"target": Tier.SPECIAL, "approver_org": "某银行总行"}, "approval-ref（批准文号）：60 日延期须填写批准文号"),
    ({"current": Tier.COMPLEX}, "to（延期档次）：案件已是“复杂（30 日）”，延期只能逐级延长"),
    ({"customer_told_via": "pigeon"}, "customer-told-via（告知投诉人方式）：'pigeon' 不是可选值之一"),
    ({"at": local("2026-12-12T10:00:00")}, "to（延期档次）：当前答复期限（2026-12-11 23:59，北京时间）已过"),
])
def test_extension_refusals_name_the_field(change: dict[str, object], field: str) -> None:
    """Each wrong extension is refused with a problem naming its field."""
    problems = check_extension(_request(**change), complaint_lead="li.ming", superior_orgs={"某银行总行"})
    assert any(p.startswith(field) for p in problems), problems


def test_extension_by_the_complaint_lead_is_allowed() -> None:
    """The configured 投诉处理工作负责人 may extend to 30 days."""
    assert check_extension(_request(), complaint_lead="li.ming", superior_orgs={"某银行总行"}) == []


def test_pause_review_and_response_rules() -> None:
    """Only 鉴定/检测/评估/调解 stop the clock; a review is due within 30 days; a response states Art. 19's three parts."""
    assert check_pause("调解", "M-1") == [] and check_pause("出差", "x")[0].startswith("reason（理由）：'出差' 不是中止计时的事由")
    decided = local("2026-12-01T10:00:00")
    assert check_review(local("2026-12-31T23:00:00"), decided) == []
    assert check_review(local("2027-01-01T09:00:00"), decided)[0].startswith("requested-at（申请时间）：在答复决定后第 31 日提出")
    assert check_response(verified="", basis="b", remedies=" ", told_via="sms") == [
        "verified（核实情况）：必填（第十九条：答复须写明核实情况）", "remedies（救济途径）：必填（第十九条：答复须写明救济途径）"]
