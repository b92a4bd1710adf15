"""Load and validate the policy files in `config/` (org chart, routing table, policy).

Every error names the file, the line and the field, e.g.
``config/org.yaml:41: branches[1].departments[0].head.holder: unknown person 'zhou.x'``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.calendar import CalendarOverrides
from domain.org import Branch, Contact, Department, OrgChart, Person, Position
from domain.routing import RoutingRule, RoutingTable
from domain.taxonomy import CATEGORIES

M = TypeVar("M", bound=BaseModel)
REPO_ROOT = Path(__file__).resolve().parent.parent
CHANNEL_NAMES = ("email", "wecom", "dingtalk", "feishu", "webhook")


class ConfigError(ValueError):
    """One or more problems in the configuration; each line names file, line and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


# ---------------------------------------------------------------- YAML with line numbers


def _walk(node: yaml.Node, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], int]]:
    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield path + (key.value,), key.start_mark.line + 1
            yield from _walk(value, path + (key.value,))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _walk(item, path + (i,))


@dataclass
class _Source:
    path: Path
    data: Any
    lines: dict[tuple[Any, ...], int]

    def line_of(self, loc: tuple[Any, ...]) -> int:
        for cut in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:cut]))
            if line is not None:
                return line
        return 1

    def where(self, loc: tuple[Any, ...]) -> str:
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        return f"{self.path}:{self.line_of(loc)}: {field or '(top level)'}"


