"""Read models of cases for people and scripts, with personal data masked by default."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from domain.calendar import WorkingCalendar
from domain.deadlines import ClockEvent, ClockKind, NfraRegime, Tier, compute_deadlines
from domain.lifecycle import OPEN_STATUSES, STATUS_NAMES
from domain.masking import mask_email, mask_free_text, mask_id_number, mask_name, mask_phone
from domain.taxonomy import SEVERITY_NAMES, SOURCE_NAMES, Dimension, name_of
from models.audit import AuditEvent
from models.audit_chain import AuditDraft, append
from models.complaint import ClockEventRow, Complaint
from models.escalation import CaseReview
from models.escalation_queries import CaseEscalation
from models.escalation_store import escalations_of, pause_state
from models.sqlutil import table_of

COMPLAINT = table_of(Complaint)
AUDIT = table_of(AuditEvent)
CLOCK = table_of(ClockEventRow)
REVIEW = table_of(CaseReview)

TIER_NAMES = {"standard": "一般（15日）", "complex": "复杂（30日）", "special": "特殊（60日）"}
COMPLAINANT_TYPE_NAMES = {"individual": "个人", "company": "单位"}
_PAGE = 500
# The clock only needs the calendar for the acknowledgement deadline, which is never recomputed here.
_CALENDAR = WorkingCalendar()


@dataclass(frozen=True)
class CurrentDue:
    """The regulatory deadline as of `now`: an open pause counts up to now (domain.deadlines)."""

    due_at: datetime
    paused_days: int
    paused_since: datetime | None
    pause_reason: str | None


def status_choices() -> str:
    """The valid status codes with their Chinese names, for refusals."""
    return "、".join(f"{s.value}（{n}）" for s, n in STATUS_NAMES.items())


def _name(names: Mapping[str, str], code: str | None) -> str | None:
    if code is None:
        return None
    try:
        return str(names[code])
    except (KeyError, ValueError):
        return code


def _taxonomy_name(dimension: Dimension, code: str | None) -> str | None:
    if code is None:
        return None
    try:
        return name_of(dimension, code)
    except KeyError:
        return code


def current_deadlines(session: Session, rows: Sequence[Any], *, now: datetime) -> dict[int, CurrentDue]:
    """For the open cases among `rows` whose clock is paused now: the deadline with the open pause counted.

    Cases not paused keep their stored deadline (every clock change stores it); only an open pause
    moves the deadline as time passes, one calendar day per local day paused.
    """
    open_rows = {r.id: r for r in rows if r.status in {s.value for s in OPEN_STATUSES}}
    paused = pause_state(session, list(open_rows)) if open_rows else {}
    out: dict[int, CurrentDue] = {}
    for cid, (since, reason, _evidence) in paused.items():
        row = open_rows[cid]
        events = [ClockEvent(ClockKind(k), at, r) for k, at, r in session.execute(
            select(CLOCK.c.kind, CLOCK.c.at, CLOCK.c.reason).where(CLOCK.c.complaint_id == cid)
            .order_by(CLOCK.c.at, CLOCK.c.id)).all()]
        at = max(now, since)  # a pause recorded ahead of `now` counts nothing yet
        dl = compute_deadlines(received_at=row.received_at, tier=Tier(row.tier), events=events, regime=NfraRegime(),
                               calendar=_CALENDAR, now=at)
        out[cid] = CurrentDue(dl.regulatory_due_at, dl.paused_days, dl.open_pause_since or since, reason)
    return out


_PERSONAL = {
    "name": mask_name,
    "phone": mask_phone,
    "id_number": mask_id_number,
    "email": mask_email,
    "address": lambda v: v[:6] + "…" if len(v) > 6 else "…",
    "legal_representative": mask_name,
}


def _person(values: Mapping[str, str | None], unmask: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        mask = _PERSONAL.get(key)
        out[key] = value if unmask or mask is None else mask(value)
    return out


class CaseSummary(TypedDict):
    """One case in a list (`summary`): what the lists, the queue, the exports and `complaints list` show.

    Passed on as JSON (the API's `CaseSummary` body, the CLI) and into the templates, in this order."""

    case_no: str
    status: str
    source: str
    channel: str | None
    category: str | None
    cause: str | None
    severity: str
    tags: list[str]
    triage: bool
    branch: str
    department: str | None
    handler: str | None
    complainant: str  # the complainant's name, masked unless unmask
    received_at: datetime
    due_at: datetime  # the deadline now: an open pause counted
    ack_due_at: datetime
    paused: bool  # the clock is paused now
    paused_since: datetime | None
    status_name: str | None  # the Chinese names people read, beside the codes machines keep
    source_name: str | None
    severity_name: str | None
    channel_name: str | None
    category_name: str | None
    cause_name: str | None
    tier: str
    tier_name: str | None
    vulnerable: bool


_STATUS_NAMES = {s.value: n for s, n in STATUS_NAMES.items()}
_SOURCE_NAMES = {s.value: n for s, n in SOURCE_NAMES.items()}
_SEVERITY_NAMES = {s.value: n for s, n in SEVERITY_NAMES.items()}


def summary(c: Any, *, unmask: bool = False, current: CurrentDue | None = None) -> CaseSummary:
    """One case in a list. `due_at` is the deadline now (an open pause counted, see current_deadlines)."""
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
        "due_at": current.due_at if current else c.regulatory_due_at,
        "ack_due_at": c.ack_due_at,
        "paused": current is not None,
        "paused_since": current.paused_since if current else None,
        "status_name": _name(_STATUS_NAMES, c.status),
        "source_name": _name(_SOURCE_NAMES, c.source),
        "severity_name": _name(_SEVERITY_NAMES, c.severity),
        "channel_name": _taxonomy_name(Dimension.CHANNEL, c.channel),
        "category_name": _taxonomy_name(Dimension.CATEGORY, c.category),
        "cause_name": _taxonomy_name(Dimension.CAUSE, c.cause),
        "tier": c.tier,
        "tier_name": _name(TIER_NAMES, c.tier),
        "vulnerable": c.vulnerable,
    }


