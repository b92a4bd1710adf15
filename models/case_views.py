"""Read models of cases for people and scripts, with personal data masked by default."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.lifecycle import OPEN_STATUSES
from domain.masking import mask_email, mask_id_number, mask_name, mask_phone, mask_text
from models.audit import AuditEvent
from models.complaint import Complaint
from models.escalation_store import escalations_of
from models.sqlutil import table_of

COMPLAINT = table_of(Complaint)
AUDIT = table_of(AuditEvent)

_PERSONAL = {
    "name": mask_name,
    "phone": mask_phone,
    "id_number": mask_id_number,
    "email": mask_email,
    "address": lambda v: v[:6] + "…" if len(v) > 6 else "…",
    "legal_representative": mask_name,
}


def _person(values: dict[str, Any], unmask: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        mask = _PERSONAL.get(key)
        out[key] = value if unmask or mask is None else mask(value)
    return out


def summary(c: Any, *, unmask: bool = False) -> dict[str, Any]:
    return {
        "case_no": c.case_no,
        "status": c.status,
        "source": c.source,
        "channel": c.channel,
        "category": c.category,
        "cause": c.cause,
        "severity": c.severity,
        "tags": c.tags,
        "triage": c.triage,
        "branch": c.branch,
        "department": c.department,
        "handler": c.handler,
        "complainant": mask_name(c.complainant_name) if not unmask else c.complainant_name,
        "received_at": c.received_at,
        "due_at": c.regulatory_due_at,
        "ack_due_at": c.ack_due_at,
    }


def case_detail(session: Session, case_no: str, *, unmask: bool = False) -> dict[str, Any] | None:
    c = session.execute(select(COMPLAINT).where(COMPLAINT.c.case_no == case_no)).first()
    if c is None:
        return None
    text = (lambda v: v) if unmask else mask_text
    detail = summary(c, unmask=unmask)
    detail.update({
        "external_ref": c.external_ref,
        "channel_raw": c.channel_raw,
        "category_raw": c.category_raw,
        "cause_raw": c.cause_raw,
        "triage_reasons": c.triage_reasons,
        "group_size": c.group_size,
        "vulnerable": c.vulnerable,
        "outlet": c.outlet,
        "department_branch": c.department_branch,
        "chain": c.chain,
        "watchers": c.watchers,
        "regime": c.regime,
        "tier": c.tier,
        "clock_started_at": c.clock_started_at,
        "paused_days": c.paused_days,
        "complainant": _person({
            "type": c.complainant_type, "name": c.complainant_name, "phone": c.complainant_phone,
            "id_number": c.complainant_id_number, "email": c.complainant_email, "address": c.complainant_address,
            "credit_code": c.complainant_credit_code, "legal_representative": c.complainant_legal_rep,
        }, unmask),
        "agent": _person({"name": c.agent_name, "phone": c.agent_phone, "id_number": c.agent_id_number,
                          "authorization": c.agent_authorization}, unmask) if c.agent_name else None,
        "respondent": c.respondent,
        "request": text(c.request),
        "facts": text(c.facts),
        "routed_at": c.routed_at,
        "acknowledged_at": c.acknowledged_at,
        "responded_at": c.responded_at,
        "closed_at": c.closed_at,
        "personal_data": "unmasked" if unmask else "masked",
    })
    events = session.execute(
        select(AUDIT.c.seq, AUDIT.c.at, AUDIT.c.actor, AUDIT.c.action, AUDIT.c.before, AUDIT.c.after, AUDIT.c.detail)
        .where(AUDIT.c.complaint_id == c.id).order_by(AUDIT.c.seq)
    ).all()
    detail["audit"] = [dict(e._mapping) for e in events]
    detail["escalations"] = escalations_of(session, c.id)
    return detail


def list_cases(session: Session, *, now: datetime, status: str | None = None, department: str | None = None,
               overdue: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    stmt = select(COMPLAINT)
    if status:
        stmt = stmt.where(COMPLAINT.c.status == status)
    if department:
        stmt = stmt.where(COMPLAINT.c.department == department)
    if overdue:
        stmt = stmt.where(COMPLAINT.c.status.in_([s.value for s in OPEN_STATUSES]),
                          COMPLAINT.c.regulatory_due_at < now)
    stmt = stmt.order_by(COMPLAINT.c.regulatory_due_at, COMPLAINT.c.id).limit(limit)
    return [summary(c) for c in session.execute(stmt).all()]


def record_personal_data_view(session: Session, *, case_no: str, actor: str, detail: str) -> None:
    """Every view of unmasked personal data is itself an audit event on the case."""
    from models.audit_chain import AuditDraft, append

    complaint_id = session.execute(select(COMPLAINT.c.id).where(COMPLAINT.c.case_no == case_no)).scalar_one()
    append(session, [AuditDraft(at=datetime.now(UTC), actor=actor, action="viewed_personal_data",
                                complaint_id=complaint_id, case_no=case_no, detail=detail)])
