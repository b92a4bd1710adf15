"""Load pending complaints and write intake's plans: state, audit and outbox together.

What a case becomes and who is told in which words is decided in `domain.intake` (`plan_batch`,
`plan_messages`); here the claimed rows are read and the plans written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session

from domain.intake import (
    MessageFields,
    PendingCase,
    RoutedMemo,
    RoutingPlan,
    routed_message,
    routing_reasons,
)
from domain.intents import MessageIntent
from domain.lifecycle import OPEN_STATUSES, Status, ensure_transition
from domain.messages import Routed
from domain.org import chain_snapshot
from models.audit_chain import AuditDraft, append
from models.complaint import Complaint
from models.outbox_writer import OutboxItem, enqueue
from models.participants import replace_work
from models.sqlutil import table_of, update_rows_by_id
from settings.config import Config

COMPLAINT = table_of(Complaint)
_PENDING_COLS = [
    COMPLAINT.c.id, COMPLAINT.c.case_no, COMPLAINT.c.source, COMPLAINT.c.channel_raw, COMPLAINT.c.category_raw,
    COMPLAINT.c.cause_raw, COMPLAINT.c.severity_requested, COMPLAINT.c.group_size,
    type_coerce(COMPLAINT.c.tags, String).label("tags"),  # parsed below, once per distinct value
    COMPLAINT.c.branch, COMPLAINT.c.respondent, COMPLAINT.c.complainant_name, COMPLAINT.c.request,
    COMPLAINT.c.agent_name, COMPLAINT.c.complainant_legal_rep,  # read only to mask them inside the request
]
_PENDING_TIMES = (COMPLAINT.c.received_at, COMPLAINT.c.regulatory_due_at, COMPLAINT.c.ack_due_at)


def _sqlite_time(text_value: str) -> datetime:
    # SQLite holds UTCDateTime as naive UTC text ("2026-01-05 01:00:00.000000").
    return datetime.fromisoformat(text_value).replace(tzinfo=UTC)


@dataclass(frozen=True)
class RoutedCase:
    """What an event about a routed case carries (no personal data)."""

    case_no: str
    department: str
    department_branch: str
    handler: str | None
    watchers: tuple[str, ...]
    severity: str
    triage: bool


def count_pending(session: Session) -> int:
    return int(session.execute(select(func.count()).where(COMPLAINT.c.status == Status.RECEIVED.value)).scalar_one())


def claim_pending(session: Session, limit: int) -> tuple[list[PendingCase], dict[int, MessageFields]]:
    """The oldest pending complaints, locked for this transaction (others skip them on PostgreSQL).

    Read without SQLAlchemy's per-value result processing (a quarter of intake's Python time at
    100,000 cases): tags are parsed once per distinct JSON text, times are used only for display.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    times = list(_PENDING_TIMES) if postgres else [type_coerce(c, String) for c in _PENDING_TIMES]
    stmt = (select(*_PENDING_COLS, *times).where(COMPLAINT.c.status == Status.RECEIVED.value)
            .order_by(COMPLAINT.c.id).limit(limit))
    if postgres:
        stmt = stmt.with_for_update(skip_locked=True)
    rows = session.execute(stmt).all()
    tag_memo: dict[Any, tuple[str, ...]] = {}
    time_of: Any = (lambda v: v) if postgres else _sqlite_time
    cases: list[PendingCase] = []
    fields: dict[int, MessageFields] = {}
    for (id_, case_no, source, channel_raw, category_raw, cause_raw, severity_requested, group_size, tags_json,
         branch, respondent, name, request, agent_name, legal_rep, received_at, due_at, ack_due_at) in rows:
        tags = tag_memo.get(tags_json) if isinstance(tags_json, str) else None
        if tags is None:
            parsed = orjson.loads(tags_json) if isinstance(tags_json, str) else tags_json
            tags = tuple(parsed or ())
            if isinstance(tags_json, str):
                tag_memo[tags_json] = tags
        cases.append(PendingCase(id_, case_no, source, channel_raw, category_raw, cause_raw, severity_requested,
                                 group_size, tags, branch, respondent))
        others = tuple(n for n in (agent_name, legal_rep) if n)
        fields[id_] = MessageFields(name, request, others, time_of(received_at), time_of(due_at),
                                     time_of(ack_due_at))
    return cases, fields


