"""Load and validate the policy files in `config/` once, at start-up: the org chart, routing table,
policy, escalation, the weekly report (report.yaml) and the delivery channels (channels.yaml).

Every error names the file, the line and the field, e.g.
``config/org.yaml:41: branches[1].departments[0].head.holder: unknown person 'zhou.x'``.
Each file is built into its domain object here, once (the org chart, the routing table, the
escalation policy), and `load_config` refuses a bad file before anything runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from domain.calendar import CalendarOverrides
from domain.escalation import (
    DEFAULT_SCHEDULE_PAGE,
    DEFAULT_SCHEDULE_PER_SWEEP,
    Anchor,
    EscalationLevel,
    EscalationPolicy,
    Trigger,
    Unit,
)
from domain.org import Branch, ChainLevel, Contact, Department, OrgChart, Person, Position
from domain.routing import RoutingRule, RoutingTable
from domain.taxonomy import CATEGORIES
from settings.channels import ChannelsFile, channels_path, load_channels
from settings.source import REPO_ROOT, ConfigError, Source, config_dir, read_yaml, validate_yaml

_Source = Source  # the name the checks below were written with
CHANNEL_NAMES = ("email", "wecom", "dingtalk", "feishu", "webhook")


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
    workers: int = Field(default=2, ge=1, le=16)  # batches in flight at once on PostgreSQL (SQLite: 1)
    event_batch_limit: int = Field(default=1000, ge=0)
    # The web and the API take a receipt at most this many days back; earlier needs a 消保办 reason.
    backdate_days: int = Field(default=30, ge=0, le=3650)


class AuthSpec(_Strict):
    """Sign-in throttling and session/token lifetimes (docs/security.md, Authentication)."""

    account_max_failures: int = Field(default=5, ge=1, le=1000)  # wrong passwords per account ...
    account_window_minutes: int = Field(default=15, ge=1, le=1440)  # ... within this many minutes
    account_lockout_minutes: int = Field(default=15, ge=1, le=1440)  # then the account is locked this long
    address_max_failures: int = Field(default=20, ge=1, le=100_000)  # failed sign-ins per client address ...
    address_window_minutes: int = Field(default=15, ge=1, le=1440)
    address_lockout_minutes: int = Field(default=15, ge=1, le=1440)
    session_idle_minutes: int = Field(default=30, ge=1, le=1440)  # a browser session ends unused this long
    session_absolute_hours: int = Field(default=12, ge=1, le=168)  # and this long after sign-in at the latest
    token_days: int = Field(default=90, ge=1, le=3650)  # API token lifetime unless `token add --days N`


class EvidenceSpec(_Strict):
    """Evidence files on a case (issue 14): the largest file and the types taken (docs/casework.md)."""

    max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    types: list[str] = ["application/pdf", "image/jpeg", "image/png", "audio/mpeg", "audio/wav", "audio/mp4",
                        "video/mp4", "text/plain", "application/zip"]


class PolicyFile(_Strict):
    regime: str = Field(default="nfra", pattern=r"^nfra$")
    calendar: CalendarSpec = CalendarSpec()
    intake: IntakeSpec = IntakeSpec()
    auth: AuthSpec = AuthSpec()
    evidence: EvidenceSpec = EvidenceSpec()
    case_link_base: str = "http://127.0.0.1:8000/cases/"


class TriggerSpec(_Strict):
    anchor: Literal["regulatory_due", "ack_due"]
    offset_days: int = Field(ge=-60, le=60)
    unit: Literal["calendar", "working"] = "calendar"


class LevelSpec(_Strict):
    level: int = Field(ge=0, le=9)
    name: str = Field(min_length=1)
    notify: list[Literal["handler", "department_head", "cp_office", "deputy", "president"]] = Field(min_length=1)
    triggers: list[TriggerSpec] = Field(min_length=1)


class UrgentSpec(_Strict):
    start_level: int = Field(default=-1, ge=-1, le=9)
    advance_days: int = Field(default=0, ge=0, le=30)


class VulnerableSpec(_Strict):
    advance_days: int = Field(default=0, ge=0, le=30)


class DigestSpec(_Strict):
    hour: int = Field(default=9, ge=0, le=23)  # local hour from which the day's digest goes out


class ExtensionSpec(_Strict):
    complaint_leads: dict[str, str] = {}  # branch code → person id of its 投诉处理工作负责人
    superior_organisations: list[str] = Field(min_length=1)


class ReviewSpec(_Strict):
    owner_name: str = Field(min_length=1)
    owner_org: str = Field(min_length=1)
    notify: list[str] = []  # people in the org chart told that a review was opened


class SweepSpec(_Strict):
    batch_size: int = Field(default=1000, ge=1, le=50_000)
    workers: int = Field(default=2, ge=1, le=16)  # concurrent batches on PostgreSQL (SQLite: always 1)
    event_batch_limit: int = Field(default=1000, ge=0)
    new_case_grace_minutes: int = Field(default=10, ge=0, le=1440)
    # New complaints scheduled per page (one transaction each), and at most about this many per sweep
    # (the rest wait for the next sweeps): built into the policy (`EscalationPolicy.schedule_*`).
    schedule_page: int = Field(default=DEFAULT_SCHEDULE_PAGE, ge=100, le=50_000)
    schedule_per_sweep: int = Field(default=DEFAULT_SCHEDULE_PER_SWEEP, ge=100, le=10_000_000)


class EscalationFile(_Strict):
    levels: list[LevelSpec] = Field(min_length=1)
    urgent: UrgentSpec = UrgentSpec()
    vulnerable: VulnerableSpec = VulnerableSpec()
    digest: DigestSpec = DigestSpec()
    extension: ExtensionSpec
    review: ReviewSpec
    sweep: SweepSpec = SweepSpec()
    _policy: EscalationPolicy | None = PrivateAttr(default=None)

    def policy(self) -> EscalationPolicy:
        """The escalation policy, built once (by `load_config`) and the same object on every call."""
        if self._policy is None:
            self._policy = self._build_policy()
        return self._policy

    def _build_policy(self) -> EscalationPolicy:
        return EscalationPolicy(
            levels=tuple(
                EscalationLevel(
                    level=lv.level, name=lv.name, notify=tuple(ChainLevel(n) for n in lv.notify),
                    triggers=tuple(Trigger(Anchor(t.anchor), t.offset_days, Unit(t.unit)) for t in lv.triggers),
                )
                for lv in self.levels
            ),
            urgent_start_level=self.urgent.start_level,
            urgent_advance_days=self.urgent.advance_days,
            vulnerable_advance_days=self.vulnerable.advance_days,
            schedule_page=self.sweep.schedule_page,
            schedule_per_sweep=self.sweep.schedule_per_sweep,
        )

    def complaint_lead(self, org: OrgChart, branch: str) -> str | None:
        """The 投诉处理工作负责人 answering for a branch: its own, else the nearest parent's."""
        for b in org.ancestry(branch):
            if b.code in self.extension.complaint_leads:
                return self.extension.complaint_leads[b.code]
        return None


