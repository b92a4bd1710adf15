"""Regulator statistics (监管报送) and the head's dashboard figures, as plain arithmetic (pure).

Periods are local (Asia/Shanghai) months, quarters and years: `2026-03`, `2026-Q1`, `2026`. A
complaint belongs to the period of its receipt (received_at, local date). A statistics cell is
(region, institution, outlet, channel, category, cause) with its count and its case numbers; the
dimension tables are sums of cells, so every figure drills down to its cases.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain.deadlines import SHANGHAI
from domain.report import canonical_json

NONE = ""  # a dimension not known (no category yet, no outlet): stored as "", shown as 未分类 / 本级
DIMENSIONS = ("region", "branch", "outlet", "channel", "category", "cause")
DIMENSION_NAMES = {"region": "地区", "branch": "机构", "outlet": "网点", "channel": "投诉渠道",
                   "category": "业务类别", "cause": "投诉原因"}
KIND_NAMES = {"month": "月度", "quarter": "季度", "year": "年度"}


class PeriodError(ValueError):
    """A period that is not a month, quarter or year (the message names the option, in Chinese)."""


@dataclass(frozen=True)
class Period:
    kind: str  # month | quarter | year
    label: str  # 2026-03 | 2026-Q1 | 2026
    first: date  # local, inclusive
    last: date  # local, inclusive

    @property
    def start(self) -> datetime:
        return local_midnight(self.first)

    @property
    def end(self) -> datetime:
        return local_midnight(self.last + timedelta(days=1))

    @property
    def title(self) -> str:
        return f"{self.label}（{KIND_NAMES[self.kind]}，{self.first.isoformat()} 至 {self.last.isoformat()}）"


def local_midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=SHANGHAI).astimezone(UTC)


def local_date(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def _month_end(year: int, month: int) -> date:
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return nxt - timedelta(days=1)


def parse_period(kind: str, value: str) -> Period:
    """`--month 2026-03`, `--quarter 2026-Q1`, `--year 2026`; PeriodError in Chinese otherwise."""
    option = {"month": "--month（统计月份）", "quarter": "--quarter（统计季度）", "year": "--year（统计年度）"}[kind]
    v = value.strip()
    year = re.match(r"\d{4}", v)
    if year and not 1990 <= int(year[0]) <= 2100:
        raise PeriodError(f"{option}：{value!r} 的年份须在 1990 到 2100 之间")
    if kind == "month" and (m := re.fullmatch(r"(\d{4})-(\d{2})", v)) and 1 <= int(m[2]) <= 12:
        y, mo = int(m[1]), int(m[2])
        return Period("month", f"{y:04d}-{mo:02d}", date(y, mo, 1), _month_end(y, mo))
    if kind == "quarter" and (m := re.fullmatch(r"(\d{4})-?Q([1-4])", v, flags=re.I)):
        y, q = int(m[1]), int(m[2])
        return Period("quarter", f"{y:04d}-Q{q}", date(y, 3 * q - 2, 1), _month_end(y, 3 * q))
    if kind == "year" and re.fullmatch(r"\d{4}", v):
        y = int(v)
        return Period("year", f"{y:04d}", date(y, 1, 1), date(y, 12, 31))
    examples = {"month": "2026-03", "quarter": "2026-Q1", "year": "2026"}
    raise PeriodError(f"{option}：{value!r} 格式不正确，应如 {examples[kind]}")


def period_of_label(label: str) -> Period:
    kind = "quarter" if "Q" in label.upper() else "month" if "-" in label else "year"
    return parse_period(kind, label)


# ---------------------------------------------------------------- cells and dimension tables


@dataclass(frozen=True)
class CaseRow:
    """One complaint as the statistics read it."""

    case_no: str
    region: str
    branch: str
    outlet: str
    channel: str
    category: str
    cause: str


def cells(rows: Iterable[CaseRow]) -> list[dict[str, Any]]:
    """The finest cells: one per distinct (region, branch, outlet, channel, category, cause), with their
    sorted case numbers; sorted by key."""
    found: dict[tuple[str, str, str, str, str, str], list[str]] = {}
    for r in rows:
        key = (r.region, r.branch, r.outlet, r.channel, r.category, r.cause)
        found.setdefault(key, []).append(r.case_no)
    out = []
    for key in sorted(found):
        cases = sorted(found[key])
        out.append({**dict(zip(DIMENSIONS, key, strict=True)), "n": len(cases), "cases": cases})
    return out


def by_dimension(cell_list: Sequence[Mapping[str, Any]], dimension: str) -> list[dict[str, Any]]:
    """Counts per value of one dimension (descending, then by value)."""
    totals: dict[str, int] = {}
    for c in cell_list:
        totals[c[dimension]] = totals.get(c[dimension], 0) + int(c["n"])
    return [{"value": k, "n": n} for k, n in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))]


def content(period: Period, cell_list: Sequence[Mapping[str, Any]], *, institution: str,
            names: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """The frozen content of a period's statistics: the cells with their cases, and the dimension tables."""
    dims = {d: [{**row, "name": names.get(d, {}).get(row["value"], row["value"] or "未分类")}
                for row in by_dimension(cell_list, d)] for d in DIMENSIONS}
    return {
        "period": period.label, "kind": period.kind, "first": period.first.isoformat(),
        "last": period.last.isoformat(), "institution": institution,
        "total": sum(int(c["n"]) for c in cell_list),
        "dimensions": dims, "cells": [dict(c) for c in cell_list],
    }