class ReviewEntry(TypedDict):
    """The case detail's `review`: `LatestReview.as_dict()`."""

    requested_at: datetime
    due_at: datetime
    owner_name: str
    owner_org: str
    owner: str
    recorded_at: datetime


@dataclass(frozen=True)
class LatestReview:
    """The latest review (核查) of a case: when asked, its deadline and who owns it (`as_dict()`: the
    case detail's `review`)."""

    requested_at: datetime
    due_at: datetime
    owner_name: str
    owner_org: str
    owner: str  # owner_org and owner_name, as people read it
    recorded_at: datetime

    def as_dict(self) -> ReviewEntry:
        return {"requested_at": self.requested_at, "due_at": self.due_at, "owner_name": self.owner_name,
                "owner_org": self.owner_org, "owner": self.owner, "recorded_at": self.recorded_at}


def _review(session: Session, complaint_id: int) -> LatestReview | None:
    """The latest review (核查) of the case, or None."""
    r = session.execute(select(REVIEW).where(REVIEW.c.complaint_id == complaint_id)
                        .order_by(REVIEW.c.requested_at.desc(), REVIEW.c.id.desc()).limit(1)).first()
    if r is None:
        return None
    return LatestReview(requested_at=r.requested_at, due_at=r.due_at, owner_name=r.owner_name, owner_org=r.owner_org,
                        owner=f"{r.owner_org} {r.owner_name}", recorded_at=r.recorded_at)


class AuditEntry(TypedDict):
    """One event of the case's audit trail, as the case detail shows it."""

    seq: int
    at: datetime
    actor: str
    action: str
    before: dict[str, Any] | None  # the stored JSON
    after: dict[str, Any] | None
    detail: str


class CaseDetail(TypedDict):
    """The case with its timeline (`case_detail`): the summary's keys first, in its order (but
    `complainant` is the complainant's personal data here, not the name), then the rest in this order.

    Passed on as JSON (the API's `CaseDetail` body, `complaints show`) and into the templates."""

    case_no: str
    status: str
    source: str
    channel: str | None
    category: str | None
    cause: str | None
    severity: str
    tags: list[str]
    triage: bool
    branch: str
    department: str | None
    handler: str | None
    complainant: dict[str, str]  # type, name, phone, …: the values present, masked unless unmasked
    received_at: datetime
    due_at: datetime
    ack_due_at: datetime
    paused: bool
    paused_since: datetime | None
    status_name: str | None
    source_name: str | None
    severity_name: str | None
    channel_name: str | None
    category_name: str | None
    cause_name: str | None
    tier: str
    tier_name: str | None
    vulnerable: bool
    external_ref: str | None
    channel_raw: str | None
    category_raw: str | None
    cause_raw: str | None
    triage_reasons: list[str]
    group_size: int
    vulnerable_note: str | None
    outlet: str | None
    department_branch: str | None
    chain: list[dict[str, Any]]  # the stored chain snapshot (domain.org chain_snapshot)
    watchers: list[str]
    regime: str
    clock_started_at: datetime
    paused_days: int
    pause_reason: str | None
    stored_due_at: datetime
    as_of: datetime
    review: ReviewEntry | None
    review_due_at: datetime | None
    review_owner: str | None
    complainant_type: str
    complainant_type_name: str | None
    agent: dict[str, str] | None
    respondent: str | None
    request: str
    facts: str
    routed_at: datetime | None
    acknowledged_at: datetime | None
    responded_at: datetime | None
    closed_at: datetime | None
    personal_data: Literal["masked", "unmasked"]
    audit: list[AuditEntry]
    escalations: list[CaseEscalation]