def _check_escalation(src: _Source, esc: EscalationFile, org: OrgChart) -> list[str]:
    problems: list[str] = []
    numbers = [lv.level for lv in esc.levels]
    for i, n in enumerate(numbers):
        if i and n <= numbers[i - 1]:
            problems.append(f"{src.where(('levels', i, 'level'))}: levels must be listed in increasing order, "
                            f"without repeats ({n} after {numbers[i - 1]})")
    if esc.urgent.start_level != -1 and esc.urgent.start_level not in numbers:
        problems.append(f"{src.where(('urgent', 'start_level'))}: no level {esc.urgent.start_level} "
                        f"(levels: {numbers})")
    for code, person in esc.extension.complaint_leads.items():
        if code not in org.branches:
            problems.append(f"{src.where(('extension', 'complaint_leads', code))}: unknown branch {code!r}")
        if person not in org.people:
            problems.append(f"{src.where(('extension', 'complaint_leads', code))}: unknown person {person!r}")
    for i, person in enumerate(esc.review.notify):
        if person not in org.people:
            problems.append(f"{src.where(('review', 'notify', i))}: unknown person {person!r}")
    if esc.sweep.schedule_per_sweep < esc.sweep.schedule_page:
        problems.append(f"{src.where(('sweep', 'schedule_per_sweep'))}: must be at least sweep.schedule_page "
                        f"({esc.sweep.schedule_per_sweep} < {esc.sweep.schedule_page})")
    return problems


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
    escalation_file: EscalationFile | None = None  # config/escalation.yaml, when there is one
    report: ReportFile = field(default_factory=lambda: ReportFile())  # config/report.yaml (defaults when absent)
    channels: ChannelsFile | None = None  # config/channels.yaml (or COMPLAINTS_CHANNELS), when there is one

    @property
    def escalation(self) -> EscalationFile:
        if self.escalation_file is None:
            raise ConfigError([f"{self.directory / 'escalation.yaml'}: file not found (needed for escalation)"])
        return self.escalation_file


