"""Analytics commands over a UnitOfWork: the head's dashboard, regulator statistics, early warning.

Each command refreshes the daily counts first (models/analytics.refresh: the days of rows changed
since the last refresh), then reads them. The figures that live on open cases (overdue, paused,
escalations waiting) are read from the complaint rows; 回访 and 整改 from the governance tables
(models/governance.py, docs/governance.md) when that module is there.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import numpy as np

from domain import early_warning as ew
from domain import statistics as st
from domain.deadlines import local_text
from domain.lifecycle import OPEN_STATUSES, STATUS_NAMES, Status
from domain.masking import mask_free_text
from domain.taxonomy import CATEGORIES, CAUSES, CHANNELS
from models import analytics as store
from models import governance
from models.audit_chain import AuditDraft, append
from notifications.contracts import EarlyWarning
from notifications.outbox import OutboxItem, enqueue
from services.unit_of_work import UnitOfWork
from settings.analytics import AnalyticsFile, load_analytics
from settings.config import Config

TAXONOMY_NAMES: dict[str, dict[str, str]] = {
    "channel": {t.code: t.name for t in CHANNELS},
    "category": {t.code: t.name for t in CATEGORIES},
    "cause": {t.code: t.name for t in CAUSES},
}


class AnalyticsError(ValueError):
    """A refused request (Chinese, naming the field)."""


def subtree(config: Config, branch: str) -> list[str]:
    """The institution and every institution below it (sorted)."""
    return sorted(code for code in config.org.branches if any(b.code == branch for b in config.org.ancestry(code)))


def head_of(config: Config, branch: str) -> str | None:
    """The institution's 一把手 (its 行长 / 支行行长, or whoever acts for them)."""
    found = config.org.occupant(config.org.branch(branch).president)
    return found[0] if found else None


def cp_office_of(config: Config, branch: str) -> str | None:
    """The 消保办 nearest the institution (its own, else its parent's)."""
    for b in config.org.ancestry(branch):
        if b.cp_office is not None:
            found = config.org.occupant(b.cp_office)
            if found:
                return found[0]
    return None


def headed_by(config: Config, person: str | None) -> list[str]:
    """The institutions whose 一把手 `person` is (top-most first)."""
    if not person:
        return []
    out = [code for code in config.org.branches if head_of(config, code) == person]
    return sorted(out, key=lambda c: len(config.org.ancestry(c)))


def names(config: Config) -> dict[str, dict[str, str]]:
    """Chinese names of every dimension's values (institutions from the org chart)."""
    return {**TAXONOMY_NAMES, "branch": {c: b.name for c, b in config.org.branches.items()},
            "outlet": {st.NONE: "本级"}}


def refresh_counts(uow: UnitOfWork) -> dict[str, int]:
    return store.refresh(uow.session, now=uow.now)


# ---------------------------------------------------------------- the head's dashboard


@dataclass(frozen=True)
class Figure:
    label: str
    value: int | float | str | None
    link: str | None = None
    note: str = ""


@dataclass(frozen=True)
class ChildFigure(Figure):
    """A sub-institution's complaints this month (label, value, link; note = its code), then its 本年回访率 and
    本年满意度 over the call-back rounds of it and those below it due this year — the rows of the same
    `models.governance.callback_rates` the API answers, summed — None when none finished / none reached;
    callback_note says reached / finished and pleased / reached."""

    callback_rate: float | None = None
    satisfaction_rate: float | None = None
    callback_note: str = ""


@dataclass(frozen=True)
class RankedOutlet:
    branch: str
    branch_name: str
    outlet: str
    count: int
    link: str


@dataclass(frozen=True)
class RecentAlert:
    """An early-warning alert of the last 30 days as the dashboard shows it (names, not codes), with the link to
    the cases of its cell (institution, or outlet, × category) received in its window."""

    day: str
    institution: str
    outlet: str
    category: str
    observed: int
    expected: float
    window_days: int
    link: str


