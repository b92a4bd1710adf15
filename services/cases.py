"""Commands on cases, for every adapter (the CLI, the API and pages): submit, each case action,
acknowledge an escalation, view a case, the weekly reports.

Each command runs in the caller's `UnitOfWork` (one transaction) and records the event to
announce once it commits. Refusals are the stores' and the domain's (`ActionError`,
`IllegalTransition`, `KeyReused`, ValueError naming the field); who may run a command, and how a
refusal maps to an HTTP status or an exit code, is the adapter's business (api/, complaints/).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from models import case_actions
from models.case_actions import ActionError
from models.case_results import (
    AcknowledgeEscalationResult,
    AcknowledgeResult,
    ActionResult,
    AssignResult,
    CloseResult,
    DeadlineResult,
    ExtendResult,
    PauseResult,
    RespondResult,
    ResumeResult,
    ReviewResult,
    TransitionResult,
    WithdrawResult,
)
from models.case_views import CaseDetail, case_detail, record_personal_data_view
from models.escalation_store import acknowledge_escalation as _acknowledge_escalation
from models.queries import ReportListing, latest_reports
from models.report import latest_snapshot
from models.schemas import ComplaintIn, SubmitResult
from models.submission import CLI_CLIENT, validate_items
from models.submission import submit as _submit
from services.announce import SUBMITTED, submitted
from services.unit_of_work import Runtime, UnitOfWork

# ---------------------------------------------------------------- submit


def validate(rt: Runtime, raw: Any, *, now: datetime, window: bool = False,
             may_approve: bool = False) -> tuple[list[ComplaintIn | None], list[list[str]]]:
    """One submitted object or a list of them checked against the schema, the configuration and the clock."""
    return validate_items(raw, config=rt.config, now=now, window=window, may_approve=may_approve)


def submit(rt: Runtime, items: Sequence[ComplaintIn], *, now: datetime, actor: str, client: str = CLI_CLIENT,
           announce: bool = True) -> list[SubmitResult]:
    """Store every item or none (models/submission.py: its own batched transactions); new cases are
    announced (`complaint.submitted`) unless `announce` is False (the API's batcher announces per request)."""
    with rt.serial():
        results = _submit(rt.engine, items, config=rt.config, calendar=rt.calendar, now=now, actor=actor,
                          client=client) if items else []
    if announce:
        announce_submitted(rt, results)
    return results


def announce_submitted(rt: Runtime, results: Sequence[SubmitResult]) -> None:
    """`complaint.submitted` for the new cases among `results` (a duplicate is not new)."""
    new = [r.case_no for r in results if not r.duplicate]
    if new:
        rt.publish([(SUBMITTED, submitted(new, limit=rt.config.policy.intake.event_batch_limit))])


# ---------------------------------------------------------------- case actions (typed commands)


@dataclass(frozen=True)
class Acknowledge:
    pass


@dataclass(frozen=True)
class Assign:
    handler: str


@dataclass(frozen=True)
class Pause:
    reason: str
    evidence: str
    at: datetime | None = None  # default: now
    evidence_file_id: int | None = None  # one of the case's evidence files (models/workbench.py)


@dataclass(frozen=True)
class Resume:
    at: datetime | None = None


@dataclass(frozen=True)
class NewFacts:
    at: datetime


@dataclass(frozen=True)
class Extend:
    to: str
    approver: str
    reason: str
    customer_told_at: datetime
    customer_told_via: str
    approver_org: str | None = None
    approval_ref: str | None = None


@dataclass(frozen=True)
class Respond:
    verified: str
    basis: str
    remedies: str
    told_via: str
    told_at: datetime | None = None
    proof_file_id: int | None = None  # the proof of notice, one of the case's evidence files
    outcome: str | None = None  # 投诉是否成立 (models/case_actions.py respond)
    not_upheld_reason: str | None = None
    redress_type: str | None = None
    redress_amount: Decimal | str | None = None


@dataclass(frozen=True)
class Close:
    root_cause: str | None = None  # 溯源, required (models/case_actions.py close; config/root_causes.yaml)


@dataclass(frozen=True)
class Withdraw:
    at: datetime | None = None


@dataclass(frozen=True)
class Reopen:
    reason: str


@dataclass(frozen=True)
class Review:
    requested_at: datetime


Command = (Acknowledge | Assign | Pause | Resume | NewFacts | Extend | Respond | Close | Withdraw | Reopen
           | Review)
Store = Callable[..., ActionResult]  # a models/case_actions.py function: (session, case_no=, ..., actor=)


@dataclass(frozen=True)
class CaseAction:
    """A case action: its command (whose fields are the store's keyword arguments), the store function
    that applies it, the event announced after the commit, and the Chinese button text."""

    command: type[Command]
    store: Store
    event: str  # announced after the commit, on the case's resource
    title: str  # Chinese button text
    now_default: tuple[str, ...] = ()  # time fields that mean "now" when left out
    permission: str = "act"  # api/access.py's name for who may run it

    def run(self, uow: UnitOfWork, case_no: str, command: Command, actor: str) -> ActionResult:
        args = {f.name: getattr(command, f.name) for f in fields(command)}
        for name in self.now_default:
            args[name] = args[name] or uow.now
        return self.store(uow.session, case_no=case_no, **args, config=uow.config, calendar=uow.calendar,
                          now=uow.now, actor=actor)


CASE_ACTIONS: dict[str, CaseAction] = {
    "acknowledge": CaseAction(Acknowledge, case_actions.acknowledge, "complaint.acknowledged", "确认受理"),
    "assign": CaseAction(Assign, case_actions.assign, "complaint.assigned", "指派承办人", permission="assign"),
    "pause": CaseAction(Pause, case_actions.pause, "complaint.paused", "中止计时", ("at",)),
    "resume": CaseAction(Resume, case_actions.resume, "complaint.resumed", "恢复计时", ("at",)),
    "new-facts": CaseAction(NewFacts, case_actions.new_facts, "complaint.restarted", "新事实重新计时"),
    "extend": CaseAction(Extend, case_actions.extend, "complaint.extended", "延期"),
    "respond": CaseAction(Respond, case_actions.respond, "complaint.responded", "答复", ("told_at",)),
    "close": CaseAction(Close, case_actions.close, "complaint.closed", "办结"),
    "withdraw": CaseAction(Withdraw, case_actions.withdraw, "complaint.withdrawn", "撤诉", ("at",)),
    "reopen": CaseAction(Reopen, case_actions.reopen, "complaint.reopened", "重新处理"),
    "review": CaseAction(Review, case_actions.review, "complaint.review_opened", "申请核查"),
}


def act(uow: UnitOfWork, case_no: str, action: str, command: Command, *, actor: str) -> ActionResult:
    """One action on one case in the unit's transaction, announced (its event, with the result's
    `as_dict()`) once it commits; the result is the store's (models/case_results.py: one type per action).

    Raises `ActionError` (each problem naming its field) or `IllegalTransition` before anything is written.
    """
    spec = CASE_ACTIONS[action]
    if not isinstance(command, spec.command):
        raise TypeError(f"{action}: expected {spec.command.__name__}, got {type(command).__name__}")
    out = spec.run(uow, case_no, command, actor)
    uow.announce(spec.event, out.as_dict())
    return out


# ---------------------------------------------------------------- escalations, viewing, reports


def acknowledge_escalation(uow: UnitOfWork, *, case_no: str, level: int, by: str) -> AcknowledgeEscalationResult:
    """A supervisor acknowledges a fired level; ActionError naming the field when `by` may not."""
    try:
        out = _acknowledge_escalation(uow.session, case_no=case_no, level=level, by=by, now=uow.now)
    except ValueError as exc:
        raise ActionError([str(exc)]) from None
    uow.announce("complaint.escalation_acknowledged", out.as_dict())
    return out


def view(uow: UnitOfWork, case_no: str, *, unmask: bool = False, actor: str = "",
         why: str = "") -> CaseDetail | None:
    """The case with its timeline (deadlines as of the unit's instant); an unmasked view is audited
    (`actor`, and `why` as the event's detail)."""
    detail = case_detail(uow.session, case_no, unmask=unmask, now=uow.now)
    if detail is not None and unmask:
        record_personal_data_view(uow.session, case_no=case_no, actor=actor, detail=why, now=uow.now)
    return detail


def reports(uow: UnitOfWork) -> list[ReportListing]:
    """Each week's newest frozen report, newest week first."""
    return latest_reports(uow.session)


def report(uow: UnitOfWork, week: str) -> Any | None:
    """The newest frozen snapshot of `week`, or None."""
    return latest_snapshot(uow.session, week)


__all__ = ["CASE_ACTIONS", "AcknowledgeEscalationResult", "AcknowledgeResult", "ActionResult", "AssignResult",
           "CloseResult", "DeadlineResult", "ExtendResult", "PauseResult", "RespondResult", "ResumeResult",
           "ReviewResult", "TransitionResult", "WithdrawResult", "Acknowledge", "ActionError", "Assign",
           "CaseAction", "Close", "Command", "Extend", "NewFacts", "Pause", "Reopen", "Respond", "Resume", "Review",
           "Withdraw", "acknowledge_escalation", "act", "announce_submitted", "report", "reports", "submit",
           "validate", "view"]