def public_url() -> str | None:
    """COMPLAINTS_PUBLIC_URL: where people open the web pages (e.g. http://127.0.0.1:8001). When
    set, the links in every message are built on it instead of the files' `case_link_base` and
    `link_base`, so a web server on another port or host still gets links that open."""
    value = os.environ.get("COMPLAINTS_PUBLIC_URL", "").strip()
    return value.rstrip("/") or None


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
    """Read org.yaml, routing.yaml, policy.yaml, and escalation.yaml, report.yaml and channels.yaml when
    present; raise ConfigError listing every problem (file, line, field) of the first bad file."""
    base = directory or config_dir()
    org_src = read_yaml(base / "org.yaml")
    org_file = validate_yaml(OrgFile, org_src)
    problems = _check_org(org_src, org_file)
    if problems:
        raise ConfigError(problems)
    org = _build_org(org_file)
    routing_src = read_yaml(base / "routing.yaml")
    routing_file = validate_yaml(RoutingFile, routing_src)
    problems = _check_routing(routing_src, routing_file, org)
    if problems:
        raise ConfigError(problems)
    policy_src = read_yaml(base / "policy.yaml")
    policy = validate_yaml(PolicyFile, policy_src)
    if (base_url := public_url()) is not None:
        policy = policy.model_copy(update={"case_link_base": f"{base_url}/cases/"})
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
    escalation: EscalationFile | None = None
    if (base / "escalation.yaml").exists():
        esc_src = read_yaml(base / "escalation.yaml")
        escalation = validate_yaml(EscalationFile, esc_src)
        problems = _check_escalation(esc_src, escalation, org)
        if problems:
            raise ConfigError(problems)
        escalation.policy()  # built once, here
    report = load_report(base, org)
    channels_file = channels_path(base)
    channels = load_channels(channels_file) if channels_file.exists() else None
    return Config(base, org_file.institution, org, table, policy, overrides, tuple(org_file.groups), escalation,
                  report, channels)


# ---------------------------------------------------------------- the weekly report (report.yaml)


class CapSpec(_Strict):
    branch: str
    department: str
    monthly: int = Field(ge=0)


class ReportFile(_Strict):
    output_dir: str = "var/reports"
    link_base: str = "http://127.0.0.1:8000/reports/"
    repeat_window_days: int = Field(default=30, ge=1, le=366)
    recipients: list[str] = []
    customers: dict[str, int] = {}
    caps: list[CapSpec] = []


def load_report(directory: Path, org: OrgChart) -> ReportFile:
    """Read report.yaml (defaults when absent); ConfigError naming file, line and field."""
    path = directory / "report.yaml"
    if not path.exists():
        return ReportFile() if public_url() is None else ReportFile(link_base=f"{public_url()}/reports/")
    src = read_yaml(path)
    report: ReportFile = validate_yaml(ReportFile, src)
    problems: list[str] = []
    for i, person in enumerate(report.recipients):
        if person not in org.people:
            problems.append(f"{src.where(('recipients', i))}: unknown person {person!r}")
    for code, n in report.customers.items():
        if code not in org.branches:
            problems.append(f"{src.where(('customers', code))}: unknown branch {code!r}")
        elif n <= 0:
            problems.append(f"{src.where(('customers', code))}: must be a positive number of customers")
    for i, cap in enumerate(report.caps):
        found = org.find_department(cap.branch, cap.department) if cap.branch in org.branches else None
        if cap.branch not in org.branches:
            problems.append(f"{src.where(('caps', i, 'branch'))}: unknown branch {cap.branch!r}")
        elif found is None or found[0].code != cap.branch:
            problems.append(f"{src.where(('caps', i, 'department'))}: no department {cap.department!r} in branch {cap.branch!r}")
    if problems:
        raise ConfigError(problems)
    if (base_url := public_url()) is not None:
        report = report.model_copy(update={"link_base": f"{base_url}/reports/"})
    return report


__all__ = ["CHANNEL_NAMES", "REPO_ROOT", "AuthSpec", "ChannelsFile", "Config", "ConfigError", "EscalationFile",
           "PolicyFile", "ReportFile", "Source", "config_dir", "load_config", "load_report", "public_url",
           "read_yaml", "validate_yaml"]
