"""The escalation sweep's decisions for one batch of cases, and the daily digest's: pure.

The store loads the cases (`SweepCase`), their fired levels and open pauses; `plan_sweep`
decides everything a sweep does with them and returns a `SweepPlan`: the escalation rows to
insert, and for each the audit draft, the messages (recipient, de-duplication key, the wording
of the `escalated` contract) and the event; the cases' next escalation times (schedule changes).
The store writes the plan: it inserts the rows ON CONFLICT DO NOTHING and acts only on the
(case, level) pairs it created, so two sweeps never fire a level twice.

`plan_schedule` is the same decision for scheduling alone (new or changed cases), and
`plan_digests` is the daily digest: who gets one, with which cases, in which words.

Memoisation lives in one `SweepMemo` per run: the cases of a sweep share a few deadlines
(23:59:59 local), one `now`, a few chains, categories and severities.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple, TypeVar

from domain.calendar import WorkingCalendar
from domain.deadlines import SHANGHAI, local_text
from domain.escalation import (
    DueLevel,
    EscalationLevel,
    EscalationPolicy,
    Recipient,
    SweepDecisions,
    case_chain,
    is_urgent,
    lateness_days,
    resolve_recipients,
)
from domain.intents import AuditIntent, MessageIntent
from domain.masking import mask_free_text, mask_name
from domain.messages import NO_HANDLER, ChainEntry, DigestCase, Escalated, EscalationDigest
from domain.org import ChainMember, OrgChart
from domain.taxonomy import SEVERITY_NAMES, UNTRIAGED, Dimension, Severity, name_of
from domain.wording import lateness_text, vulnerable_text

DIGEST_CASES_SHOWN = 200  # a digest lists at most this many cases (its count says how many in all)
REASON_STORED = 200  # characters of the firing reason kept on the escalation row

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SweepCase(NamedTuple):
    """What a sweep reads of one case (tags parsed, acknowledgement as a flag)."""

    id: int
    case_no: str
    status: str
    branch: str
    department_branch: str | None
    department: str | None
    handler: str | None
    severity: str
    severity_requested: str | None
    group_size: int
    tags: tuple[str, ...]
    source: str
    vulnerable: bool
    category: str | None
    complainant_name: str
    clock_started_at: datetime
    regulatory_due_at: datetime
    ack_due_at: datetime
    acknowledged: bool
    vulnerable_note: str | None
    outlet: str | None


class ScheduleCase(NamedTuple):
    """What scheduling reads of one case: only what the policy needs."""

    id: int
    status: str
    severity: str
    severity_requested: str | None
    group_size: int
    tags: tuple[str, ...]
    source: str
    vulnerable: bool
    clock_started_at: datetime
    regulatory_due_at: datetime
    ack_due_at: datetime
    acknowledged: bool


class ScheduleEntry(NamedTuple):
    """A case's next escalation: when, and which level."""

    complaint_id: int
    next_at: datetime
    next_level: int


class StoredRecipient(NamedTuple):
    """One recipient of a fired level, as the escalation row keeps it."""

    person: str
    name: str
    seat: str
    title: str
    acting: bool
    moved_up: bool


class EscalationRow(NamedTuple):
    complaint_id: int
    case_no: str
    level: int
    name: str
    due_at: datetime
    fired_at: datetime
    reason: str
    recipients: tuple[StoredRecipient, ...]


@dataclass(frozen=True)
class FiredEscalation:
    """What an event about a fired level carries (no personal data)."""

    case_no: str
    level: int
    name: str
    recipients: tuple[str, ...]
    late_days: int


class Firing(NamedTuple):
    """Everything one (case, level) does once its escalation row is stored."""

    row: EscalationRow
    audit: AuditIntent
    messages: tuple[MessageIntent[Escalated], ...]
    event: FiredEscalation


@dataclass
class SweepPlan:
    """What one batch of the sweep does: fire `firings` (keyed by (case id, level), in case
    order), then move the cases' next escalation (`schedule`) or drop it (`unschedule`)."""

    firings: dict[tuple[int, int], Firing] = field(default_factory=dict)
    schedule: list[ScheduleEntry] = field(default_factory=list)
    unschedule: list[int] = field(default_factory=list)

    @property
    def rows(self) -> list[EscalationRow]:
        return [f.row for f in self.firings.values()]


