"""Pure arithmetic of the weekly auditor report: weeks, rates, percentiles, trends, caps, digests.

* A report week is an ISO week in Asia/Shanghai: Monday 00:00 to the next Monday 00:00 local
  time (Sunday 24:00), given as UTC bounds [start, end). A complaint at Sunday 23:30 +08:00
  (15:30Z) belongs to that week; one at Monday 00:10 +08:00 (Sunday 16:10Z) to the next.
* Percentiles are computed from aggregated data (value → count, as SQL returns it), by the
  nearest-rank method: the smallest value v with at least ceil(q × n) of the n values ≤ v.
* A week's figures come in as a `domain.report_data.WeekData` (the SQL layer fills it);
  `build_content` shapes them into a `ReportContent`, the typed content the page, the CSVs, the
  artifacts and the message read. Its JSON (`ReportContent.as_dict`) is what is frozen; its digest
  is the sha256 of the canonical JSON (sorted keys, no spaces, UTF-8), so the same figures always
  give the same digest, and `ReportContent.from_dict` reads a stored one back.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from domain.deadlines import SHANGHAI, local_text
from domain.masking import mask_text
from domain.report_data import (
    ChainSeat,
    DepartmentOpen,
    NewGroup,
    SensitiveCase,
    TrendPoint,
    WeekCounts,
    WeekData,
    WeekTotals,
)
from domain.taxonomy import TAG_NAMES

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
Cell = str | int | float | None


@dataclass(frozen=True, order=True)
class Week:
    year: int
    week: int

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def key(self) -> str:
        """The label as Prefect artifact keys want it: lowercase letters, digits and dashes."""
        return self.label.lower()

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def start(self) -> datetime:
        """Monday 00:00 Asia/Shanghai, in UTC."""
        return _local_midnight(self.monday)

    @property
    def end(self) -> datetime:
        """The next Monday 00:00 Asia/Shanghai (Sunday 24:00), in UTC; exclusive."""
        return _local_midnight(self.monday + timedelta(days=7))

    @property
    def period(self) -> str:
        return f"{self.monday.isoformat()} 至 {self.sunday.isoformat()}"

    def shift(self, weeks: int) -> Week:
        d = self.monday + timedelta(weeks=weeks)
        iso = d.isocalendar()
        return Week(iso.year, iso.week)


def _local_midnight(d: date) -> datetime:
    return datetime.combine(d, time(0, 0), tzinfo=SHANGHAI).astimezone(UTC)


def parse_week(value: str) -> Week:
    """`2026-W47` → Week; ValueError saying what is wrong otherwise."""
    m = _WEEK.match(value.strip().upper())
    if not m:
        raise ValueError(f"{value!r} is not an ISO week; write e.g. 2026-W47")
    year, number = int(m.group(1)), int(m.group(2))
    try:
        date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"{value!r}: {year} has no ISO week {number}") from None
    return Week(year, number)


def week_of(at: datetime) -> Week:
    """The report week holding an aware instant (by its Asia/Shanghai date)."""
    if at.utcoffset() is None:
        raise ValueError("at: a timezone-aware datetime is required")
    iso = at.astimezone(SHANGHAI).date().isocalendar()
    return Week(iso.year, iso.week)


def previous_week(now: datetime) -> Week:
    """The last complete week before `now` (what the Monday-morning schedule reports)."""
    return week_of(now).shift(-1)


def trailing(week: Week, count: int) -> list[Week]:
    """`count` weeks ending with `week`, oldest first."""
    return [week.shift(-i) for i in range(count - 1, -1, -1)]


def month_start(week: Week) -> datetime:
    """Start (UTC) of the local month holding the week's Sunday: the month a cap is counted in."""
    return _local_midnight(week.sunday.replace(day=1))


# ---------------------------------------------------------------- rates and percentiles


def rate(part: int, whole: int) -> float | None:
    """part / whole rounded to 4 places; None when there is nothing to measure."""
    if whole <= 0:
        return None
    return round(part / whole, 4)


def per_10k(count: int, customers: int | None) -> float | None:
    """Complaints per 10,000 customers, 2 places; None when the customer count is unknown."""
    if not customers or customers <= 0:
        return None
    return round(count * 10_000 / customers, 2)


