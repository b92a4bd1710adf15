"""Routing: business category (and branch) → owning department → handler, under the chain.

Pure: the org chart, the routing table and the current open-case load per handler are
arguments. The choice of handler is the least-loaded eligible handler, ties broken by the
order in the configuration, so the same inputs always give the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass

from domain.case_actions import must_recuse
from domain.org import Branch, ChainLevel, ChainMember, Department, OrgChart


@dataclass(frozen=True)
class RoutingRule:
    department: str
    categories: frozenset[str]
    branches: frozenset[str] = frozenset()  # empty: every branch

    def matches(self, *, category: str, branch_ancestry: Sequence[str]) -> bool:
        if category not in self.categories:
            return False
        return not self.branches or any(b in self.branches for b in branch_ancestry)


@dataclass(frozen=True)
class RoutingTable:
    rules: tuple[RoutingRule, ...]

    def department_for(self, *, category: str | None, branch_ancestry: Sequence[str]) -> str | None:
        """First matching rule wins: put branch-specific rules before general ones."""
        if category is None:
            return None
        for rule in self.rules:
            if rule.matches(category=category, branch_ancestry=branch_ancestry):
                return rule.department
        return None


@dataclass(frozen=True)
class RouteInput:
    branch: str
    category: str | None
    triage: bool
    escalate_at_once: bool
    respondent: str = ""


@dataclass(frozen=True)
class RouteDecision:
    department: str
    department_branch: str
    handler: str | None
    chain: tuple[ChainMember, ...]
    watchers: tuple[str, ...]
    triage: bool
    reasons: tuple[str, ...]


class RoutingError(ValueError):
    """The org chart cannot take this case at all (no department, no triage queue)."""


def _pick_handler(
    org: OrgChart, department: Department, respondent: str, load: Mapping[str, int]
) -> tuple[str | None, list[str]]:
    notes: list[str] = []
    eligible: list[str] = []
    for person_id in department.handlers:
        person = org.people[person_id]
        if person.on_leave:
            continue
        if must_recuse(respondent, person):
            notes.append(f"回避：{person.name} 为被投诉人，未分派 (Art. 17)")
            continue
        eligible.append(person_id)
    if not eligible:
        return None, notes
    best = min(eligible, key=lambda pid: (load.get(pid, 0), department.handlers.index(pid)))
    return best, notes


def _locate(case: RouteInput, org: OrgChart, table: RoutingTable) -> tuple[tuple[Branch, Department], bool, list[str]]:
    """The owning department (or the triage queue) for a case, whether it is triage, and why."""
    ancestry = [b.code for b in org.ancestry(case.branch)]
    reasons: list[str] = []
    triage = case.triage
    found = None
    if not triage:
        dept_code = table.department_for(category=case.category, branch_ancestry=ancestry)
        if dept_code is None:
            reasons.append(f"路由表没有业务类别 {case.category} 的承办部门，转消保办分拣")
        else:
            found = org.find_department(case.branch, dept_code)
            if found is None:
                reasons.append(f"承办部门 {dept_code} 不在 {case.branch} 的组织架构中，转消保办分拣")
    if found is None:
        triage = True
        found = org.cp_department(case.branch)
        if found is None:
            raise RoutingError(f"branch {case.branch!r} has no consumer-protection office to triage to")
    return found, triage, reasons


def route_complaint(
    case: RouteInput,
    *,
    org: OrgChart,
    table: RoutingTable,
    load: MutableMapping[str, int],
    memo: MutableMapping[tuple[str, str | None, bool], tuple[tuple[Branch, Department], bool, list[str]]] | None = None,
) -> RouteDecision:
    """Decide department, handler, chain and watchers; `load` is updated for the batch.

    `memo` (one per batch, optional) remembers where each (branch, category, triage) goes.
    """
    key = (case.branch, case.category, case.triage)
    located = memo.get(key) if memo is not None else None
    if located is None:
        located = _locate(case, org, table)
        if memo is not None:
            memo[key] = located
    found, triage, located_reasons = located
    reasons = list(located_reasons)
    owning_branch, department = found
    handler, notes = _pick_handler(org, department, case.respondent, load)
    reasons.extend(notes)
    if handler is None:
        reasons.append(f"{department.name} 无可分派的经办人，由部门负责人分派")
    else:
        load[handler] = load.get(handler, 0) + 1
    chain = org.chain(branch_code=owning_branch.code, department=department, handler=handler)
    watchers: tuple[str, ...] = ()
    if case.escalate_at_once:
        watchers = tuple(
            dict.fromkeys(m.person_id for m in chain if m.level in (ChainLevel.CP_OFFICE, ChainLevel.DEPUTY))
        )
    return RouteDecision(
        department=department.code,
        department_branch=owning_branch.code,
        handler=handler,
        chain=chain,
        watchers=watchers,
        triage=triage,
        reasons=tuple(reasons),
    )