@dataclass(frozen=True)
class _Where:
    """What the messages of a (branch, department, handler) say about where the case is."""

    chain: tuple[ChainMember, ...]
    chain_view: tuple[ChainEntry, ...]
    department: str
    handler: str
    branch_name: str


@dataclass(frozen=True)
class _Recipients:
    """One level's recipients for one chain (the org chart as of now)."""

    stored: tuple[StoredRecipient, ...]
    people: tuple[str, ...]


def _once(table: dict[K, V], key: K, make: Callable[[], V]) -> V:
    hit = table.get(key)
    if hit is None:
        hit = table[key] = make()
    return hit


class SweepMemo:
    """One run's memory of what its cases share (one `now`, policy, calendar and org chart).

    Shared by the batches of one run (also across threads: every entry is computed from its key
    alone, so two threads computing one entry store equal values). Nothing in it is mutated
    after it is stored.
    """

    def __init__(self, *, now: datetime, policy: EscalationPolicy, calendar: WorkingCalendar, org: OrgChart,
                 case_link_base: str) -> None:
        self.now = now
        self.policy = policy
        self.calendar = calendar
        self.org = org
        self.link_base = case_link_base
        self.levels: dict[int, EscalationLevel] = {lv.level: lv for lv in policy.levels}
        self.decisions = SweepDecisions(now=now, policy=policy, calendar=calendar)
        self._urgent: dict[tuple[str, str | None, int, tuple[str, ...], str], bool] = {}
        self._where: dict[tuple[str, str | None, str | None, str | None], _Where] = {}
        self._recipients: dict[tuple[tuple[str, str | None, str | None, str | None], int], _Recipients] = {}
        self._names: dict[str, str] = {}
        self._categories: dict[str | None, str] = {}
        self._severities: dict[str, str] = {}
        self._vulnerable: dict[tuple[bool, str | None], str] = {}
        self._lateness: dict[tuple[datetime, datetime | None], str] = {}
        self._late_days: dict[datetime, int] = {}
        self._iso: dict[datetime, str] = {}

    def urgent(self, severity: str, severity_requested: str | None, group_size: int, tags: tuple[str, ...],
               source: str) -> bool:
        key = (severity, severity_requested, group_size, tags, source)
        hit = self._urgent.get(key)
        if hit is None:
            hit = self._urgent[key] = is_urgent(severity=severity, severity_requested=severity_requested,
                                                group_size=group_size, tags=tags, source=source)
        return hit

    def where(self, branch: str, department_branch: str | None, department: str | None,
              handler: str | None) -> _Where:
        return _once(self._where, (branch, department_branch, department, handler),
                     lambda: where_of(self.org, branch=branch, department_branch=department_branch,
                                      department=department, handler=handler))

    def recipients(self, where_key: tuple[str, str | None, str | None, str | None], chain: Sequence[ChainMember],
                   level: EscalationLevel) -> _Recipients:
        return _once(self._recipients, (where_key, level.level), lambda: _recipients(self.org, chain, level))

    def masked_name(self, name: str) -> str:
        return _once(self._names, name, lambda: mask_name(name))

    def category_text(self, code: str | None) -> str:
        return _once(self._categories, code, lambda: category_text(code))

    def severity_text(self, code: str) -> str:
        return _once(self._severities, code, lambda: SEVERITY_NAMES[Severity(code)])

    def vulnerable_text(self, vulnerable: bool, note: str | None) -> str:
        return _once(self._vulnerable, (vulnerable, note), lambda: vulnerable_text(vulnerable, note))

    def lateness_text(self, due_at: datetime, open_pause_since: datetime | None = None) -> str:
        return _once(self._lateness, (due_at, open_pause_since),
                     lambda: lateness_text(due_at, self.now, open_pause_since=open_pause_since))

    def late_days(self, due_at: datetime) -> int:
        return _once(self._late_days, due_at, lambda: max(0, lateness_days(due_at, self.now)))

    def iso(self, at: datetime) -> str:
        return _once(self._iso, at, at.isoformat)


def category_text(code: str | None) -> str:
    """A category as messages name it (待分拣 while intake has not classified the case)."""
    return name_of(Dimension.CATEGORY, code) if code else UNTRIAGED