def digest(value: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What a correction changed: the total, and every cell whose count or cases moved (by key)."""
    def keyed(c: Mapping[str, Any]) -> dict[tuple[str, ...], Mapping[str, Any]]:
        return {tuple(str(x[d]) for d in DIMENSIONS): x for x in c["cells"]}

    a, b = keyed(old), keyed(new)
    changed = []
    for key in sorted(set(a) | set(b)):
        before, after = a.get(key), b.get(key)
        cases_a = set(before["cases"]) if before else set()
        cases_b = set(after["cases"]) if after else set()
        if cases_a != cases_b:
            changed.append({**dict(zip(DIMENSIONS, key, strict=True)),
                            "before": len(cases_a), "after": len(cases_b),
                            "added": sorted(cases_b - cases_a), "removed": sorted(cases_a - cases_b)})
    return {"total_before": old["total"], "total_after": new["total"], "cells": changed}


# ---------------------------------------------------------------- spreadsheets

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (OWASP CSV injection): text starting with
    = + - @, a tab or a carriage return gets a leading '; numbers stay numbers. Every CSV and XLSX
    the product writes goes through it: the statistics, the weekly report's tables, list exports."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def cell_table(c: Mapping[str, Any], names: Mapping[str, Mapping[str, str]]) -> tuple[list[str], list[list[Any]]]:
    """The cells as one table (columns in Chinese): each dimension's code and name, the count, the cases."""
    columns = []
    for d in DIMENSIONS:
        columns += [DIMENSION_NAMES[d] + "代码", DIMENSION_NAMES[d]]
    columns += ["件数", "受理编号"]
    rows = []
    for cell in c["cells"]:
        row: list[Any] = []
        for d in DIMENSIONS:
            row += [cell[d], names.get(d, {}).get(cell[d], cell[d] or "未分类")]
        rows.append(row + [cell["n"], " ".join(cell["cases"])])
    return columns, rows


# ---------------------------------------------------------------- the dashboard's arithmetic


def per_10k(count: int, customers: int | None) -> float | None:
    """Complaints per 10,000 customers (None without a customer count)."""
    if not customers:
        return None
    return round(count * 10000 / customers, 3)


def week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def month_start(d: date) -> date:
    return d.replace(day=1)


def year_start(d: date) -> date:
    return d.replace(month=1, day=1)


def months_back(d: date, n: int) -> list[date]:
    """The first days of the `n` months ending with d's month, oldest first."""
    out = []
    y, m = d.year, d.month
    for _ in range(n):
        out.append(date(y, m, 1))
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]
