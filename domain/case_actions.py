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
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.deadlines import Tier, end_of_local_day, local_date

PAUSE_REASONS: tuple[str, ...] = ("鉴定", "检测", "评估", "调解")
NOTICE_WAYS: tuple[str, ...] = ("written", "sms", "email", "phone")  # Art. 21
REVIEW_WINDOW_DAYS = 30
REVIEW_DAYS = 30
_TIER_RANK = {Tier.STANDARD: 0, Tier.COMPLEX: 1, Tier.SPECIAL: 2}


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
                    superior_orgs: Collection[str]) -> list[str]:
    """Problems with an extension, each naming its field; [] when it may be recorded."""
    problems: list[str] = []
    if _TIER_RANK[req.target] <= _TIER_RANK[req.current]:
        problems.append(f"to: the case is already '{req.current.value}'; an extension only goes up "
                        f"(standard → complex → special)")
    if req.target is Tier.COMPLEX:
        if complaint_lead is None:
            problems.append("approver: no 投诉处理工作负责人 is configured for this branch (config/escalation.yaml)")
        elif req.approver != complaint_lead:
            problems.append(f"approver: an extension to 30 days is approved by the branch's 投诉处理工作负责人 "
                            f"({complaint_lead!r}), not {req.approver!r}")
    elif req.target is Tier.SPECIAL:
        if not req.approver_org:
            problems.append("approver-org: an extension to 60 days needs the approving 上级机构 or head office")
        elif req.approver_org not in superior_orgs:
            problems.append(f"approver-org: {req.approver_org!r} is not a 上级机构 or head office "
                            f"(known: {', '.join(sorted(superior_orgs))})")
        if not req.approval_ref:
            problems.append("approval-ref: an extension to 60 days needs the approval's reference")
    if not req.approver.strip():
        problems.append("approver: required")
    if not req.reason.strip():
        problems.append("reason: required")
    if req.customer_told_via not in NOTICE_WAYS:
        problems.append(f"customer-told-via: {req.customer_told_via!r} is not one of {', '.join(NOTICE_WAYS)}")
    if req.customer_told_at > req.at + timedelta(minutes=5):
        problems.append("customer-told-at: is in the future")
    if req.at > req.current_due_at:
        problems.append(f"to: the current deadline ({req.current_due_at.isoformat()}) has passed; "
                        f"an extension must be decided within it")
    return problems


def check_pause(reason: str, evidence: str) -> list[str]:
    problems: list[str] = []
    if reason not in PAUSE_REASONS:
        problems.append(f"reason: {reason!r} does not stop the clock; one of {', '.join(PAUSE_REASONS)}")
    if not evidence.strip():
        problems.append("evidence: a reference to the appraisal/testing/evaluation/mediation record is required")
    return problems


def review_due_at(requested_at: datetime) -> datetime:
    """A review is decided within 30 days of the request (same day counting as the deadline)."""
    return end_of_local_day(local_date(requested_at) + timedelta(days=REVIEW_DAYS))


def check_review(requested_at: datetime, responded_at: datetime | None) -> list[str]:
    if responded_at is None:
        return ["requested-at: the case has no decision (responded_at) to review"]
    if requested_at < responded_at:
        return [f"requested-at: before the decision ({responded_at.isoformat()})"]
    days = (local_date(requested_at) - local_date(responded_at)).days
    if days > REVIEW_WINDOW_DAYS:
        return [f"requested-at: {days} days after the decision; a review must be requested within "
                f"{REVIEW_WINDOW_DAYS} days (Art. 20)"]
    return []


def check_response(*, verified: str, basis: str, remedies: str, told_via: str) -> list[str]:
    problems = [f"{name}: required (Art. 19: {label})"
                for name, label, value in (("verified", "核实情况", verified), ("basis", "依据和理由", basis),
                                           ("remedies", "救济途径", remedies))
                if not value.strip()]
    if told_via not in NOTICE_WAYS:
        problems.append(f"told-via: {told_via!r} is not one of {', '.join(NOTICE_WAYS)}")
    return problems