def where_of(org: OrgChart, *, branch: str, department_branch: str | None, department: str | None,
             handler: str | None) -> _Where:
    """The chain of a case as the org chart stands now, and how messages name its place."""
    chain = case_chain(org, branch=branch, department_branch=department_branch, department=department,
                       handler=handler)
    view = tuple(ChainEntry(m.title, org.people[m.person_id].name, bool(m.acting))
                 for m in chain if m.person_id in org.people)
    found = org.find_department(department_branch or branch, department) if department else None
    if found is not None:
        dept = found[1].name
    else:
        cp = org.cp_department(branch)
        dept = f"{cp[1].name}（{UNTRIAGED}）" if cp is not None else UNTRIAGED
    person = org.people.get(handler) if handler else None
    owner = org.branches.get(branch)
    return _Where(chain, view, dept, person.name if person is not None else NO_HANDLER,
                  owner.name if owner is not None else branch)


def _recipients(org: OrgChart, chain: Sequence[ChainMember], level: EscalationLevel) -> _Recipients:
    chosen: tuple[Recipient, ...] = resolve_recipients(chain, level.notify)
    stored = tuple(
        StoredRecipient(r.person_id, org.people[r.person_id].name if r.person_id in org.people else r.person_id,
                        r.seat.value, r.title, r.acting, r.moved_up)
        for r in chosen)
    return _Recipients(stored, tuple(r.person for r in stored))


def plan_sweep(cases: Iterable[SweepCase], *, fired: Mapping[int, Collection[int]], paused: Collection[int],
               memo: SweepMemo, actor: str = "escalation") -> SweepPlan:
    """Decide one batch: which levels fire (and to whom, saying what), and each case's next time.

    `fired`: the levels already fired per case; `paused`: the cases whose clock is paused now.
    The policy runs once per distinct (deadlines, urgency, fired levels) in the run, the chain
    once per (branch, department, handler), the recipients once per (chain, level); one message
    contract per fired level is shared by its recipients.
    """
    now = memo.now
    decisions = memo.decisions
    levels = memo.levels
    plan = SweepPlan()
    firings, schedule, unschedule = plan.firings, plan.schedule, plan.unschedule
    no_levels: tuple[int, ...] = ()
    for case in cases:
        cid = case.id
        due, nxt = decisions(
            status=case.status, clock_started_at=case.clock_started_at, regulatory_due_at=case.regulatory_due_at,
            ack_due_at=case.ack_due_at, acknowledged=case.acknowledged,
            urgent=memo.urgent(case.severity, case.severity_requested, case.group_size, case.tags, case.source),
            vulnerable=case.vulnerable, paused=cid in paused, fired=fired.get(cid, no_levels))
        if nxt is None:
            unschedule.append(cid)
        else:
            schedule.append(ScheduleEntry(cid, nxt.due_at, nxt.level))
        if due:
            for firing in _fire(case, due, memo, levels, now, actor):
                firings[(cid, firing.row.level)] = firing
    return plan


def _fire(case: SweepCase, due: Sequence[DueLevel], memo: SweepMemo, levels: Mapping[int, EscalationLevel],
          now: datetime, actor: str) -> Iterable[Firing]:
    where_key = (case.branch, case.department_branch, case.department, case.handler)
    place = memo.where(*where_key)
    reg_due = case.regulatory_due_at
    case_no = case.case_no
    note = (mask_free_text(case.vulnerable_note, names=(case.complainant_name,))
            if case.vulnerable_note else None)
    late_by = memo.lateness_text(reg_due)  # a case that fires has no open pause
    category, severity = memo.category_text(case.category), memo.severity_text(case.severity)
    complainant = memo.masked_name(case.complainant_name)
    outlet = case.outlet or place.branch_name
    vulnerable = memo.vulnerable_text(case.vulnerable, note)
    due_text = local_text(reg_due)
    link = f"{memo.link_base}{case_no}"
    late_days = memo.late_days(reg_due)
    for d in due:
        level = levels[d.level]
        rec = memo.recipients(where_key, place.chain, level)
        row = EscalationRow(case.id, case_no, d.level, level.name, d.due_at, now, d.reason[:REASON_STORED],
                            rec.stored)
        context = Escalated(
            case_no=case_no, level=d.level, level_title=level.name, reason=d.reason, late_by=late_by,
            category=category, severity=severity, department=place.department, handler=place.handler,
            complainant=complainant, outlet=outlet, vulnerable=vulnerable, due_at=due_text,
            chain=place.chain_view, link=link,
        )
        dedupe = f"{case_no}:escalated:L{d.level}"
        audit = AuditIntent(now, actor, "escalated", case.id, case_no,
                            {"level": d.level, "name": level.name, "recipients": list(rec.people),
                             "due_at": memo.iso(d.due_at)}, d.reason)
        messages = tuple(MessageIntent("escalated", person, dedupe, context, case.id, case_no)
                         for person in rec.people)
        yield Firing(row, audit, messages, FiredEscalation(case_no, d.level, level.name, rec.people, late_days))