@dataclass(frozen=True)
class Dashboard:
    institution: str
    name: str
    as_of: str
    today: str
    customers: int | None
    counts: list[Figure]  # this week / month / year
    rates: list[Figure]  # per 10,000 customers
    limits: list[Figure]  # against the 限值
    live: list[Figure]  # overdue, paused, escalations waiting, remediation overdue, 回访
    trend: list[Figure]  # per month (label 2026-04), the last 12 months
    children: list[ChildFigure]  # each sub-institution this month, with its 本年回访率 and 满意度
    outlets: list[RankedOutlet]
    categories: list[Figure]  # this month by category
    governance: str  # always "": kept as the JSON's key from when the governance half could be missing
    alerts: list[RecentAlert] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cases_link(institution: str, **filters: str | None) -> str:
    """The drill-down of a figure: the dashboard's case list with the figure's filters."""
    params = {"institution": institution, **{k: v for k, v in filters.items() if v is not None}}
    return "/dashboard/cases?" + urlencode(params)


def alert_link(a: store.AlertRow) -> str:
    """The cases an alert counted: its cell (an outlet: that institution's own cases at the outlet; else the
    institution with those below it, as build_matrix rolls them up) × category, received in its window."""
    first = a.day - timedelta(days=a.window_days - 1)
    return cases_link(a.institution, own="true" if a.outlet else None, outlet=a.outlet or None, category=a.category,
                      received_from=first.isoformat(), received_to=a.day.isoformat())


def _callback_sums(rows: Sequence[governance.CallbackRate]) -> tuple[float | None, float | None, str, str]:
    """回访率 (reached / reached + 未联系上) and 满意度 (满意 + 基本满意 / reached) of callback_rates rows summed,
    rounded to 3 places, with their notes."""
    reached = sum(r.reached for r in rows)
    finished = reached + sum(r.unreachable for r in rows)
    pleased = sum(r.satisfied + r.basic for r in rows)
    return (round(reached / finished, 3) if finished else None, round(pleased / reached, 3) if reached else None,
            f"已回访 {reached} / 已结束 {finished}", f"满意及基本满意 {pleased} / 已回访 {reached}")


def _governance(uow: UnitOfWork, branches: Sequence[str], year_first: date,
                institution: str) -> tuple[list[Figure], list[governance.CallbackRate]]:
    """整改逾期, 本年回访率 and 本年满意度 (models/governance.py), with the year's call-back rows per institution
    for the sub-institutions' rates."""
    overdue = governance.overdue_remediations(uow.session, now=uow.now, branches=set(branches))
    # The rounds due this year, those due after today included: a call-back made before its due day
    # counts from the day it is recorded (the API's [start, end) over the year gives the same rows).
    rows = governance.callback_rates(uow.session, start=st.local_midnight(year_first),
                                     end=st.local_midnight(date(year_first.year + 1, 1, 1)), branches=set(branches))
    rate, satisfaction, rate_note, satisfaction_note = _callback_sums(rows)
    return [Figure("整改逾期", len(overdue), "/dashboard/remediation?" + urlencode({"institution": institution})),
            Figure("本年回访率", rate, note=rate_note),
            Figure("本年满意度", satisfaction, note=satisfaction_note)], rows


@dataclass(frozen=True)
class OverdueRemediation:
    """An open 整改 item past its due date, as /dashboard/remediation lists it (title masked, local time)."""

    ref: str
    title: str
    due_at: str
    owner: str  # the owning institution's name and department
    case_no: str  # "" for an item opened from a pattern
    escalated_level: int


def overdue_remediation(uow: UnitOfWork, institution: str) -> list[OverdueRemediation]:
    """The open 整改 items of the institution (and those below it) past their due date, titles masked."""
    try:
        from models import governance
    except ImportError:
        return []
    rows = governance.overdue_remediations(uow.session, now=uow.now, branches=set(subtree(uow.config, institution)))
    org = uow.config.org
    return [OverdueRemediation(
        ref=str(r["ref"]), title=mask_free_text(str(r["title"] or "")), due_at=local_text(r["due_at"]),
        owner=(org.branches[r["owner_branch"]].name if r.get("owner_branch") in org.branches else "")
        + " " + str(r.get("owner_department") or ""), case_no=str(r.get("case_no") or ""),
        escalated_level=int(r.get("escalated_level") or 0)) for r in rows]