def percentile(histogram: Iterable[tuple[int, int]], q: float) -> int | None:
    """Nearest-rank percentile of values given as (value, count) pairs; None when empty."""
    if not 0 < q <= 1:
        raise ValueError("q must be in (0, 1]")
    pairs = sorted((v, n) for v, n in histogram if n > 0)
    total = sum(n for _, n in pairs)
    if total == 0:
        return None
    rank = math.ceil(q * total)
    seen = 0
    for value, n in pairs:
        seen += n
        if seen >= rank:
            return value
    return pairs[-1][0]  # pragma: no cover - seen reaches total


@dataclass(frozen=True)
class Change:
    current: int | float | None
    previous: int | float | None

    @property
    def delta(self) -> int | float | None:
        if self.current is None or self.previous is None:
            return None
        d = self.current - self.previous
        return round(d, 4) if isinstance(d, float) else d

    @property
    def pct(self) -> float | None:
        """Relative change; None when the previous value is 0 or unknown."""
        if self.current is None or not self.previous:
            return None
        return round((self.current - self.previous) / self.previous, 4)


CAP_WARN_SHARE = 0.8


def cap_state(count: int, cap: int | None) -> str:
    """正常 below 80 % of the monthly cap, 预警 from 80 %, 超限 above it, 未设限值 without one."""
    if cap is None:
        return "未设限值"
    if count > cap:
        return "超限"
    if count >= CAP_WARN_SHARE * cap:
        return "预警"
    return "正常"


# ---------------------------------------------------------------- tables, content and digest


@dataclass(frozen=True)
class Table:
    key: str  # lowercase-dashes: file name, artifact key suffix
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def column(self, name: str) -> tuple[Cell, ...]:
        """The cells of one column, by its (Chinese) name, in row order."""
        at = self.columns.index(name)
        return tuple(r[at] for r in self.rows)

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "columns": list(self.columns), "rows": [list(r) for r in self.rows]}

    @classmethod
    def from_dict(cls, key: str, data: Mapping[str, Any]) -> Table:
        """A table as frozen in a report's content (its JSON): `as_dict` read back."""
        if set(data) != {"title", "columns", "rows"}:
            raise ValueError(f"report table {key!r}: keys {sorted(data)} are not title, columns, rows")
        return cls(key, data["title"], tuple(data["columns"]), tuple(tuple(r) for r in data["rows"]))


@dataclass(frozen=True)
class Headline:
    """The headline figures of one week (the summary table compares two weeks' of these)."""

    new: int
    responded: int
    closed: int
    withdrawn: int
    open_at_end: int
    overdue_at_end: int
    on_time_rate: float | None  # answered by the regulatory deadline, of those answered in the week
    ack_sla_rate: float | None  # acknowledged (or answered) by the internal SLA, of those due in the week
    median_hours: float | None  # receipt → answer, cases answered in the week
    p90_hours: float | None

    def labelled(self) -> tuple[tuple[str, int | float | None], ...]:
        """The figures with their row labels, in the summary table's order."""
        return (("新受理", self.new), ("已答复", self.responded), ("已办结", self.closed),
                ("已撤诉", self.withdrawn), ("周末在办", self.open_at_end), ("周末逾期", self.overdue_at_end),
                ("按时答复率（监管时限）", self.on_time_rate), ("确认时效达标率（内部SLA）", self.ack_sla_rate),
                ("处理时长中位数（小时）", self.median_hours), ("处理时长P90（小时）", self.p90_hours))


@dataclass(frozen=True)
class Summary(Headline):
    """The week's headline figures and how many of each listed kind (the message and the page quote these)."""

    repeats: int
    sensitive: int
    escalations: int
    extensions: int
    pauses: int

    def as_dict(self) -> dict[str, Cell]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Summary:
        if set(data) != _SUMMARY_KEYS:
            raise ValueError(f"report summary: keys {sorted(data)} are not {sorted(_SUMMARY_KEYS)}")
        return cls(**data)


_SUMMARY_KEYS = frozenset(f.name for f in fields(Summary))