def open_load(session: Session) -> dict[str, int]:
    """Open cases per handler, so routing spreads new work to the least loaded."""
    open_values = [s.value for s in OPEN_STATUSES]
    stmt = (
        select(COMPLAINT.c.handler, func.count())
        .where(COMPLAINT.c.status.in_(open_values), COMPLAINT.c.handler.is_not(None))
        .group_by(COMPLAINT.c.handler)
    )
    return {h: int(n) for h, n in session.execute(stmt).all()}


def routed_context(*, case_no: str, role: str, category: str | None, severity: str, tags: Sequence[str],
                   triage: bool, reasons: Sequence[str], department_branch: str, department: str,
                   handler: str | None, complainant_name: str, request: str, received_at: datetime,
                   regulatory_due_at: datetime, ack_due_at: datetime, config: Config,
                   memo: RoutedMemo | None = None, other_names: Sequence[str | None] = ()) -> Routed:
    """`domain.intake.routed_message` with this configuration's org chart and case links (a
    reassignment's message, `models.case_actions.assign`)."""
    return routed_message(
        case_no=case_no, role=role, category=category, severity=severity, tags=tags, triage=triage,
        reasons=reasons, department_branch=department_branch, department=department, handler=handler,
        complainant_name=complainant_name, request=request, received_at=received_at,
        regulatory_due_at=regulatory_due_at, ack_due_at=ack_due_at, org=config.org,
        case_link_base=config.policy.case_link_base, memo=memo, other_names=other_names)


def apply_plans(session: Session, plans: Sequence[RoutingPlan], messages: Sequence[MessageIntent[Routed]], *,
                config: Config, now: datetime, actor: str = "intake") -> list[RoutedCase]:
    """Write every plan and its messages (`domain.intake.plan_messages`) in the caller's
    transaction; returns what the events should say."""
    if not plans:
        return []
    params: list[dict[str, Any]] = []
    audits: list[AuditDraft] = []
    routed: list[RoutedCase] = []
    target = ensure_transition(Status.RECEIVED, Status.ROUTED).value
    received = Status.RECEIVED.value
    people = config.org.people
    # The same few chains recur in a batch (the org chart hands out one tuple per distinct chain;
    # keyed by identity, as hashing the tuple of dataclasses costs more than building the list).
    chains: dict[int, list[dict[str, object]]] = {}
    for plan in plans:
        cls, route, case = plan.classification, plan.route, plan.case
        chain = chains.get(id(route.chain))
        if chain is None:
            chain = chains[id(route.chain)] = chain_snapshot(route.chain, people)
        reasons = routing_reasons(plan)
        severity = cls.severity.value
        params.append({
            "id": case.id, "status": target, "channel": cls.channel, "category": cls.category,
            "cause": cls.cause, "severity": severity, "tags": sorted(t.value for t in cls.tags),
            "triage": route.triage, "triage_reasons": reasons, "department": route.department,
            "department_branch": route.department_branch, "handler": route.handler, "chain": chain,
            "watchers": list(route.watchers), "routed_at": now, "updated_at": now,
        })
        audits.append(AuditDraft(
            at=now, actor=actor, action="routed", complaint_id=case.id, case_no=case.case_no,
            before={"status": received},
            after={"status": target, "department": route.department, "handler": route.handler,
                   "severity": severity, "category": cls.category, "triage": route.triage},
            detail="; ".join(reasons)[:500],
        ))
        routed.append(RoutedCase(case.case_no, route.department, route.department_branch, route.handler,
                                 route.watchers, severity, route.triage))
    # The rows are locked by claim_pending (PostgreSQL) or the single writer (SQLite).
    update_rows_by_id(session, COMPLAINT, params)
    replace_work(session, [(p["id"], p["handler"], p["chain"], p["watchers"]) for p in params], known_open=True)
    enqueue(session, [OutboxItem._make(m) for m in messages], org=config.org, now=now)
    append(session, audits)  # last: the audit head stays locked until commit (parallel batches queue here)
    return routed