def _read(path: Path) -> _Source:
    if not path.exists():
        raise ConfigError([f"{path}: file not found"])
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError([f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    lines = dict(_walk(node, ())) if node is not None else {}
    return _Source(path, data if data is not None else {}, lines)


def _validate(model: type[M], src: _Source) -> M:
    try:
        return model.model_validate(src.data)
    except ValidationError as exc:
        raise ConfigError([f"{src.where(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]) from None


# ---------------------------------------------------------------- file schemas


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PersonSpec(_Strict):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    email: str | None = None
    wecom: str | None = None
    dingtalk: str | None = None
    feishu: str | None = None
    webhook: str | None = None
    on_leave: bool = False
    delegate: str | None = None


class PositionSpec(_Strict):
    title: str
    holder: str | None = None
    acting: str | None = None


class DepartmentSpec(_Strict):
    code: str = Field(min_length=1)
    name: str
    head: PositionSpec
    handlers: list[str] = []


class BranchSpec(_Strict):
    code: str = Field(min_length=1)
    name: str
    case_prefix: str = Field(pattern=r"^[A-Z]{2,6}$")
    parent: str | None = None
    president: PositionSpec
    deputy: PositionSpec | None = None
    cp_office: PositionSpec | None = None
    cp_department: str | None = None
    departments: list[DepartmentSpec] = []


class GroupSpec(_Strict):
    """A group robot for a department or role, e.g. the 消保办 WeCom group."""

    key: str
    channel: str
    address: str


class OrgFile(_Strict):
    institution: str
    branches: list[BranchSpec] = Field(min_length=1)
    people: list[PersonSpec] = Field(min_length=1)
    groups: list[GroupSpec] = []


class RuleSpec(_Strict):
    department: str
    categories: list[str] = Field(min_length=1)
    branches: list[str] = []


class RoutingFile(_Strict):
    rules: list[RuleSpec] = Field(min_length=1)


class CalendarSpec(_Strict):
    extra_workdays: list[date] = []
    extra_holidays: list[date] = []


class IntakeSpec(_Strict):
    batch_size: int = Field(default=500, ge=1, le=50_000)
    event_batch_limit: int = Field(default=1000, ge=0)


class PolicyFile(_Strict):
    regime: str = Field(default="nfra", pattern=r"^nfra$")
    calendar: CalendarSpec = CalendarSpec()
    intake: IntakeSpec = IntakeSpec()
    case_link_base: str = "http://127.0.0.1:8000/cases/"


# ---------------------------------------------------------------- the loaded configuration


@dataclass(frozen=True)
class Config:
    directory: Path
    institution: str
    org: OrgChart
    routing: RoutingTable
    policy: PolicyFile
    calendar_overrides: CalendarOverrides
    groups: tuple[GroupSpec, ...]


def config_dir() -> Path:
    return Path(os.environ.get("COMPLAINTS_CONFIG", REPO_ROOT / "config"))


def _position(p: PositionSpec) -> Position:
    return Position(title=p.title, holder=p.holder, acting=p.acting)


def _check_org(src: _Source, org: OrgFile) -> list[str]:
    problems: list[str] = []
    people = {p.id for p in org.people}
    branches = {b.code for b in org.branches}

    def person(ref: str | None, loc: tuple[Any, ...]) -> None:
        if ref is not None and ref not in people:
            problems.append(f"{src.where(loc)}: unknown person {ref!r}")

    seen: set[str] = set()
    for i, p in enumerate(org.people):
        if p.id in seen:
            problems.append(f"{src.where(('people', i, 'id'))}: duplicate person id {p.id!r}")
        seen.add(p.id)
        person(p.delegate, ("people", i, "delegate"))
    for i, b in enumerate(org.branches):
        if b.parent is not None and b.parent not in branches:
            problems.append(f"{src.where(('branches', i, 'parent'))}: unknown branch {b.parent!r}")
        for role in ("president", "deputy", "cp_office"):
            spec: PositionSpec | None = getattr(b, role)
            if spec is not None:
                person(spec.holder, ("branches", i, role, "holder"))
                person(spec.acting, ("branches", i, role, "acting"))
        codes = [d.code for d in b.departments]
        if b.cp_department is not None and b.cp_department not in codes:
            problems.append(f"{src.where(('branches', i, 'cp_department'))}: no department {b.cp_department!r} in this branch")
        for j, d in enumerate(b.departments):
            person(d.head.holder, ("branches", i, "departments", j, "head", "holder"))
            person(d.head.acting, ("branches", i, "departments", j, "head", "acting"))
            for k, h in enumerate(d.handlers):
                person(h, ("branches", i, "departments", j, "handlers", k))
    roots = [b.code for b in org.branches if b.parent is None]
    if len(roots) != 1:
        problems.append(f"{src.where(('branches',))}: exactly one branch must have no parent (found {roots})")
    for i, g in enumerate(org.groups):
        if g.channel not in CHANNEL_NAMES:
            problems.append(f"{src.where(('groups', i, 'channel'))}: unknown channel {g.channel!r}; one of {CHANNEL_NAMES}")
    return problems


def _build_org(org: OrgFile) -> OrgChart:
    people = {
        p.id: Person(
            id=p.id,
            name=p.name,
            contacts=tuple(Contact(c, getattr(p, c)) for c in CHANNEL_NAMES if getattr(p, c)),
            on_leave=p.on_leave,
            delegate=p.delegate,
        )
        for p in org.people
    }
    branches = {
        b.code: Branch(
            code=b.code,
            name=b.name,
            case_prefix=b.case_prefix,
            parent=b.parent,
            president=_position(b.president),
            deputy=_position(b.deputy) if b.deputy else None,
            cp_office=_position(b.cp_office) if b.cp_office else None,
            cp_department=b.cp_department,
            departments={
                d.code: Department(code=d.code, name=d.name, head=_position(d.head), handlers=tuple(d.handlers))
                for d in b.departments
            },
        )
        for b in org.branches
    }
    return OrgChart(branches=branches, people=people)


def _check_routing(src: _Source, routing: RoutingFile, org: OrgChart) -> list[str]:
    problems: list[str] = []
    known = {t.code for t in CATEGORIES}
    departments = {d for b in org.branches.values() for d in b.departments}
    for i, rule in enumerate(routing.rules):
        if rule.department not in departments:
            problems.append(f"{src.where(('rules', i, 'department'))}: no department {rule.department!r} in the org chart")
        for j, cat in enumerate(rule.categories):
            if cat not in known:
                problems.append(f"{src.where(('rules', i, 'categories', j))}: {cat!r} is not a JR/T 0169 B code (B01..B14)")
        for j, br in enumerate(rule.branches):
            if br not in org.branches:
                problems.append(f"{src.where(('rules', i, 'branches', j))}: unknown branch {br!r}")
    return problems


def load_config(directory: Path | None = None) -> Config:
    """Read org.yaml, routing.yaml and policy.yaml; raise ConfigError listing every problem."""
    base = directory or config_dir()
    org_src = _read(base / "org.yaml")
    org_file = _validate(OrgFile, org_src)
    problems = _check_org(org_src, org_file)
    if problems:
        raise ConfigError(problems)
    org = _build_org(org_file)
    routing_src = _read(base / "routing.yaml")
    routing_file = _validate(RoutingFile, routing_src)
    problems = _check_routing(routing_src, routing_file, org)
    if problems:
        raise ConfigError(problems)
    policy_src = _read(base / "policy.yaml")
    policy = _validate(PolicyFile, policy_src)
    table = RoutingTable(
        tuple(
            RoutingRule(department=r.department, categories=frozenset(r.categories), branches=frozenset(r.branches))
            for r in routing_file.rules
        )
    )
    overrides = CalendarOverrides(
        extra_workdays=frozenset(policy.calendar.extra_workdays),
        extra_holidays=frozenset(policy.calendar.extra_holidays),
    )
    return Config(base, org_file.institution, org, table, policy, overrides, tuple(org_file.groups))
