"""Pure rules for what a handler or supervisor does to a case: extend, pause, review, respond.

Each `check_*` returns the problems (each naming its field) and leaves storing to the caller;
an empty list means the action is allowed.

* Extension (NFRA Art. 18): to 30 days (complex) with the approval of the branch's
  投诉处理工作负责人; to 60 days (special) only with an approval recorded from the 上级机构 or
  head office (approver name, organisation, reference). The tier only goes up, the request
  must come before the current deadline, and the complainant must have been told (Art. 21:
  when, and how — the proof of notice).
* Pause (Art. 18, 23): only for appraisal, testing, evaluation or mediation, with evidence.
* Review (核查, Art. 20): requested within 30 days of the decision; decided within 30 days.
* Response (Art. 19): states 核实情况, 依据和理由 and 救济途径, and how and when the
  complainant was told.
* Assignment (Art. 17): a handler of the case's department, never the person complained about.
* Who hears of an extension: the approver (and the 一把手 for 60 days) is asked, the handler and
  the department head are told.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.deadlines import Tier, end_of_local_day, local_date, local_text
from domain.field_names import refusal
from domain.org import Person

PAUSE_REASONS: tuple[str, ...] = ("鉴定", "检测", "评估", "调解")
NOTICE_WAYS: tuple[str, ...] = ("written", "sms", "email", "phone")  # Art. 21
REVIEW_WINDOW_DAYS = 30
REVIEW_DAYS = 30
_TIER_RANK = {Tier.STANDARD: 0, Tier.COMPLEX: 1, Tier.SPECIAL: 2}
TIER_NAMES = {Tier.STANDARD: "一般（15 日）", Tier.COMPLEX: "复杂（30 日）", Tier.SPECIAL: "特殊（60 日）"}
NOTICE_NAMES = {"written": "书面", "sms": "短信", "email": "电子邮件", "phone": "电话"}


def _ways() -> str:
    return "、".join(f"{w}（{NOTICE_NAMES[w]}）" for w in NOTICE_WAYS)


@dataclass(frozen=True)
class ExtensionRequest:
    current: Tier
    target: Tier
    approver: str  # a person id (complex) or a name (special: someone outside the org chart)
    approver_org: str | None
    approval_ref: str | None
    reason: str
    customer_told_at: datetime
    customer_told_via: str
    at: datetime
    current_due_at: datetime


def check_extension(req: ExtensionRequest, *, complaint_lead: str | None,
                    superior_orgs: Collection[str], lead_name: str | None = None) -> list[str]:
    """Problems with an extension, each naming its field; [] when it may be recorded.

    `lead_name` is the 投诉处理工作负责人's name, shown beside the id when given.
    """
    problems: list[str] = []
    if _TIER_RANK[req.target] <= _TIER_RANK[req.current]:
        problems.append(refusal("to", f"案件已是“{TIER_NAMES[req.current]}”，延期只能逐级延长"
                                      f"（一般 → 复杂 → 特殊）"))
    if req.target is Tier.COMPLEX:
        if complaint_lead is None:
            problems.append(refusal("approver", "本行未配置投诉处理工作负责人（config/escalation.yaml），不能批准 30 日延期"))
        elif req.approver != complaint_lead:
            lead = f"{lead_name}（{complaint_lead}）" if lead_name else f"{complaint_lead} "
            problems.append(refusal("approver", f"30 日延期须由本行投诉处理工作负责人 {lead}批准，"
                                                f"不是 {req.approver!r}"))
    elif req.target is Tier.SPECIAL:
        if not req.approver_org:
            problems.append(refusal("approver-org", "60 日延期须注明批准的上级机构或总行"))
        elif req.approver_org not in superior_orgs:
            problems.append(refusal("approver-org", f"{req.approver_org!r} 不是上级机构或总行"
                                                    f"（可选：{'、'.join(sorted(superior_orgs))}）"))
        if not req.approval_ref:
            problems.append(refusal("approval-ref", "60 日延期须填写批准文号"))
    if not req.approver.strip():
        problems.append(refusal("approver", "必填"))
    if not req.reason.strip():
        problems.append(refusal("reason", "必填"))
    if req.customer_told_via not in NOTICE_WAYS:
        problems.append(refusal("customer-told-via", f"{req.customer_told_via!r} 不是可选值之一：{_ways()}"))
    if req.customer_told_at > req.at + timedelta(minutes=5):
        problems.append(refusal("customer-told-at", "晚于当前时间，不能是将来的时间"))
    if req.at > req.current_due_at:
        problems.append(refusal("to", f"当前答复期限（{local_text(req.current_due_at)}，北京时间）已过，"
                                      f"延期须在期限内决定"))
    return problems


def check_pause(reason: str, evidence: str) -> list[str]:
    problems: list[str] = []
    if reason not in PAUSE_REASONS:
        problems.append(refusal("reason", f"{reason!r} 不是中止计时的事由，须为{'、'.join(PAUSE_REASONS)}之一"))
    if not evidence.strip():
        problems.append(refusal("evidence", "须填写鉴定、检测、评估或调解记录的凭证编号"))
    return problems


def review_due_at(requested_at: datetime) -> datetime:
    """A review is decided within 30 days of the request (same day counting as the deadline)."""
    return end_of_local_day(local_date(requested_at) + timedelta(days=REVIEW_DAYS))


def check_review(requested_at: datetime, responded_at: datetime | None) -> list[str]:
    if responded_at is None:
        return [refusal("requested-at", "案件尚无答复决定（responded_at），无可核查")]
    if requested_at < responded_at:
        return [refusal("requested-at", f"早于答复决定的时间（{local_text(responded_at)}，北京时间）")]
    days = (local_date(requested_at) - local_date(responded_at)).days
    if days > REVIEW_WINDOW_DAYS:
        return [refusal("requested-at", f"在答复决定后第 {days} 日提出；核查申请须在答复后 "
                                        f"{REVIEW_WINDOW_DAYS} 日内提出（第二十条）")]
    return []


def check_response(*, verified: str, basis: str, remedies: str, told_via: str) -> list[str]:
    problems = [refusal(name, f"必填（第十九条：答复须写明{label}）")
                for name, label, value in (("verified", "核实情况", verified), ("basis", "依据和理由", basis),
                                           ("remedies", "救济途径", remedies))
                if not value.strip()]
    if told_via not in NOTICE_WAYS:
        problems.append(refusal("told-via", f"{told_via!r} 不是可选值之一：{_ways()}"))
    return problems


def must_recuse(respondent: str | None, person: Person) -> bool:
    """Art. 17: the person complained about (named by id or by name in `respondent`) must not handle the case."""
    return bool(respondent) and (person.id in (respondent or "") or person.name in (respondent or ""))


def check_assignment(*, handler: str, people: Mapping[str, Person], department: str,
                     department_handlers: Collection[str] | None, respondent: str | None,
                     current_handler: str | None) -> list[str]:
    """Whether `handler` may take the case over: [] when allowed, else the first problem (naming `handler`).

    `department_handlers`: the handlers of the case's department (None when the org chart has no such department).
    """
    person = people.get(handler)
    if person is None:
        return [refusal("handler", f"组织架构中没有此人 {handler!r}")]
    if department_handlers is None or handler not in department_handlers:
        return [refusal("handler", f"{handler!r} 不是部门 {department!r} 的承办人")]
    if must_recuse(respondent, person):
        return [refusal("handler", f"{person.name} 是本投诉的被投诉对象，应当回避，不能承办（第十七条）")]
    if handler == current_handler:
        return [refusal("handler", f"案件已由 {handler!r} 承办")]
    return []


@dataclass(frozen=True)
class ExtensionNotice:
    """Who hears of an extension: `asked` get `extension_requested`, `told` get `extension_approved`."""

    asked: tuple[str, ...]
    told: tuple[str, ...]


def extension_recipients(target: Tier, *, approver: str, known: Collection[str], president: str | None,
                         handler: str | None, department_head: str | None) -> ExtensionNotice:
    """The approver is asked when the org chart knows them (a 60-day approver from the 上级机构 is not in
    it); a 60-day extension also goes past the branch's 一把手 (§3). The handler and the department
    head are told it was approved (each once, in id order)."""
    asked = [approver] if approver in known else []
    if target is Tier.SPECIAL:
        asked.append(president or "")
    told = sorted(p for p in {handler, department_head} if p)
    return ExtensionNotice(asked=tuple(p for p in asked if p), told=tuple(told))