@dataclass(frozen=True)
class FrozenPolicy:
    """The report settings a week was computed with, recorded in its content."""

    repeat_window_days: int
    customers: Mapping[str, int]  # branch code → personal customers, by code
    caps: Mapping[str, int]  # "branch/department" → monthly 投诉限值, by key

    def as_dict(self) -> dict[str, Any]:
        return {"repeat_window_days": self.repeat_window_days, "customers": dict(self.customers),
                "caps": dict(self.caps)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FrozenPolicy:
        if set(data) != {"repeat_window_days", "customers", "caps"}:
            raise ValueError(f"report policy: keys {sorted(data)} are not caps, customers, repeat_window_days")
        return cls(data["repeat_window_days"], dict(data["customers"]), dict(data["caps"]))


@dataclass(frozen=True)
class ReportTables:
    """The report's tables, each under its key (a field name with - for _: by_channel is `by-channel`)."""

    summary: Table
    by_channel: Table
    by_category: Table
    by_cause: Table
    by_department: Table
    by_branch: Table
    by_outlet: Table
    escalations: Table
    extensions: Table
    pauses: Table
    sensitive: Table
    repeats: Table
    overdue: Table
    trend: Table
    trend_4w: Table

    def __post_init__(self) -> None:
        for f, table in zip(fields(self), self, strict=True):
            if table.key != _key(f.name):
                raise ValueError(f"report table {table.key!r} given as {_key(f.name)!r}")

    def __iter__(self) -> Iterator[Table]:
        """The tables in the report's order."""
        return iter(tuple(getattr(self, f.name) for f in fields(self)))

    def get(self, key: str) -> Table | None:
        """The table named `key` (e.g. `by-channel`, as in its CSV's file name), or None."""
        return next((t for t in self if t.key == key), None)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {t.key: t.as_dict() for t in self}

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, Any]]) -> ReportTables:
        if set(data) != set(TABLE_KEYS):
            raise ValueError(f"report tables: {sorted(data)} are not {sorted(TABLE_KEYS)}")
        return cls(*(Table.from_dict(key, data[key]) for key in TABLE_KEYS))


def _key(name: str) -> str:
    return name.replace("_", "-")


TABLE_KEYS = tuple(_key(f.name) for f in fields(ReportTables))  # in the report's order