def dashboard(uow: UnitOfWork, *, institution: str, analytics: AnalyticsFile | None = None,
              person: str | None = None) -> Dashboard:
    """Every figure of the head's dashboard for `institution` (and its sub-institutions) at uow.now."""
    config = uow.config
    if institution not in config.org.branches:
        raise AnalyticsError(f"institution（机构）：组织架构中没有机构 {institution!r}（可选：{'、'.join(config.org.branches)}）")
    spec = analytics or load_analytics(config)
    store.refresh(uow.session, now=uow.now, unless_within=store.DASHBOARD_STALENESS)
    s = uow.session
    branches = subtree(config, institution)
    today = st.local_date(uow.now)
    wk, mo, yr = st.week_start(today), st.month_start(today), st.year_start(today)
    periods = (("本周", wk), ("本月", mo), ("本年", yr))
    months = st.months_back(today, 12)
    # One read of the counts per day since the earliest day any figure needs (≤ 400 rows), summed here.
    per_day = dict(store.counts_per_day(s, branches, min(months[0], yr, wk), today))

    def total(first: date, last: date = today) -> int:
        return sum(n for d, n in per_day.items() if first <= d <= last)

    counts = [Figure(f"{label}受理", total(first),
                     cases_link(institution, received_from=first.isoformat(), received_to=today.isoformat()))
              for label, first in periods]
    customers = spec.customers_of(config, institution)
    rates = [Figure(f"{f.label}（每万客户）", st.per_10k(int(f.value or 0), customers), f.link) for f in counts]
    limit = spec.limits.get(institution)
    limits: list[Figure] = []
    if limit is not None:
        for lim, f in ((limit.monthly, counts[1]), (limit.yearly, counts[2])):
            if lim is not None:
                used = round(int(f.value or 0) / lim, 3) if lim else None
                limits.append(Figure(f"{f.label}／限值 {lim}", used, f.link,
                                     note="已超限值" if used is not None and used > 1 else ""))
    n_open, n_due_passed = store.open_counts(s, branches, uow.now)
    paused = store.paused_open(s, branches)  # {id: regulatory_due_at}: the few open cases paused now
    overdue = n_due_passed - sum(1 for due in paused.values() if store.aware(due) < uow.now)
    live = [
        Figure("逾期未答复", overdue, cases_link(institution, overdue="true")),
        Figure("暂停计时", len(paused), cases_link(institution, paused="true")),
        Figure("在办", n_open, cases_link(institution, status="open")),
    ]
    if person:
        waiting = store.escalations_waiting(s, person, branches)
        live.append(Figure("待本人确认的督办", len(waiting), cases_link(institution, escalated_to=person)))
    gov, callback_rows = _governance(uow, branches, yr, institution)
    live += gov
    ends = [m - timedelta(days=1) for m in months[1:]] + [today]
    trend = [Figure(m.strftime("%Y-%m"), total(m, e),
                    cases_link(institution, received_from=m.isoformat(), received_to=e.isoformat()))
             for m, e in zip(months, ends, strict=True)]
    org = config.org
    by_outlet = store.counts_per_outlet(s, branches, mo, today)
    by_branch: Counter[str] = Counter()
    for b, _o, n in by_outlet:
        by_branch[b] += n
    children = []
    for code in sorted(c for c, b in org.branches.items() if b.parent == institution):
        sub = subtree(config, code)
        rate, satisfaction, rate_note, satisfaction_note = _callback_sums([r for r in callback_rows if r.branch in sub])
        children.append(ChildFigure(org.branches[code].name, sum(by_branch[c] for c in sub),
                                    cases_link(code, received_from=mo.isoformat(), received_to=today.isoformat()),
                                    note=code, callback_rate=rate, satisfaction_rate=satisfaction,
                                    callback_note=f"{rate_note}；{satisfaction_note}"))
    ranked = sorted(by_outlet, key=lambda r: (-r[2], r[0], r[1]))
    outlets = [RankedOutlet(b, org.branches[b].name, o or "本级", n,
                            cases_link(b, own="true", outlet=o, received_from=mo.isoformat(),
                                       received_to=today.isoformat()))
               for b, o, n in ranked if n > 0][:20]
    by_cat = sorted(store.counts_per_category(s, branches, mo, today), key=lambda r: (-r[1], r[0]))
    categories = [Figure(TAXONOMY_NAMES["category"].get(c, "未分类") if c else "未分类", n,
                         cases_link(institution, category=c, received_from=mo.isoformat(), received_to=today.isoformat()))
                  for c, n in by_cat if n > 0]
    recent = [RecentAlert(day=a.day.isoformat(), institution=org.branches[a.institution].name, outlet=a.outlet,
                          category=TAXONOMY_NAMES["category"].get(a.category, "未分类"), observed=a.observed,
                          expected=round(a.expected, 1), window_days=a.window_days, link=alert_link(a))
              for a in store.alerts(s, branches, since=today - timedelta(days=30))]
    return Dashboard(institution=institution, name=org.branches[institution].name, as_of=local_text(uow.now),
                     today=today.isoformat(), customers=customers, counts=counts, rates=rates, limits=limits,
                     live=live, trend=trend, children=children, outlets=outlets, categories=categories,
                     governance="", alerts=recent)