def plan_schedule(cases: Iterable[ScheduleCase], *, fired: Mapping[int, Collection[int]], paused: Collection[int],
                  memo: SweepMemo) -> tuple[list[ScheduleEntry], list[int]]:
    """Each case's next escalation (due or not: a time already past is due at the next sweep),
    or the cases that will never escalate again (closed, paused, every level fired)."""
    keep: list[ScheduleEntry] = []
    drop: list[int] = []
    nxt_of = memo.decisions.next
    no_levels: tuple[int, ...] = ()
    for case in cases:
        cid = case.id
        nxt = nxt_of(status=case.status, clock_started_at=case.clock_started_at,
                     regulatory_due_at=case.regulatory_due_at, ack_due_at=case.ack_due_at,
                     acknowledged=case.acknowledged,
                     urgent=memo.urgent(case.severity, case.severity_requested, case.group_size, case.tags,
                                        case.source),
                     vulnerable=case.vulnerable, paused=cid in paused, fired=fired.get(cid, no_levels))
        if nxt is None:
            drop.append(cid)
        else:
            keep.append(ScheduleEntry(cid, nxt.due_at, nxt.level))
    return keep, drop


def digest_day(now: datetime, *, hour: int) -> date | None:
    """The local day whose digest is due at `now` (from `hour` local), else None."""
    local = now.astimezone(SHANGHAI)
    return local.date() if local.hour >= hour else None


def start_of(day: date) -> datetime:
    """Midnight at the start of a local day (escalations fired before it go into its digest)."""
    return datetime.combine(day, datetime.min.time(), tzinfo=SHANGHAI)


class OpenEscalation(NamedTuple):
    """A fired, still-unacknowledged level of an open case, as the digest reads it."""

    complaint_id: int
    case_no: str
    level: int
    name: str
    fired_at: datetime
    recipients: tuple[str, ...]  # person ids
    regulatory_due_at: datetime


def overdue_page(case_link_base: str) -> str:
    """The overdue and escalation list, beside the case pages (…/cases/ → …/overdue)."""
    base = case_link_base.rstrip("/")
    site = base[: -len("/cases")] if base.endswith("/cases") else base
    return f"{site}/overdue"


def plan_digests(found: Iterable[OpenEscalation], *, pauses: Mapping[int, datetime], day: date,
                 memo: SweepMemo) -> list[MessageIntent[EscalationDigest]]:
    """One digest per recipient of their still-unacknowledged escalations (in the order found:
    by case number and level), the first `DIGEST_CASES_SHOWN` listed and all counted."""
    per_person: dict[str, list[DigestCase]] = {}
    for r in found:
        entry = DigestCase(
            case_no=r.case_no, level=r.level, level_title=r.name, fired_at=local_text(r.fired_at),
            due_at=local_text(r.regulatory_due_at),
            late_by=memo.lateness_text(r.regulatory_due_at, pauses.get(r.complaint_id)),
            link=f"{memo.link_base}{r.case_no}")
        for person in r.recipients:
            per_person.setdefault(person, []).append(entry)
    link = overdue_page(memo.link_base)
    key = f"escalation_digest:{day.isoformat()}"
    return [
        MessageIntent("escalation_digest", person, key,
                      EscalationDigest(date=day.isoformat(), count=len(cases),
                                       cases=tuple(cases[:DIGEST_CASES_SHOWN]), link=link))
        for person, cases in sorted(per_person.items())
    ]
