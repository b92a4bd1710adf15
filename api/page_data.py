"""What the pages read beyond `case_detail`: the response told to the complainant (Art. 19, 21),
the extensions, an open pause, the review (核查, Art. 20), the current deadline with an open pause
counted, and the 消保办's view of dead letters. Read-only; one session of the caller's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.calendar import WorkingCalendar
from domain.deadlines import ClockEvent, ClockKind, NfraRegime, Tier, compute_deadlines
from models.case_views import CaseDetail, case_names, mask_strings
from models.complaint import ClockEventRow, Complaint
from models.escalation import CaseResponse, CaseReview, Extension
from models.sqlutil import table_of
from notifications.outbox import dead_letters, status_counts
from settings.config import Config, ConfigError

COMPLAINT = table_of(Complaint)
CLOCK = table_of(ClockEventRow)
EXTENSION = table_of(Extension)
RESPONSE = table_of(CaseResponse)
REVIEW = table_of(CaseReview)


def _complaint_id(session: Session, case_no: str) -> int | None:
    found = session.execute(select(COMPLAINT.c.id).where(COMPLAINT.c.case_no == case_no)).scalar_one_or_none()
    return int(found) if found is not None else None


def latest_response(session: Session, complaint_id: int) -> dict[str, Any] | None:
    """The last decision recorded for the case (a reopened case may have been answered twice)."""
    row = session.execute(select(RESPONSE).where(RESPONSE.c.complaint_id == complaint_id)
                          .order_by(RESPONSE.c.id.desc()).limit(1)).first()
    return dict(row._mapping) if row else None


def _clock(session: Session, complaint_id: int) -> list[Any]:
    return list(session.execute(
        select(CLOCK.c.kind, CLOCK.c.at, CLOCK.c.reason, CLOCK.c.evidence_ref)
        .where(CLOCK.c.complaint_id == complaint_id).order_by(CLOCK.c.at, CLOCK.c.id)).all())


def case_extras(session: Session, case: CaseDetail, *, config: Config, calendar: WorkingCalendar,
                now: datetime) -> dict[str, Any]:
    """The parts of the case page that `case_detail` does not carry (or, when it does, its values)."""
    cid = _complaint_id(session, case["case_no"])
    if cid is None:  # pragma: no cover - the case was just read
        return {}
    clock = _clock(session, cid)
    open_pause: dict[str, Any] | None = None
    for kind, at, reason, evidence in clock:
        if kind == "pause":
            open_pause = {"since": at, "reason": reason, "evidence": evidence}
        elif kind == "resume":
            open_pause = None
    # case_detail gives the deadline as of now (open pause counted) when it carries `as_of`
    current_due: Any = case["due_at"] if "as_of" in case else None
    counted: Any = case.get("paused_days") if "as_of" in case else None
    if current_due is None:
        events = [ClockEvent(ClockKind(k), at, reason or "") for k, at, reason, _ in clock]
        try:
            dl = compute_deadlines(received_at=case["received_at"], tier=Tier(case["tier"]), events=events,
                                   regime=NfraRegime(), calendar=calendar, now=now)
            current_due, counted = dl.regulatory_due_at, dl.paused_days
        except ValueError:
            current_due, counted = case["due_at"], case.get("paused_days") or 0
    extensions = [dict(r._mapping) for r in session.execute(
        select(EXTENSION).where(EXTENSION.c.complaint_id == cid).order_by(EXTENSION.c.id)).all()]
    review_row = session.execute(select(REVIEW).where(REVIEW.c.complaint_id == cid)
                                 .order_by(REVIEW.c.id.desc()).limit(1)).first()
    review = dict(review_row._mapping) if review_row else None
    if review is not None:
        review["open"] = case["status"] == "under_review"
    response = latest_response(session, cid)
    if case.get("personal_data") != "unmasked":  # the decision's and extensions' text as the case view masks it
        row = session.execute(select(COMPLAINT).where(COMPLAINT.c.id == cid)).one()
        response, extensions = mask_strings(response, case_names(row)), mask_strings(extensions, case_names(row))
    return {
        "response": response,
        "extensions": extensions,
        "open_pause": open_pause,
        "current_due_at": current_due,
        "paused_days_counted": counted or 0,
        "review": review,
        "outlet_name": outlet_name(config, case.get("outlet"), case.get("branch")),
        "branch_name": branch_name(config, case.get("branch")),
    }


def branch_name(config: Config, code: Any) -> str:
    branch = config.org.branches.get(code) if isinstance(code, str) else None
    return branch.name if branch else (str(code) if code else "—")


def outlet_name(config: Config, outlet: Any, branch: Any) -> str:
    """The 网点 as people know it: a branch code or a department code of the branch (e.g. its 营业部)
    becomes its name from config/org.yaml; free text stays as it was typed."""
    if not outlet:
        return "—"
    text = str(outlet)
    if text in config.org.branches:
        return config.org.branches[text].name
    if isinstance(branch, str) and branch in config.org.branches:
        dept = config.org.branches[branch].departments.get(text)
        if dept is not None:
            return dept.name
    return text


def review_owner(config: Config) -> tuple[str, str]:
    """The 上级机构 that decides a 核查 (config/escalation.yaml `review`): (organisation, person)."""
    try:
        spec = config.escalation.review
    except ConfigError:
        return ("上级机构", "")
    return (spec.owner_org, spec.owner_name)


def outbox_overview(session: Session, *, now: datetime, limit: int = 50) -> dict[str, Any]:
    """Counts per outbox status and the newest dead letters (what the 消保办 page shows)."""
    counts = status_counts(session, now=now)
    return {"counts": counts, "dead": dead_letters(session, limit=limit)}