@dataclass(frozen=True)
class ReportContent:
    """The frozen content of a week's report: what its sha256 is over, what the page, the CSVs, the
    artifacts and the message are made from. `as_dict` is its JSON (stored with the snapshot and
    written as content.json); `from_dict` reads a stored one back, so a frozen report renders from
    its stored content exactly as it did from the computed one."""

    week: str  # 2026-W47
    period: str  # 2026-11-16 至 2026-11-22
    start: str  # the week's bounds in UTC, ISO 8601
    end: str
    input_rows: int  # cases received before the week's end
    policy: FrozenPolicy
    summary: Summary
    tables: ReportTables

    def as_dict(self) -> dict[str, Any]:
        return {"week": self.week, "period": self.period, "start": self.start, "end": self.end,
                "input_rows": self.input_rows, "policy": self.policy.as_dict(), "summary": self.summary.as_dict(),
                "tables": self.tables.as_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportContent:
        """A stored content read back; ValueError naming the part that is not a report's content."""
        keys = {"week", "period", "start", "end", "input_rows", "policy", "summary", "tables"}
        if set(data) != keys:
            raise ValueError(f"report content: keys {sorted(data)} are not {sorted(keys)}")
        return cls(data["week"], data["period"], data["start"], data["end"], data["input_rows"],
                   FrozenPolicy.from_dict(data["policy"]), Summary.from_dict(data["summary"]),
                   ReportTables.from_dict(data["tables"]))

    @property
    def sha256(self) -> str:
        return digest(self)


def canonical_json(content: Mapping[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def digest(content: ReportContent | Mapping[str, Any]) -> str:
    """The sha256 of a report's content (typed, or its JSON as stored) over its canonical JSON."""
    return hashlib.sha256(canonical_json(content.as_dict() if isinstance(content, ReportContent) else content)).hexdigest()


def differences(old: Mapping[str, Any], new: Mapping[str, Any], *, limit: int = 20) -> list[str]:
    """What differs between two report contents (as JSON: a stored one may have been edited), naming
    the table, row and column."""
    out: list[str] = []
    old_s, new_s = old.get("summary", {}), new.get("summary", {})
    for k in sorted(set(old_s) | set(new_s)):
        if old_s.get(k) != new_s.get(k):
            out.append(f"summary.{k}: {old_s.get(k)!r} → {new_s.get(k)!r}")
    old_t, new_t = old.get("tables", {}), new.get("tables", {})
    for key in sorted(set(old_t) | set(new_t)):
        a, b = old_t.get(key), new_t.get(key)
        if a is None or b is None:
            out.append(f"{key}: table {'added' if a is None else 'removed'}")
            continue
        out.extend(_table_diff(key, a, b))
    for k in sorted(set(old) | set(new)):
        if k not in ("summary", "tables") and old.get(k) != new.get(k):
            out.append(f"{k}: {old.get(k)!r} → {new.get(k)!r}")
    return out[:limit] + ([f"… and {len(out) - limit} more"] if len(out) > limit else [])


def _table_diff(key: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    if a.get("columns") != b.get("columns"):
        return [f"{key}: columns changed"]
    cols: Sequence[str] = a.get("columns", [])
    ra: Sequence[Sequence[Cell]] = a.get("rows", [])
    rb: Sequence[Sequence[Cell]] = b.get("rows", [])
    out: list[str] = []
    if len(ra) != len(rb):
        out.append(f"{key}: {len(ra)} rows → {len(rb)} rows")
    for i, (x, y) in enumerate(zip(ra, rb, strict=False)):
        for j, (u, v) in enumerate(zip(x, y, strict=False)):
            if u != v:
                label = x[0] if x else i
                out.append(f"{key}[{label}].{cols[j] if j < len(cols) else j}: {u!r} → {v!r}")
    return out


# ---------------------------------------------------------------- shaping a week into tables

_UNKNOWN = "未分类"
_TIER_DAYS = {"complex": "延期至30天", "special": "延期至60天"}
_SEVERITY = {"ordinary": "普通", "complex": "复杂", "major": "重大"}
_TAGS = {tag.value: name for tag, name in TAG_NAMES.items()}


@dataclass(frozen=True)
class ReportPolicy:
    """What the report takes from config/report.yaml (and is recorded in the frozen content)."""

    repeat_window_days: int = 30
    customers: Mapping[str, int] | None = None  # branch code → personal customers
    caps: Mapping[tuple[str, str], int] | None = None  # (branch, department) → monthly 投诉限值


@dataclass(frozen=True)
class Names:
    """Display names: branches, departments (by owning branch), and taxonomy codes per dimension."""

    branches: Mapping[str, str]
    departments: Mapping[tuple[str, str], str]
    terms: Mapping[str, Mapping[str, str]]  # "channel" / "category" / "cause" → code → name

    def branch(self, code: str | None) -> str:
        return self.branches.get(code or "", code or _UNKNOWN)

    def department(self, branch: str | None, code: str | None) -> str:
        if code is None:
            return "待分派"
        return self.departments.get((branch or "", code), code)

    def term(self, dimension: str, code: str | None) -> str:
        if code is None:
            return _UNKNOWN
        return self.terms.get(dimension, {}).get(code, code)


def _local_or_none(at: datetime | None) -> str | None:
    """`domain.deadlines.local_text`, None kept as None (the report's cells)."""
    return None if at is None else local_text(at)


def status_at(case: SensitiveCase, end: datetime) -> str:
    """Where a case stood at `end`, from its timestamps (not its current status)."""
    if case.responded_at is not None and case.responded_at < end:
        return "已答复"
    if case.closed_at is not None and case.closed_at < end:
        return "已撤诉" if case.status == "withdrawn" else "已办结"
    return "处理中"


def _hours(minutes: int | None) -> float | None:
    return None if minutes is None else round(minutes / 60, 1)


def _share(n: int, total: int) -> float | None:
    return rate(n, total)


Key = tuple[str | None, ...]


def _rollup(groups: Iterable[NewGroup], key: Callable[[NewGroup], Key]) -> dict[Key, int]:
    out: dict[Key, int] = {}
    for g in groups:
        k = key(g)
        out[k] = out.get(k, 0) + g.n
    return out


def _sort_key(k: Key) -> tuple[str, ...]:
    return tuple("\uffff" if v is None else v for v in k)  # unknown last


def headline(counts: WeekCounts, histogram: Iterable[tuple[int, int]]) -> Headline:
    """The headline figures of one week from its counts and handling-time histogram."""
    hist = list(histogram)
    return Headline(
        new=counts.new, responded=counts.responded, closed=counts.closed, withdrawn=counts.withdrawn,
        open_at_end=counts.open_at_end, overdue_at_end=counts.overdue_at_end,
        on_time_rate=rate(counts.responded_on_time, counts.responded),
        ack_sla_rate=rate(counts.ack_on_time, counts.ack_due),
        median_hours=_hours(percentile(hist, 0.5)), p90_hours=_hours(percentile(hist, 0.9)),
    )


def _summary_table(current: Headline, previous: Headline) -> Table:
    rows = []
    for (label, cur), (_, prev) in zip(current.labelled(), previous.labelled(), strict=True):
        ch = Change(cur, prev)
        rows.append((label, cur, prev, ch.delta, ch.pct))
    return Table("summary", "总览（与上周比较）", ("指标", "本周", "上周", "变化", "变化率"), tuple(rows))


_DIMENSIONS: Mapping[str, Callable[[NewGroup], Key]] = {
    "channel": lambda g: (g.channel,), "category": lambda g: (g.category,), "cause": lambda g: (g.cause,)}


def _dimension_table(key: str, title: str, dimension: str, groups: Sequence[NewGroup], names: Names,
                     total: int) -> Table:
    rolled = _rollup(groups, _DIMENSIONS[dimension])
    rows = tuple((k[0] or "—", names.term(dimension, k[0]), n, _share(n, total))
                 for k, n in sorted(rolled.items(), key=lambda kv: _sort_key(kv[0])))
    return Table(key, title, ("代码", "名称", "新受理", "占比"), rows)


def _case_summary(request: str) -> str:
    """The 诉求摘要 of a sensitive case: its request (names masked by the loader), numbers masked, 40 characters."""
    text = mask_text(request)
    return text if len(text) <= 40 else text[:40] + "…"


def _seat_name(chain: Sequence[ChainSeat], level: str) -> str | None:
    """The name in the chain's (last) seat of `level`."""
    found = [s.name for s in chain if s.level == level]
    return found[-1] if found else None


def build_content(*, data: WeekData, previous: WeekTotals, names: Names, policy: ReportPolicy) -> ReportContent:
    """The frozen content of a week's report: figures, tables and the policy they were computed with.

    `data` holds what the SQL layer read for the week (counts, histogram, groups, lists, trend);
    `previous` the counts and histogram of the week before (for week-over-week change).
    """
    week = data.week
    end = week.end
    now_head = headline(data.counts, data.handling_minutes)
    prev_head = headline(previous.counts, previous.handling_minutes)
    groups = data.groups
    total = now_head.new

    # Departments: new this week, open / overdue at the week's end, month-to-date against the cap.
    new_dept = _rollup(groups, lambda g: (g.department_branch, g.department))
    open_dept: dict[Key, DepartmentOpen] = {(r.department_branch, r.department): r for r in data.open_by_department}
    month: dict[Key, int] = {(r.department_branch, r.department): r.n for r in data.month_by_department}
    caps: dict[Key, int] = dict((policy.caps or {}).items())
    dept_rows = []
    for b, d in sorted(set(new_dept) | set(open_dept) | set(month) | set(caps), key=_sort_key):
        cap = caps.get((b, d))
        mtd = month.get((b, d), 0)
        o = open_dept.get((b, d))
        dept_rows.append((names.branch(b) if b else "—", d or "—", names.department(b, d), new_dept.get((b, d), 0),
                          o.open if o else 0, o.overdue if o else 0, mtd, cap,
                          rate(mtd, cap) if cap else None, cap_state(mtd, cap)))

    customers = dict(policy.customers or {})
    by_branch = _rollup(groups, lambda g: (g.branch,))
    branch_keys = sorted({k[0] for k in by_branch} | set(customers), key=lambda v: _sort_key((v,)))
    by_outlet = _rollup(groups, lambda g: (g.branch, g.outlet))
    ext = {r.to_tier: r.n for r in data.extensions}

    overdue_rows = []
    for r in data.overdue:
        handler = _seat_name(r.chain, "handler") or r.handler or "（未指派）"
        esc = r.escalation
        holders = "、".join(f"{x.title}{x.name}" for x in esc.recipients) if esc else ""
        overdue_rows.append((r.case_no, _local_or_none(r.received_at),
                             names.department(r.department_branch, r.department), _local_or_none(r.due_at),
                             (week.sunday - r.due_at.astimezone(SHANGHAI).date()).days,
                             handler, esc.name if esc else "未督办", holders or "—"))

    trend = data.trend
    four = trend[-4:]

    def recent(pick: Callable[[TrendPoint], int]) -> tuple[int, float, float]:
        """4-week total, 4-week weekly mean, 13-week weekly mean."""
        four_total = sum(pick(t) for t in four)
        return (four_total, round(four_total / max(len(four), 1), 1),
                round(sum(pick(t) for t in trend) / max(len(trend), 1), 1))

    tables = ReportTables(
        summary=_summary_table(now_head, prev_head),
        by_channel=_dimension_table("by-channel", "按办理渠道（A）", "channel", groups, names, total),
        by_category=_dimension_table("by-category", "按业务类别（B）", "category", groups, names, total),
        by_cause=_dimension_table("by-cause", "按投诉原因（C）", "cause", groups, names, total),
        by_department=Table(
            "by-department", "按承办部门（含本月投诉限值）",
            ("机构", "部门代码", "部门", "新受理", "周末在办", "周末逾期", "本月累计", "月度限值", "限值使用率", "状态"),
            tuple(dept_rows)),
        by_branch=Table(
            "by-branch", "按机构（每万名客户投诉量）", ("机构代码", "机构", "新受理", "客户数", "每万客户投诉"),
            tuple((b, names.branch(b), by_branch.get((b,), 0), customers.get(b or ""),
                   per_10k(by_branch.get((b,), 0), customers.get(b or ""))) for b in branch_keys)),
        by_outlet=Table(
            "by-outlet", "按网点", ("机构", "网点", "新受理"),
            tuple((names.branch(b), o or "—", n) for (b, o), n in sorted(by_outlet.items(), key=lambda kv: _sort_key(kv[0])))),
        escalations=Table("escalations", "督办（按层级）", ("层级", "名称", "次数"),
                          tuple((r.level, r.name, r.n) for r in data.escalations)),
        extensions=Table("extensions", "延期", ("延期", "件数"),
                         tuple((label, ext.get(tier, 0)) for tier, label in _TIER_DAYS.items())),
        pauses=Table("pauses", "中止计时（鉴定、检测、评估、调解）", ("原因", "次数"),
                     tuple((r.reason or "—", r.n) for r in data.pauses)),
        sensitive=Table(
            "sensitive", "重大及敏感投诉（本周受理）",
            ("受理编号", "受理时间", "机构", "部门", "业务类别", "等级", "敏感标签", "周末状态", "答复期限", "诉求摘要"),
            tuple((r.case_no, _local_or_none(r.received_at), names.branch(r.branch),
                   names.department(r.department_branch, r.department), names.term("category", r.category),
                   _SEVERITY.get(r.severity, r.severity), "、".join(_TAGS.get(t, t) for t in sorted(r.tags)) or "—",
                   status_at(r, end), _local_or_none(r.due_at), _case_summary(r.request))
                  for r in data.sensitive)),
        repeats=Table(
            "repeats", f"重复投诉（同一投诉人、同一业务类别，{policy.repeat_window_days}天内）",
            ("受理编号", "受理时间", "业务类别", "部门", "前次受理编号"),
            tuple((r.case_no, _local_or_none(r.received_at), names.term("category", r.category),
                   names.department(r.department_branch, r.department), r.previous_case_no) for r in data.repeats)),
        overdue=Table("overdue", "周末逾期案件及责任链",
                      ("受理编号", "受理时间", "部门", "答复期限", "逾期天数", "经办人", "督办层级", "督办对象"),
                      tuple(overdue_rows)),
        trend=Table("trend", "近13周趋势", ("周", "新受理", "已答复", "周末在办", "周末逾期"),
                    tuple((t.week, t.new, t.responded, t.open, t.overdue) for t in trend)),
        trend_4w=Table("trend-4w", "近4周合计与周均", ("指标", "4周合计", "4周周均", "13周周均"),
                       (("新受理", *recent(lambda t: t.new)), ("已答复", *recent(lambda t: t.responded)))),
    )
    summary = Summary(**asdict(now_head), repeats=len(data.repeats), sensitive=len(data.sensitive),
                      escalations=sum(r.n for r in data.escalations), extensions=sum(ext.values()),
                      pauses=sum(r.n for r in data.pauses))
    return ReportContent(
        week=week.label, period=week.period, start=week.start.isoformat(), end=week.end.isoformat(),
        input_rows=data.counts.input_rows,
        policy=FrozenPolicy(policy.repeat_window_days, dict(sorted(customers.items())),
                            {f"{b}/{d}": c for (b, d), c in sorted((policy.caps or {}).items())}),
        summary=summary, tables=tables,
    )