def _masked_event(e: AuditEntry, names: Sequence[str]) -> AuditEntry:
    """Every string of the event (its JSON walked) through `mask_free_text`, as `mask_strings`."""
    return {"seq": e["seq"], "at": e["at"], "actor": mask_free_text(e["actor"], names=names),
            "action": mask_free_text(e["action"], names=names), "before": mask_strings(e["before"], names),
            "after": mask_strings(e["after"], names), "detail": mask_free_text(e["detail"], names=names)}


def _masked_escalation(e: CaseEscalation, names: Sequence[str]) -> CaseEscalation:
    """Every string of the escalation (its recipients walked) through `mask_free_text`, as `mask_strings`."""
    return {"level": e["level"], "name": mask_free_text(e["name"], names=names),
            "reason": mask_free_text(e["reason"], names=names), "due_at": e["due_at"], "fired_at": e["fired_at"],
            "recipients": mask_strings(e["recipients"], names), "acknowledged_at": e["acknowledged_at"],
            "acknowledged_by": mask_strings(e["acknowledged_by"], names)}


def case_detail(session: Session, case_no: str, *, unmask: bool = False,
                now: datetime | None = None) -> CaseDetail | None:
    """The case with its timeline. Deadlines are as of `now` (default: the real clock), open pauses counted."""
    c = session.execute(select(COMPLAINT).where(COMPLAINT.c.case_no == case_no)).first()
    if c is None:
        return None
    now = now or datetime.now(UTC)
    current = current_deadlines(session, [c], now=now).get(c.id)
    names = case_names(c)
    text = (lambda v: v) if unmask else (lambda v: mask_free_text(v, names=names))
    review = _review(session, c.id)
    events = session.execute(
        select(AUDIT.c.seq, AUDIT.c.at, AUDIT.c.actor, AUDIT.c.action, AUDIT.c.before, AUDIT.c.after, AUDIT.c.detail)
        .where(AUDIT.c.complaint_id == c.id).order_by(AUDIT.c.seq)
    ).all()
    audit: list[AuditEntry] = [{"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action, "before": e.before,
                                "after": e.after, "detail": e.detail} for e in events]
    escalations = escalations_of(session, c.id)
    if not unmask:  # reasons, notes and responses in the trail are free text too
        audit = [_masked_event(e, names) for e in audit]
        escalations = [_masked_escalation(e, names) for e in escalations]
    # The summary's keys keep their places (`complainant` becomes the personal data); the rest follow.
    return {
        **summary(c, unmask=unmask, current=current),
        "external_ref": c.external_ref,
        "channel_raw": c.channel_raw,
        "category_raw": c.category_raw,
        "cause_raw": c.cause_raw,
        "triage_reasons": c.triage_reasons,
        "group_size": c.group_size,
        "vulnerable": c.vulnerable,
        "vulnerable_note": text(c.vulnerable_note) if c.vulnerable_note else None,
        "outlet": c.outlet,
        "department_branch": c.department_branch,
        "chain": c.chain,
        "watchers": c.watchers,
        "regime": c.regime,
        "tier": c.tier,
        "clock_started_at": c.clock_started_at,
        "paused_days": current.paused_days if current else c.paused_days,
        "pause_reason": current.pause_reason if current else None,
        "stored_due_at": c.regulatory_due_at,
        "as_of": now,
        "review": review.as_dict() if review else None,
        "review_due_at": review.due_at if review else None,
        "review_owner": review.owner if review else None,
        "complainant_type": c.complainant_type,
        "complainant_type_name": _name(COMPLAINANT_TYPE_NAMES, c.complainant_type),
        "complainant": _person({
            "type": c.complainant_type, "name": c.complainant_name, "phone": c.complainant_phone,
            "id_type": c.complainant_id_type, "id_number": c.complainant_id_number, "email": c.complainant_email, "address": c.complainant_address,
            "credit_code": c.complainant_credit_code, "legal_representative": c.complainant_legal_rep,
        }, unmask),
        "agent": _person({"name": c.agent_name, "phone": c.agent_phone, "id_type": c.agent_id_type,
                          "id_number": c.agent_id_number,
                          "authorization": c.agent_authorization}, unmask) if c.agent_name else None,
        "respondent": text(c.respondent) if c.respondent else c.respondent,
        "request": text(c.request),
        "facts": text(c.facts),
        "routed_at": c.routed_at,
        "acknowledged_at": c.acknowledged_at,
        "responded_at": c.responded_at,
        "closed_at": c.closed_at,
        "personal_data": "unmasked" if unmask else "masked",
        "audit": audit,
        "escalations": escalations,
    }


