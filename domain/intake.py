"""Intake decisions for a batch: classify each pending complaint, then route it.

Pure: the flow loads the pending cases, calls `plan_batch`, and applies the plans in one
transaction (state, audit, outbox), then emits events.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any, NamedTuple

from domain.classification import Classification, ClassificationInput, classify
from domain.org import OrgChart
from domain.routing import RouteDecision, RouteInput, RoutingTable, route_complaint
from domain.taxonomy import SensitiveTag, Severity, Source


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
