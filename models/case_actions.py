"""What people do to a case: extend, pause, resume, new facts, review, acknowledge, respond,
close, withdraw. Each runs in the caller's transaction and writes the state change, its audit
event, any outbox rows and the case's next escalation time together; a problem raises
`ActionError` (or IllegalTransition) before anything is written, so nothing is half-stored.
Each returns its typed result (models/case_results.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.calendar import WorkingCalendar
from domain.case_actions import (
    PAUSE_REASONS,
    ExtensionRequest,
    check_assignment,
    check_extension,
    check_pause,
    check_response,
    check_review,
    extension_recipients,
    review_due_at,
)
from domain.deadlines import ClockEvent, ClockKind, NfraRegime, Tier, compute_deadlines
from domain.escalation import case_chain
from domain.field_names import refusal
from domain.lifecycle import OPEN_STATUSES, STATUS_NAMES, Status, ensure_transition
from domain.masking import mask_free_text
from domain.messages import ExtensionApproved, ExtensionRequested, ReviewOpened
from domain.org import ChainLevel, chain_snapshot
from domain.wording import extension_limit
from models.audit_chain import AuditDraft, append, response_digest
from models.case_results import (
    AcknowledgeResult,
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
from models.complaint import ClockEventRow, Complaint
from models.escalation import CaseResponse, CaseReview, Extension
from models.escalation_store import local_text, pause_state, reschedule
from models.outbox_writer import OutboxItem, enqueue
from models.participants import replace_work
from models.routing_store import routed_context
from models.sqlutil import table_of
from settings.config import Config

COMPLAINT = table_of(Complaint)
CLOCK = table_of(ClockEventRow)
EXTENSION = table_of(Extension)
RESPONSE = table_of(CaseResponse)
REVIEW = table_of(CaseReview)
_FUTURE = timedelta(minutes=5)


class ActionError(ValueError):
    """The action is not allowed as asked; each problem names its field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def load_case(session: Session, case_no: str) -> Any:
    """The case row, locked for this transaction on PostgreSQL (SQLite has a single writer)."""
    stmt = select(COMPLAINT).where(COMPLAINT.c.case_no == case_no)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = session.execute(stmt).first()
    if row is None:
        raise ActionError([refusal("case", f"没有案件 {case_no!r}")])
    return row


def _check_time(field: str, at: datetime, row: Any, now: datetime) -> None:
    if at.utcoffset() is None:
        raise ActionError([refusal(field, "须带时区（如 +08:00）")])
    if at > now + _FUTURE:
        raise ActionError([refusal(field, f"{local_text(at)}（北京时间）晚于当前时间，不能是将来的时间")])
    if at < row.received_at:
        raise ActionError([refusal(field, f"{local_text(at)}（北京时间）早于收到投诉的时间")])


def _status_name(value: str) -> str:
    try:
        return STATUS_NAMES[Status(value)]
    except ValueError:
        return value


def _require_open(row: Any, what: str) -> None:
    if Status(row.status) not in OPEN_STATUSES:
        raise ActionError([refusal("case", f"案件当前状态为“{_status_name(row.status)}”，不能{what}")])


def _events(session: Session, complaint_id: int) -> list[ClockEvent]:
    rows = session.execute(select(CLOCK.c.kind, CLOCK.c.at, CLOCK.c.reason).where(CLOCK.c.complaint_id == complaint_id)
                           .order_by(CLOCK.c.at, CLOCK.c.id)).all()
    return [ClockEvent(ClockKind(k), at, reason) for k, at, reason in rows]


def _recompute(session: Session, row: Any, *, tier: Tier, calendar: WorkingCalendar, now: datetime,
               extra: ClockEvent | None = None) -> dict[str, Any]:
    """New deadlines from the stored clock events (and one about to be stored); raises ActionError."""
    events = _events(session, row.id) + ([extra] if extra else [])
    try:
        dl = compute_deadlines(received_at=row.received_at, tier=tier, events=events, regime=NfraRegime(),
                               calendar=calendar, now=now)
    except ValueError as exc:
        raise ActionError([refusal("clock", f"计时事件不一致，无法计算期限（{exc}）")]) from None
    return {"tier": tier.value, "clock_started_at": dl.clock_started_at, "paused_days": dl.paused_days,
            "regulatory_due_at": dl.regulatory_due_at}