def case_names(c: Any) -> tuple[str, ...]:
    """The people named in a case's submitted fields, masked wherever they occur in its free text."""
    return tuple(n for n in (getattr(c, "complainant_name", None), getattr(c, "agent_name", None),
                             getattr(c, "complainant_legal_rep", None)) if n)


def mask_strings(value: Any, names: Sequence[str] = ()) -> Any:
    """Every string inside `value` (dicts and lists walked) through `mask_free_text`."""
    if isinstance(value, str):
        return mask_free_text(value, names=names)
    if isinstance(value, dict):
        return {k: mask_strings(v, names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_strings(v, names) for v in value]
    return value


def select_cases(session: Session, stmt: Select[Any], *, now: datetime, overdue: bool = False,
                 due_before: datetime | None = None, limit: int = 200,
                 keep: Callable[[Any], bool] = lambda row: True) -> list[CaseSummary]:
    """Cases of `stmt` (a select of complaint rows, already filtered) as summaries, deadlines as of `now`.

    `overdue`: open cases whose deadline, open pauses counted, has passed. `due_before`: open cases
    not overdue whose deadline is before then. The stored deadline is never later than the current
    one, so the database narrows the candidates and the open pauses are counted here; rows are
    read a page at a time until `limit` cases are kept.
    """
    open_values = [s.value for s in OPEN_STATUSES]
    windowed = overdue or due_before is not None
    if overdue:
        stmt = stmt.where(COMPLAINT.c.status.in_(open_values), COMPLAINT.c.regulatory_due_at < now)
    if due_before is not None:
        stmt = stmt.where(COMPLAINT.c.status.in_(open_values), COMPLAINT.c.regulatory_due_at < due_before)
    stmt = stmt.order_by(COMPLAINT.c.regulatory_due_at, COMPLAINT.c.id)
    out: list[CaseSummary] = []
    offset = 0
    while len(out) < limit:
        page = session.execute(stmt.offset(offset).limit(_PAGE if windowed else limit)).all()
        current = current_deadlines(session, page, now=now)
        for row in page:
            cur = current.get(row.id)
            due = cur.due_at if cur else row.regulatory_due_at
            if overdue and due >= now:
                continue
            if due_before is not None and not now <= due < due_before:
                continue
            if keep(row):
                out.append(summary(row, current=cur))
        if not windowed or len(page) < _PAGE:
            break
        offset += _PAGE
    if windowed:
        out.sort(key=lambda c: c["due_at"])
    return out[:limit]


def list_cases(session: Session, *, now: datetime, status: str | None = None, department: str | None = None,
               overdue: bool = False, limit: int = 200) -> list[CaseSummary]:
    stmt = select(COMPLAINT)
    if status:
        stmt = stmt.where(COMPLAINT.c.status == status)
    if department:
        stmt = stmt.where(COMPLAINT.c.department == department)
    return select_cases(session, stmt, now=now, overdue=overdue, limit=limit)


def record_personal_data_view(session: Session, *, case_no: str, actor: str, detail: str, now: datetime) -> None:
    """Every view of unmasked personal data is itself an audit event on the case."""
    complaint_id = session.execute(select(COMPLAINT.c.id).where(COMPLAINT.c.case_no == case_no)).scalar_one()
    append(session, [AuditDraft(at=now, actor=actor, action="viewed_personal_data",
                                complaint_id=complaint_id, case_no=case_no, detail=detail)])