@dataclass(frozen=True)
class CaseFilter:
    """The filters of a figure's drill-down (the query parameters of /dashboard/cases)."""

    institution: str
    received_from: date | None = None
    received_to: date | None = None
    category: str | None = None
    outlet: str | None = None
    channel: str | None = None
    cause: str | None = None
    status: str | None = None  # a status code, or "open"
    overdue: bool = False
    paused: bool = False
    escalated_to: str | None = None
    own: bool = False  # the institution itself only, not its sub-institutions (an outlet's figure)


@dataclass(frozen=True)
class DrillCase:
    """A case behind a dashboard figure, as /dashboard/cases lists it (names, local times)."""

    case_no: str
    received_at: str
    status: str
    status_name: str
    branch: str  # the institution's name
    outlet: str
    category: str  # the category's name
    due_at: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def drill(uow: UnitOfWork, f: CaseFilter, *, limit: int = 500) -> tuple[int, list[DrillCase]]:
    """The cases behind a figure, as the dashboard counted them."""
    config = uow.config
    if f.institution not in config.org.branches:
        raise AnalyticsError(f"institution（机构）：组织架构中没有机构 {f.institution!r}")
    branches = [f.institution] if f.own else subtree(config, f.institution)
    s = uow.session
    status: list[str] | None = None
    if f.status == "open" or f.overdue or f.paused or f.escalated_to:
        status = [x.value for x in OPEN_STATUSES]
    elif f.status:
        if f.status not in {x.value for x in Status}:
            raise AnalyticsError(f"status（状态）：{f.status!r} 不是可选值之一")
        status = [f.status]
    extra = []
    if f.overdue:
        extra.append(store.C.c.regulatory_due_at < uow.now)
    if f.paused or f.overdue or f.escalated_to:
        paused = set(store.paused_open(s, branches))
        if f.paused:
            extra.append(store.C.c.id.in_(sorted(paused) or [-1]))
        elif f.overdue and paused:
            extra.append(store.C.c.id.not_in(sorted(paused)))
        if f.escalated_to:
            waiting = {r.case_no for r in store.escalations_waiting(s, f.escalated_to, branches)}
            extra.append(store.C.c.case_no.in_(sorted(waiting) or [""]))
    total, rows = store.case_numbers(s, branches=branches, first=f.received_from, last=f.received_to,
                                     category=f.category, outlet=f.outlet, channel=f.channel, cause=f.cause,
                                     status=status, limit=limit, extra=extra)
    out = [DrillCase(case_no=r.case_no, received_at=local_text(r.received_at), status=r.status,
                     status_name=STATUS_NAMES[Status(r.status)], branch=config.org.branches[r.branch].name,
                     outlet=r.outlet or "", category=TAXONOMY_NAMES["category"].get(r.category or "", "未分类"),
                     due_at=local_text(r.regulatory_due_at)) for r in rows]
    return total, out


# ---------------------------------------------------------------- regulator statistics (监管报送)


@dataclass(frozen=True)
class StatsResult:
    period: str
    kind: str
    version: int | None  # None: not frozen (the period is not over)
    created: bool
    sha256: str
    total: int
    content: dict[str, Any]
    diff: dict[str, Any] | None = None
    changed_since_freeze: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        dims = {d: {r["value"] or "未分类": r["n"] for r in self.content["dimensions"][d]} for d in st.DIMENSIONS}
        return {"period": self.period, "kind": self.kind, "version": self.version, "created": self.created,
                "sha256": self.sha256, "total": self.total, **dims,
                "diff": self.diff, "changed_since_freeze": self.changed_since_freeze}