def _update(session: Session, complaint_id: int, values: dict[str, Any], now: datetime) -> None:
    session.execute(COMPLAINT.update().where(COMPLAINT.c.id == complaint_id).values(**values, updated_at=now))


def _audit(session: Session, row: Any, action: str, actor: str, now: datetime, before: dict[str, Any],
           after: dict[str, Any], detail: str = "") -> None:
    append(session, [AuditDraft(at=now, actor=actor, action=action, complaint_id=row.id, case_no=row.case_no,
                                before=before, after=after, detail=detail[:500])])


def _iso(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def _chain_person(config: Config, row: Any, seat: ChainLevel) -> str | None:
    chain = case_chain(config.org, branch=row.branch, department_branch=row.department_branch,
                       department=row.department, handler=row.handler)
    return next((m.person_id for m in chain if m.level is seat), None)


def extend(session: Session, *, case_no: str, to: str, approver: str, approver_org: str | None,
           approval_ref: str | None, reason: str, customer_told_at: datetime, customer_told_via: str,
           config: Config, calendar: WorkingCalendar, now: datetime, actor: str) -> ExtendResult:
    """Record an approved extension to 30 (complex) or 60 (special) days and recompute the deadline."""
    row = load_case(session, case_no)
    _require_open(row, "延期")
    try:
        target = Tier(to)
    except ValueError:
        raise ActionError([refusal("to", f"{to!r} 不是可选值之一：complex（复杂，30 日）、special（特殊，60 日）")]) from None
    _check_time("customer-told-at", customer_told_at, row, now)
    esc = config.escalation
    lead = esc.complaint_lead(config.org, row.branch)
    problems = check_extension(
        ExtensionRequest(current=Tier(row.tier), target=target, approver=approver, approver_org=approver_org,
                         approval_ref=approval_ref, reason=reason, customer_told_at=customer_told_at,
                         customer_told_via=customer_told_via, at=now, current_due_at=row.regulatory_due_at),
        complaint_lead=lead, superior_orgs=esc.extension.superior_organisations,
        lead_name=config.org.people[lead].name if lead and lead in config.org.people else None)
    if problems:
        raise ActionError(problems)
    new = _recompute(session, row, tier=target, calendar=calendar, now=now)
    session.execute(EXTENSION.insert().values(
        complaint_id=row.id, from_tier=row.tier, to_tier=target.value, approver=approver, approver_org=approver_org,
        approval_ref=approval_ref, reason=reason, customer_told_at=customer_told_at,
        customer_told_via=customer_told_via, previous_due_at=row.regulatory_due_at,
        new_due_at=new["regulatory_due_at"], recorded_at=now, actor=actor))
    _update(session, row.id, new, now)
    before = {"tier": row.tier, "regulatory_due_at": row.regulatory_due_at.isoformat()}
    _audit(session, row, "extension_approved", actor, now, before,
           {**_iso(new), "approver": approver, "approver_org": approver_org, "approval_ref": approval_ref,
            "customer_told_at": customer_told_at.isoformat(), "customer_told_via": customer_told_via}, reason)
    people = config.org.people
    link = f"{config.policy.case_link_base}{row.case_no}"
    previous_text, new_text = local_text(row.regulatory_due_at), local_text(new["regulatory_due_at"])
    names = (row.complainant_name, row.agent_name, row.complainant_legal_rep)  # masked in the messages' note
    limit, note = extension_limit(target.value), mask_free_text(reason, names=names)[:200]
    requested = ExtensionRequested(
        case_no=row.case_no, requested_by=people[actor].name if actor in people else actor,
        days=(new["regulatory_due_at"] - row.regulatory_due_at).days, limit=limit, reason=note,
        current_due_at=previous_text, proposed_due_at=new_text, link=link)
    approved = ExtensionApproved(
        case_no=row.case_no, approved_by=people[approver].name if approver in people else approver,
        approver_org=approver_org or "", limit=limit, previous_due_at=previous_text, new_due_at=new_text,
        note=note, link=link)
    key = f"{row.case_no}:extension:{target.value}"
    notice = extension_recipients(target, approver=approver, known=people, handler=row.handler,
                                  president=_chain_person(config, row, ChainLevel.PRESIDENT),
                                  department_head=_chain_person(config, row, ChainLevel.DEPARTMENT_HEAD))
    items = [OutboxItem("extension_requested", p, key, requested, row.id, row.case_no) for p in notice.asked]
    items += [OutboxItem("extension_approved", p, key, approved, row.id, row.case_no) for p in notice.told]
    enqueue(session, items, org=config.org, now=now)
    reschedule(session, [row.id], config=config, calendar=calendar)
    return ExtendResult(case_no=row.case_no, **new, previous_due_at=row.regulatory_due_at)


def _case_file(session: Session, row: Any, file_id: int | None, field: str) -> None:
    """An evidence file named by a pause or a response must be one of this case's (models/workbench.py)."""
    if file_id is None:
        return
    from models.workbench import file_row

    found = file_row(session, file_id)
    if found is None or found.complaint_id != row.id:
        raise ActionError([refusal(field, f"案件 {row.case_no} 没有编号为 {file_id} 的证据文件")])


def pause(session: Session, *, case_no: str, reason: str, evidence: str, at: datetime, config: Config,
          calendar: WorkingCalendar, now: datetime, actor: str, evidence_file_id: int | None = None) -> PauseResult:
    """Stop the regulatory clock for appraisal, testing, evaluation or mediation (Art. 18, 23)."""
    row = load_case(session, case_no)
    _require_open(row, "中止计时")
    if problems := check_pause(reason, evidence):
        raise ActionError(problems)
    _case_file(session, row, evidence_file_id, "evidence-file")
    _check_time("at", at, row, now)
    event = ClockEvent(ClockKind.PAUSE, at, reason)
    new = _recompute(session, row, tier=Tier(row.tier), calendar=calendar, now=now, extra=event)
    session.execute(CLOCK.insert().values(complaint_id=row.id, kind="pause", at=at, reason=reason,
                                          evidence_ref=evidence, evidence_file_id=evidence_file_id, actor=actor,
                                          created_at=now))
    _update(session, row.id, new, now)
    _audit(session, row, "clock_paused", actor, now, {"regulatory_due_at": row.regulatory_due_at.isoformat()},
           {"at": at.isoformat(), "reason": reason, "evidence": evidence,
            **({"evidence_file_id": evidence_file_id} if evidence_file_id is not None else {})},
           f"{reason}: {evidence}")
    reschedule(session, [row.id], config=config, calendar=calendar)
    return PauseResult(case_no=row.case_no, paused_at=at, reason=reason, **new)


def resume(session: Session, *, case_no: str, at: datetime, config: Config, calendar: WorkingCalendar,
           now: datetime, actor: str) -> ResumeResult:
    """Start the clock again; the paused calendar days are added to the deadline."""
    row = load_case(session, case_no)
    if row.id not in pause_state(session, [row.id]):
        raise ActionError([refusal("case", f"案件 {case_no} 当前未中止计时，无需恢复")])
    _check_time("at", at, row, now)
    new = _recompute(session, row, tier=Tier(row.tier), calendar=calendar, now=now,
                     extra=ClockEvent(ClockKind.RESUME, at))
    session.execute(CLOCK.insert().values(complaint_id=row.id, kind="resume", at=at, reason="",
                                          actor=actor, created_at=now))
    _update(session, row.id, new, now)
    _audit(session, row, "clock_resumed", actor, now, {"regulatory_due_at": row.regulatory_due_at.isoformat()},
           {"at": at.isoformat(), **_iso(new)})
    reschedule(session, [row.id], config=config, calendar=calendar)
    return ResumeResult(case_no=row.case_no, resumed_at=at, **new)


def new_facts(session: Session, *, case_no: str, at: datetime, config: Config, calendar: WorkingCalendar,
              now: datetime, actor: str) -> DeadlineResult:
    """New facts or reasons restart the clock from their receipt (Art. 18)."""
    row = load_case(session, case_no)
    _require_open(row, "重新计时")
    _check_time("at", at, row, now)
    new = _recompute(session, row, tier=Tier(row.tier), calendar=calendar, now=now,
                     extra=ClockEvent(ClockKind.RESTART, at, "新事实"))
    session.execute(CLOCK.insert().values(complaint_id=row.id, kind="restart", at=at, reason="新事实",
                                          actor=actor, created_at=now))
    _update(session, row.id, new, now)
    _audit(session, row, "clock_restarted", actor, now, {"clock_started_at": row.clock_started_at.isoformat(),
                                                         "regulatory_due_at": row.regulatory_due_at.isoformat()},
           _iso(new), "新的事实或理由")
    reschedule(session, [row.id], config=config, calendar=calendar)
    return DeadlineResult(case_no=row.case_no, **new)


def _transition(session: Session, row: Any, target: Status, *, values: dict[str, Any], action: str, actor: str,
                now: datetime, config: Config, calendar: WorkingCalendar, detail: str = "",
                recorded: dict[str, Any] | None = None) -> TransitionResult:
    """`recorded`: what the event also records beside the row (the outcome, the root cause)."""
    ensure_transition(Status(row.status), target)
    _update(session, row.id, {"status": target.value, **values}, now)
    _audit(session, row, action, actor, now, {"status": row.status},
           {"status": target.value, **_iso(values), **(recorded or {})}, detail)
    reschedule(session, [row.id], config=config, calendar=calendar)
    return TransitionResult(case_no=row.case_no, status=target.value, previous_status=row.status)


def acknowledge(session: Session, *, case_no: str, config: Config, calendar: WorkingCalendar, now: datetime,
                actor: str) -> AcknowledgeResult:
    row = load_case(session, case_no)
    moved = _transition(session, row, Status.ACKNOWLEDGED, values={"acknowledged_at": now}, action="acknowledged",
                        actor=actor, now=now, config=config, calendar=calendar)
    return AcknowledgeResult(moved.case_no, moved.status, moved.previous_status, acknowledged_at=now)


def respond(session: Session, *, case_no: str, verified: str, basis: str, remedies: str, told_via: str,
            told_at: datetime, config: Config, calendar: WorkingCalendar, now: datetime,
            actor: str, proof_file_id: int | None = None, outcome: str | None = None,
            not_upheld_reason: str | None = None, redress_type: str | None = None,
            redress_amount: Decimal | str | None = None) -> RespondResult:
    """The decision (Art. 19: 核实情况, 依据和理由, 救济途径) and how it was told (Art. 21); the
    proof of notice may be an attached evidence file (`proof_file_id`). The outcome (投诉是否成立,
    redress) is required; the timely flag is fixed by the first response (models/governance.py)."""
    from domain.governance import callback_due_at, check_outcome
    from models.governance import outcome_audit, record_outcome

    row = load_case(session, case_no)
    problems = check_response(verified=verified, basis=basis, remedies=remedies, told_via=told_via)
    decision, outcome_problems = check_outcome(outcome=outcome, not_upheld_reason=not_upheld_reason,
                                               redress_type=redress_type, redress_amount=redress_amount)
    if problems or outcome_problems or decision is None:
        raise ActionError(problems + outcome_problems)
    _case_file(session, row, proof_file_id, "proof-file")
    _check_time("told-at", told_at, row, now)
    # the regulatory due date in force now, an open pause counted to now
    due_now = _recompute(session, row, tier=Tier(row.tier), calendar=calendar, now=now)["regulatory_due_at"]
    callback_due = callback_due_at(told_at, calendar)
    recorded = outcome_audit(session, complaint_id=row.id, decision=decision, told_at=told_at, due_at=due_now,
                             callback_due=callback_due)
    recorded["response_sha256"] = response_digest((verified, basis, remedies, told_via, told_at, proof_file_id))
    moved = _transition(session, row, Status.RESPONDED, values={"responded_at": told_at}, action="responded",
                        actor=actor, now=now, config=config, calendar=calendar, detail=f"told via {told_via}",
                        recorded=recorded)
    session.execute(RESPONSE.insert().values(complaint_id=row.id, verified=verified, basis=basis, remedies=remedies,
                                             told_via=told_via, told_at=told_at, recorded_at=now, actor=actor,
                                             proof_file_id=proof_file_id))
    stored = record_outcome(session, complaint_id=row.id, case_no=row.case_no, decision=decision, told_at=told_at,
                            due_at=due_now, callback_due=callback_due, now=now, actor=actor)
    return RespondResult(moved.case_no, moved.status, moved.previous_status, responded_at=told_at,
                         outcome=stored["outcome"], redress_type=stored["redress_type"],
                         redress_amount=stored["redress_amount"], timely=stored["timely"],
                         callback_due_at=stored["callback_due_at"])


def close(session: Session, *, case_no: str, config: Config, calendar: WorkingCalendar, now: datetime,
          actor: str, root_cause: str | None = None) -> CloseResult:
    """Close a responded case; its root cause (溯源, config/root_causes.yaml: code or name) is required."""
    from domain.governance import check_root_cause
    from models.governance import record_root_cause, root_causes

    row = load_case(session, case_no)
    ensure_transition(Status(row.status), Status.CLOSED)  # a case that cannot close says so first (409)
    cause, problems = check_root_cause(root_cause, root_causes(config))
    if problems or cause is None:
        raise ActionError(problems)
    moved = _transition(session, row, Status.CLOSED, values={"closed_at": now}, action="closed", actor=actor,
                        now=now, config=config, calendar=calendar, detail=f"投诉根因：{cause.name}",
                        recorded={"root_cause": cause.code, "root_cause_jrt": cause.jrt})
    stored = record_root_cause(session, complaint_id=row.id, case_no=row.case_no, cause=cause, now=now)
    return CloseResult(moved.case_no, moved.status, moved.previous_status, closed_at=now,
                       root_cause=stored["root_cause"], root_cause_name=stored["root_cause_name"],
                       root_cause_jrt=stored["root_cause_jrt"])


def withdraw(session: Session, *, case_no: str, at: datetime, config: Config, calendar: WorkingCalendar,
             now: datetime, actor: str) -> WithdrawResult:
    """Handling ends on the day the withdrawal is received (Art. 15)."""
    row = load_case(session, case_no)
    _check_time("at", at, row, now)
    moved = _transition(session, row, Status.WITHDRAWN, values={"closed_at": at}, action="withdrawn", actor=actor,
                        now=now, config=config, calendar=calendar, detail="投诉人撤回投诉，当日终止处理")
    return WithdrawResult(moved.case_no, moved.status, moved.previous_status, closed_at=at)


def review(session: Session, *, case_no: str, requested_at: datetime, config: Config, calendar: WorkingCalendar,
           now: datetime, actor: str) -> ReviewResult:
    """Open a review (核查) by the 上级机构, due 30 days after the request (Art. 20)."""
    row = load_case(session, case_no)
    if requested_at.utcoffset() is None:
        raise ActionError([refusal("requested-at", "须带时区（如 +08:00）")])
    if requested_at > now + _FUTURE:
        raise ActionError([refusal("requested-at", f"{local_text(requested_at)}（北京时间）晚于当前时间，不能是将来的时间")])
    ensure_transition(Status(row.status), Status.UNDER_REVIEW)
    if problems := check_review(requested_at, row.responded_at):
        raise ActionError(problems)
    spec = config.escalation.review
    due = review_due_at(requested_at)
    moved = _transition(session, row, Status.UNDER_REVIEW, values={}, action="review_opened", actor=actor, now=now,
                        config=config, calendar=calendar, detail=f"核查 by {spec.owner_org} {spec.owner_name}")
    session.execute(REVIEW.insert().values(complaint_id=row.id, requested_at=requested_at, due_at=due,
                                           owner_name=spec.owner_name, owner_org=spec.owner_org, recorded_at=now,
                                           actor=actor))
    ctx = ReviewOpened(case_no=row.case_no, requested_at=local_text(requested_at), due_at=local_text(due),
                       owner=f"{spec.owner_org} {spec.owner_name}", link=f"{config.policy.case_link_base}{row.case_no}")
    enqueue(session, [OutboxItem("review_opened", p, f"{row.case_no}:review:{requested_at.isoformat()}", ctx,
                                 row.id, row.case_no) for p in spec.notify], org=config.org, now=now)
    return ReviewResult(moved.case_no, moved.status, moved.previous_status, review_due_at=due,
                        owner_name=spec.owner_name, owner_org=spec.owner_org)


def assign(session: Session, *, case_no: str, handler: str, config: Config, calendar: WorkingCalendar,
           now: datetime, actor: str) -> AssignResult:
    """(Re)assign an open, routed case to a handler of its department; the new handler is told.

    The status does not change (a reassigned case keeps its acknowledgement and its deadlines);
    a reopened case goes back to routed. The responsibility chain snapshot is redrawn.
    """
    row = load_case(session, case_no)
    _require_open(row, "指定承办人")
    if row.department is None or Status(row.status) is Status.RECEIVED:
        raise ActionError([refusal("case", "案件尚未分派部门，请等待系统分派后再指定承办人")])
    found = config.org.find_department(row.department_branch or row.branch, row.department)
    if problems := check_assignment(handler=handler, people=config.org.people, department=row.department,
                                    department_handlers=found[1].handlers if found else None,
                                    respondent=row.respondent, current_handler=row.handler):
        raise ActionError(problems)
    assert found is not None  # check_assignment refuses a department the org chart lacks
    target = Status.ROUTED if Status(row.status) is Status.REOPENED else Status(row.status)
    if target is not Status(row.status):
        ensure_transition(Status(row.status), target)
    chain = chain_snapshot(case_chain(config.org, branch=row.branch, department_branch=row.department_branch,
                                      department=row.department, handler=handler), config.org.people)
    _update(session, row.id, {"handler": handler, "chain": chain, "status": target.value}, now)
    replace_work(session, [(row.id, handler, chain, list(row.watchers or []))])
    _audit(session, row, "assigned", actor, now, {"handler": row.handler, "status": row.status},
           {"handler": handler, "status": target.value})
    ctx = routed_context(
        case_no=row.case_no, role="handler", category=row.category, severity=row.severity, tags=list(row.tags or []),
        triage=row.triage, reasons=list(row.triage_reasons or []), department_branch=found[0].code,
        department=row.department, handler=handler, complainant_name=row.complainant_name, request=row.request,
        received_at=row.received_at, regulatory_due_at=row.regulatory_due_at, ack_due_at=row.ack_due_at,
        config=config, other_names=(row.agent_name, row.complainant_legal_rep))
    enqueue(session, [OutboxItem("routed", handler, f"{row.case_no}:assigned:{now.isoformat()}", ctx, row.id,
                                 row.case_no)], org=config.org, now=now)
    reschedule(session, [row.id], config=config, calendar=calendar)
    return AssignResult(case_no=row.case_no, status=target.value, handler=handler, previous_handler=row.handler)


def reopen(session: Session, *, case_no: str, reason: str, config: Config, calendar: WorkingCalendar,
           now: datetime, actor: str) -> TransitionResult:
    """Take a responded or closed case up again (e.g. the response was incomplete); the deadlines
    stand as they are (new facts restart the clock: `new_facts`), and escalation resumes."""
    if not reason.strip():
        raise ActionError([refusal("reason", "须写明重新办理的理由")])
    row = load_case(session, case_no)
    # responded_at and closed_at stay: they are history the weekly reports were computed from.
    return _transition(session, row, Status.REOPENED, values={},
                       action="reopened", actor=actor, now=now, config=config, calendar=calendar,
                       detail=reason.strip())


__all__ = ["PAUSE_REASONS", "ActionError", "acknowledge", "assign", "close", "extend", "new_facts", "pause",
           "reopen", "respond", "resume", "review", "withdraw"]
