"""Intake decisions for a batch: classify each pending complaint, then route it.

Pure: the flow loads the pending cases, calls `plan_batch` (classification and route) and
`plan_messages` (who is told, in which words), and the store writes both in one transaction
(state, audit, outbox); then the flow emits events.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

from domain.classification import Classification, ClassificationInput, classify
from domain.deadlines import local_text
from domain.intents import MessageIntent
from domain.masking import mask_free_text, mask_name
from domain.messages import NO_HANDLER, Routed
from domain.org import ChainLevel, OrgChart
from domain.routing import RouteDecision, RouteInput, RoutingTable, route_complaint
from domain.taxonomy import (
    SEVERITY_NAMES,
    TAG_NAMES,
    UNTRIAGED,
    Dimension,
    SensitiveTag,
    Severity,
    Source,
    name_of,
)


class PendingCase(NamedTuple):
    id: int
    case_no: str
    source: str
    channel_raw: str | None
    category_raw: str | None
    cause_raw: str | None
    severity_requested: str | None
    group_size: int
    tags: tuple[str, ...]
    branch: str
    respondent: str | None


class RoutingPlan(NamedTuple):
    case: PendingCase
    classification: Classification
    route: RouteDecision


def classify_case(case: PendingCase) -> Classification:
    return classify(
        ClassificationInput(
            source=Source(case.source),
            channel=case.channel_raw,
            category=case.category_raw,
            cause=case.cause_raw,
            severity=Severity(case.severity_requested) if case.severity_requested else None,
            group_size=case.group_size,
            tags=frozenset(SensitiveTag(t) for t in case.tags),
        )
    )


def plan_batch(
    cases: Sequence[PendingCase],
    *,
    org: OrgChart,
    table: RoutingTable,
    load: MutableMapping[str, int],
) -> list[RoutingPlan]:
    """Classify and route every case; `load` (open cases per handler) is updated as cases are assigned."""
    plans: list[RoutingPlan] = []
    # Classification depends only on these fields, and a batch repeats few combinations of them.
    seen: dict[tuple[object, ...], Classification] = {}
    located: dict[tuple[str, str | None, bool], Any] = {}
    for case in cases:
        key = (case.source, case.channel_raw, case.category_raw, case.cause_raw, case.severity_requested,
               case.group_size, case.tags)
        cls = seen.get(key)
        if cls is None:
            cls = seen[key] = classify_case(case)
        decision = route_complaint(
            RouteInput(
                branch=case.branch,
                category=cls.category,
                triage=cls.triage,
                escalate_at_once=cls.escalate_at_once,
                respondent=case.respondent or "",
            ),
            org=org,
            table=table,
            load=load,
            memo=located,
        )
        plans.append(RoutingPlan(case, cls, decision))
    return plans


# ---------------------------------------------------------------- who is told, in which words


class MessageFields(NamedTuple):
    """What the routed message needs of a claimed case besides its plan (times only to show them)."""

    complainant_name: str
    request: str
    other_names: tuple[str, ...]  # the agent's and legal representative's, masked in the request
    received_at: datetime
    regulatory_due_at: datetime
    ack_due_at: datetime


class _RoutePart(NamedTuple):
    """The part of a routed message that depends only on the route (the same for many cases)."""

    category: str
    severity: str
    tags: tuple[str, ...]
    department: str
    handler: str


RoutedMemo = dict[tuple[object, ...], _RoutePart]
REQUEST_SHOWN = 200  # characters of the (masked) request a routed message shows


def routed_message(*, case_no: str, role: str, category: str | None, severity: str, tags: Sequence[str],
                   triage: bool, reasons: Sequence[str], department_branch: str, department: str,
                   handler: str | None, complainant_name: str, request: str, received_at: datetime,
                   regulatory_due_at: datetime, ack_due_at: datetime, org: OrgChart, case_link_base: str,
                   memo: RoutedMemo | None = None, other_names: Sequence[str | None] = ()) -> Routed:
    """What the `routed` message says (masked): intake and a later (re)assignment use it alike.

    `memo` (one per batch) remembers the part that depends only on the route. The request is
    masked with the complainant's and `other_names` (agent, legal representative) named.
    """
    key = (category, severity, tuple(tags), department_branch, department, handler)
    part = memo.get(key) if memo is not None else None
    if part is None:
        part = _RoutePart(
            category=name_of(Dimension.CATEGORY, category) if category else UNTRIAGED,
            severity=SEVERITY_NAMES[Severity(severity)],
            tags=tuple(TAG_NAMES[SensitiveTag(t)] for t in sorted(tags)),
            department=org.branches[department_branch].departments[department].name,
            handler=org.people[handler].name if handler else NO_HANDLER,
        )
        if memo is not None:
            memo[key] = part
    return Routed(
        case_no=case_no, role=role, category=part.category, severity=part.severity, tags=part.tags,
        triage=triage, reasons=tuple(reasons), department=part.department, handler=part.handler,
        complainant=mask_name(complainant_name),
        request=mask_free_text(request, names=(complainant_name, *other_names))[:REQUEST_SHOWN],
        received_at=local_text(received_at), due_at=local_text(regulatory_due_at), ack_due_at=local_text(ack_due_at),
        link=f"{case_link_base}{case_no}",
    )


def routing_reasons(plan: RoutingPlan) -> list[str]:
    """Why the case went where it did (triage reasons, routing reasons, missing data), in order."""
    cls = plan.classification
    return list(cls.triage_reasons + plan.route.reasons + cls.data_gaps)


def plan_messages(plans: Sequence[RoutingPlan], fields: Mapping[int, MessageFields], *, org: OrgChart,
                  case_link_base: str) -> list[MessageIntent[Routed]]:
    """Who is told about each routed case, in which words: the handler (or, with no handler, the
    department head, who assigns it), then every watcher; one `routed` message each, keyed by the
    case so a re-run queues nothing twice. A case's contract is built once, for its first
    recipient; the watchers' copy differs only in its role."""
    out: list[MessageIntent[Routed]] = []
    parts: RoutedMemo = {}
    for plan in plans:
        cls, route, case = plan.classification, plan.route, plan.case
        raw = fields[case.id]
        role = "handler" if route.handler is not None else "department_head"
        base = routed_message(
            case_no=case.case_no, role=role, category=cls.category, severity=cls.severity.value,
            tags=[t.value for t in cls.tags], triage=route.triage, reasons=routing_reasons(plan),
            department_branch=route.department_branch, department=route.department, handler=route.handler,
            complainant_name=raw.complainant_name, request=raw.request, received_at=raw.received_at,
            regulatory_due_at=raw.regulatory_due_at, ack_due_at=raw.ack_due_at, org=org,
            case_link_base=case_link_base, memo=parts, other_names=raw.other_names,
        )
        key = f"{case.case_no}:routed"
        first = route.handler if route.handler is not None else next(
            (m.person_id for m in route.chain if m.level is ChainLevel.DEPARTMENT_HEAD), None)
        if first is not None:
            out.append(MessageIntent("routed", first, key, base, case.id, case.case_no))
        if route.watchers:
            watcher_context = replace(base, role="watcher")
            out.extend(MessageIntent("routed", w, key, watcher_context, case.id, case.case_no) for w in route.watchers)
    return out