def compute(uow: UnitOfWork, period: st.Period, analytics: AnalyticsFile | None = None) -> dict[str, Any]:
    """The period's statistics recomputed from the complaint rows now."""
    config = uow.config
    spec = analytics or load_analytics(config)
    region = {code: spec.region_of(config, code) for code in config.org.branches}
    rows = [st.CaseRow(no, region.get(b, b), b, o, ch, cat, cau)
            for no, b, o, ch, cat, cau in store.period_rows(uow.session, period.start, period.end)]
    return st.content(period, st.cells(rows), institution=config.institution, names=names(config))


def statistics(uow: UnitOfWork, period: st.Period, *, actor: str, correct: str | None = None,
               analytics: AnalyticsFile | None = None) -> StatsResult:
    """A period's statistics, frozen once the period is over: the first run stores v1 (sha256, audit event);
    a later run returns the frozen version and says what changed since; `correct` (the reason) stores the
    recomputed figures as the next version with the diff."""
    content = compute(uow, period, analytics)
    sha = st.digest(content)
    if period.end > uow.now:
        if correct:
            raise AnalyticsError(f"{period.label}：统计期间尚未结束，不能更正（--correct）")
        return StatsResult(period.label, period.kind, None, False, sha, content["total"], content)
    s = uow.session
    latest = store.latest_snapshot(s, period.label)
    if latest is not None and (latest.sha256 == sha or not correct):
        frozen = json.loads(latest.content)
        changed = None if latest.sha256 == sha else st.diff(frozen, content)
        return StatsResult(period.label, period.kind, latest.version, False, latest.sha256, latest.total,
                           frozen, latest.diff, changed)
    version = latest.version + 1 if latest is not None else 1
    change = st.diff(json.loads(latest.content), content) if latest is not None else None
    append(s, [AuditDraft(at=uow.now, actor=actor, action="stats_frozen",
                          after={"period": period.label, "version": version, "sha256": sha, "total": content["total"]},
                          detail=(f"regulator statistics {period.label} v{version}"
                                  + (f": {correct}" if correct else ""))[:500])])
    store.store_snapshot(s, {"period": period.label, "kind": period.kind, "version": version, "generated_at": uow.now,
                             "total": content["total"], "sha256": sha,
                             "content": json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
                             "reason": (correct or "")[:500], "diff": change, "actor": actor})
    return StatsResult(period.label, period.kind, version, True, sha, content["total"], content, change)


@dataclass(frozen=True)
class StatsCheck:
    """A frozen version checked: its content against its sha256 (`intact`), and against the figures
    recomputed now (`matches_data`; `diff` what changed, domain.statistics.diff's JSON)."""

    period: str
    version: int
    sha256: str
    intact: bool
    matches_data: bool
    diff: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def ok(self) -> bool:
        return self.intact and self.matches_data

    def problems(self, *, limit: int = 20) -> list[str]:
        """What failed, one line each (as `report verify` names them): the edited content, then the total
        and every cell whose cases differ between the frozen version and the data now."""
        out: list[str] = []
        if not self.intact:
            out.append(f"stored content of v{self.version} does not match its sha256: the snapshot was edited")
        if not self.matches_data:
            out.append(f"the figures recomputed from the data differ from frozen v{self.version}:")
            if self.diff["total_before"] != self.diff["total_after"]:
                out.append(f"  total: {self.diff['total_before']!r} → {self.diff['total_after']!r}")
            cells = [f"  {'/'.join(str(c[d]) or '-' for d in st.DIMENSIONS)}: {c['before']} → {c['after']}"
                     + (f" added {', '.join(c['added'])}" if c["added"] else "")
                     + (f" removed {', '.join(c['removed'])}" if c["removed"] else "")
                     for c in self.diff["cells"]]
            out += cells[:limit] + ([f"  … and {len(cells) - limit} more"] if len(cells) > limit else [])
        return out


def verify(uow: UnitOfWork, period: st.Period, version: int | None = None) -> StatsCheck:
    """A frozen version's content against its sha256, and against the figures recomputed now."""
    row = (store.snapshot(uow.session, period.label, version) if version is not None
           else store.latest_snapshot(uow.session, period.label))
    if row is None:
        raise AnalyticsError(f"{period.label}：尚无冻结的统计版本")
    stored = json.loads(row.content)
    intact = st.digest(stored) == row.sha256
    now = compute(uow, period)
    changed = st.diff(stored, now)
    return StatsCheck(period=period.label, version=row.version, sha256=row.sha256, intact=intact,
                      matches_data=not changed["cells"], diff=changed)


def cell_cases(content: Mapping[str, Any], filters: Mapping[str, str]) -> list[str]:
    """The case numbers of every cell matching `filters` (dimension → value; "" = 未分类)."""
    out: list[str] = []
    for c in content["cells"]:
        if all(c[d] == v for d, v in filters.items() if d in st.DIMENSIONS):
            out += c["cases"]
    return sorted(out)


def xlsx_bytes(content: Mapping[str, Any], config: Config) -> bytes:
    """The statistics as an XLSX workbook: one sheet per dimension and the cells with their cases; every text
    cell written as text (a leading = + - @ neutralised)."""
    import io

    from openpyxl import Workbook  # type: ignore[import-untyped]

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "汇总"
    ws.append(["统计期间", content["period"]])
    ws.append(["机构", st.safe_cell(content["institution"])])
    ws.append(["投诉总量", content["total"]])
    for d in st.DIMENSIONS:
        sheet = wb.create_sheet(st.DIMENSION_NAMES[d])
        sheet.append(["代码", "名称", "件数"])
        for row in content["dimensions"][d]:
            sheet.append([st.safe_cell(row["value"]), st.safe_cell(row["name"]), row["n"]])
    columns, rows = st.cell_table(content, names(config))
    sheet = wb.create_sheet("明细")
    sheet.append(columns)
    for r in rows:
        sheet.append([st.safe_cell(v) for v in r])
    for w in wb.worksheets:
        for line in w.iter_rows():
            for cell in line:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_text(content: Mapping[str, Any], config: Config) -> str:
    import csv
    import io

    columns, rows = st.cell_table(content, names(config))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows([st.safe_cell(v) for v in r] for r in rows)
    return buf.getvalue()


# ---------------------------------------------------------------- early warning


@dataclass(frozen=True)
class Cell:
    institution: str
    outlet: str | None  # None: the institution as a whole (its sub-institutions included)
    category: str


@dataclass(frozen=True)
class Alert:
    institution: str
    outlet: str
    category: str
    day: str
    window_days: int
    observed: int
    expected: float
    p_value: float
    terms: tuple[str, ...]
    cases: tuple[str, ...]
    recipients: tuple[str, ...]
    new: bool


_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_STOP = frozenset("的了是在我和有不就也都而及与对为请已要求向被其但并这那之".strip())


def frequent_terms(texts: Sequence[str], n: int = 5) -> list[str]:
    """The most frequent terms of (already masked) texts, each counted once per text: the runs of Chinese
    between punctuation, masks and common particles, two to six characters long (longer runs give their
    two-character pieces)."""
    counts: Counter[str] = Counter()
    for text in texts:
        seen: set[str] = set()
        for run in _CJK_RUN.findall(text):
            for segment in re.split("[" + "".join(sorted(_STOP)) + "]", run):
                if 2 <= len(segment) <= 6:
                    seen.add(segment)
                elif len(segment) > 6:
                    seen.update(segment[i:i + 2] for i in range(len(segment) - 1))
        counts.update(seen)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], -len(kv[0]), kv[0]))
    return [f"{t}（{c}）" for t, c in ranked[:n] if c > 1]


def build_matrix(rows: Sequence[tuple[date, str, str, str, int]], config: Config, first: date,
                 last: date) -> tuple[list[Cell], np.ndarray, list[date]]:
    """Cells (each institution with its sub-institutions rolled up, and each outlet) × days."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    index = {d: i for i, d in enumerate(days)}
    cells: dict[Cell, int] = {}
    data: list[tuple[int, int, int]] = []
    ancestors = {code: [b.code for b in config.org.ancestry(code)] for code in config.org.branches}
    for d, branch, outlet, category, n in rows:
        t = index.get(d)
        if t is None:
            continue
        keys = [Cell(a, None, category) for a in ancestors.get(branch, [branch])]
        if outlet:
            keys.append(Cell(branch, outlet, category))
        for k in keys:
            data.append((cells.setdefault(k, len(cells)), t, n))
    matrix = np.zeros((len(cells), len(days)))
    for c, t, n in data:
        matrix[c, t] += n
    return list(cells), matrix, days


def early_warning(uow: UnitOfWork, *, analytics: AnalyticsFile | None = None, actor: str = "early-warning",
                  day: date | None = None) -> list[Alert]:
    """Score every cell on `day` (default: the last complete local day before uow.now); queue one alert per
    new spike to the institution's 一把手 and the 消保办 (dedupe key per cell and spike)."""
    config = uow.config
    spec = analytics or load_analytics(config)
    params = spec.early_warning.params()
    s = uow.session
    store.refresh(s, now=uow.now)
    target = day or st.local_date(uow.now) - timedelta(days=1)
    first = target - timedelta(days=params.baseline_days + params.guard_days + max(ew.WINDOWS) + 60)
    rows = store.cell_matrix(s, first, target)
    # The days before the first complaint on record are before go-live, not quiet days: a baseline
    # of zeros would make a new deployment's first year alarm on its ordinary days.
    if rows:
        first = max(first, min(r[0] for r in rows))
    cells, matrix, days = build_matrix(rows, config, first, target)
    if not cells:
        return []
    kinds = ew.day_kinds(days, uow.calendar)
    scores = ew.score(matrix, kinds, params)
    out: list[Alert] = []
    items: list[OutboxItem] = []
    link = spec.link()
    for spike in ew.spikes_on(scores, len(days) - 1):
        cell = cells[spike.cell]
        outlet = cell.outlet or ""
        last = store.last_alert_day(s, cell.institution, outlet, cell.category)
        if last is not None and (target - last).days < params.cooldown_days:
            continue  # the same spike (or one just after it): once per spike
        window_first = target - timedelta(days=spike.window - 1)
        branches = [cell.institution] if cell.outlet is not None else subtree(config, cell.institution)
        texts = store.spike_texts(s, branches=branches, outlet=cell.outlet, category=cell.category,
                                  first=window_first, last=target)
        masked = [mask_free_text(f"{r.request} {r.facts}", names=(r.complainant_name, r.agent_name,
                                                                   r.complainant_legal_rep)) for r in texts]
        terms = tuple(frequent_terms(masked))
        case_nos = tuple(r.case_no for r in texts)
        recipients = tuple(dict.fromkeys(p for p in (head_of(config, cell.institution),
                                                     cp_office_of(config, cell.institution)) if p))
        key = f"ew:{cell.institution}:{outlet}:{cell.category}:{target.isoformat()}"
        new = store.store_alert(s, {"dedupe_key": key, "day": target, "institution": cell.institution,
                                    "outlet": outlet, "category": cell.category, "window_days": spike.window,
                                    "observed": spike.observed, "expected": spike.expected,
                                    "p_value": spike.p_value, "terms": list(terms), "cases": list(case_nos),
                                    "recipients": list(recipients), "created_at": uow.now})
        alert = Alert(cell.institution, outlet, cell.category, target.isoformat(), spike.window, spike.observed,
                      round(spike.expected, 2), spike.p_value, terms, case_nos, recipients, new)
        out.append(alert)
        if not new:
            continue
        inst = config.org.branches[cell.institution].name + (f"{outlet}" if outlet else "")
        ratio = spike.observed / spike.expected if spike.expected > 0 else float("inf")
        sigma = ew.sigma_jump(spike)
        ctx = EarlyWarning(institution=inst, category=TAXONOMY_NAMES["category"].get(cell.category, "待分类"),
                           day=target.isoformat(), window=f"近 {spike.window} 日", observed=spike.observed,
                           expected=f"{spike.expected:.1f}", jump=f"约为基线的 {ratio:.1f} 倍（+{sigma:.1f}σ）",
                           terms=terms, cases=case_nos[:20], link=f"{link}?institution={cell.institution}")
        items += [OutboxItem("early_warning", p, key, ctx) for p in recipients]
    if items:
        enqueue(s, items, org=config.org, now=uow.now)
        append(s, [AuditDraft(at=uow.now, actor=actor, action="early_warning",
                              after={"day": target.isoformat(), "alerts": sum(1 for a in out if a.new)},
                              detail=f"early warning {target.isoformat()}")])
    return out
