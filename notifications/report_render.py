"""Render a week's frozen report content (`domain.report.ReportContent`): HTML (jinja2,
autoescaped, matplotlib SVG charts; the template reads the content by attribute), one CSV per
table, and the markdown summary shown as a Prefect artifact.

Everything here reads only the frozen content, so the same content always renders the same
files (charts use a fixed SVG hash salt and no date metadata), whether it was just computed or
read back from its stored JSON (`ReportContent.from_dict`).
"""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from domain.report import Cell, ReportContent, Table, canonical_json
from domain.statistics import safe_cell

TEMPLATES = Path(__file__).resolve().parent / "templates"
ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                  trim_blocks=True, lstrip_blocks=True)

_PERCENT_COLUMNS = {"占比", "变化率", "限值使用率"}
_RATE_ROWS = {"按时答复率（监管时限）", "确认时效达标率（内部SLA）"}


def cell_text(value: Any, column: str, row_label: Any = None) -> str:
    """A cell as people read it: percentages for rates, — for no value."""
    if value is None:
        return "—"
    if isinstance(value, float) and row_label in _RATE_ROWS and column == "变化":
        return f"{value * 100:+.1f} 个百分点"
    if isinstance(value, float) and (column in _PERCENT_COLUMNS or row_label in _RATE_ROWS):
        return f"{value * 100:.1f}%"
    return str(value)


ENV.filters["cell"] = cell_text


def _svg(fig: Any) -> Markup:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # drop the XML prolog and doctype: inline in HTML
    # An inline SVG is trusted markup: it is drawn by matplotlib from numbers and fixed labels only.
    return Markup(re.sub(r"<!--.*?-->", "", text, flags=re.S))  # noqa: S704


# CJK fonts Debian ships (./run installs fonts-wqy-microhei), tried in this order; matplotlib only
# measures text with them (svg.fonttype "none" keeps the text as text), so the SVG also names the
# fonts a reader's browser is likely to have, and the page's CSS adds them again.
CJK_FONT_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
VIEWER_CJK_FONTS = ("PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei")
_font_families: list[str] | None = None


def cjk_font_families() -> list[str]:
    """The sans-serif font list for the charts: the CJK fonts found here first, then the viewers'."""
    global _font_families
    if _font_families is None:
        from matplotlib import font_manager

        found: list[str] = []
        for path in CJK_FONT_FILES:
            if Path(path).exists():
                font_manager.fontManager.addfont(path)  # also when the font came after matplotlib's cache
                name = font_manager.FontProperties(fname=path).get_name()
                if name not in found:
                    found.append(name)
        _font_families = found + [f for f in VIEWER_CJK_FONTS if f not in found] + ["DejaVu Sans"]
    return _font_families


def _counts(cells: Sequence[Cell]) -> list[int]:
    """A column of counts, as the charts plot them."""
    counts = [v for v in cells if isinstance(v, int)]
    if len(counts) != len(cells):
        raise TypeError(f"not a column of counts: {cells!r}")
    return counts


def charts(content: ReportContent) -> dict[str, Markup]:
    """The trend and the category charts as inline SVG strings, labelled in Chinese."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, Markup] = {}
    style = {"svg.hashsalt": "weekly-report", "svg.fonttype": "none", "font.size": 9,
             "font.family": "sans-serif", "font.sans-serif": cjk_font_families(), "axes.unicode_minus": False}
    with warnings.catch_warnings(), matplotlib.rc_context(style):
        warnings.simplefilter("ignore")  # a viewer font matplotlib does not have: the SVG keeps the text
        trend = content.tables.trend
        fig, ax = plt.subplots(figsize=(7.5, 2.8))
        x = [f"{int(w[-2:])}周" if re.fullmatch(r"\d{4}-W\d{2}", w) else w for w in map(str, trend.column("周"))]
        for label in ("新受理", "已答复", "周末逾期"):  # each the name of its column
            ax.plot(x, _counts(trend.column(label)), marker="o", label=label)
        ax.legend(loc="upper left", frameon=False)
        ax.grid(alpha=0.3)
        out["trend"] = _svg(fig)
        plt.close(fig)
        # the categories by their JR/T 0169 name (the 名称 column), never by our code
        table = content.tables.by_category
        names, counts = [str(n) for n in table.column("名称")], _counts(table.column("新受理"))
        fig, ax = plt.subplots(figsize=(7.5, max(1.6, 0.3 * len(names) + 0.8)))
        ax.barh(names[::-1], counts[::-1], color="#4472c4")  # the table's first row on top
        ax.set_xlabel("本周新受理（件）")
        ax.grid(axis="x", alpha=0.3)
        out["category"] = _svg(fig)
        plt.close(fig)
    return out


def render_html(content: ReportContent, *, version: int, generated_at: str, sha256: str, institution: str) -> str:
    """The report's page (a stored content is read back with `ReportContent.from_dict` first)."""
    return ENV.get_template("weekly_report.html.j2").render(
        c=content, tables=content.tables, summary=content.summary, charts=charts(content),
        version=version, generated_at=generated_at, sha256=sha256, institution=institution,
    )



def table_csv(table: Table) -> str:
    """One table as CSV."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([safe_cell(c) for c in table.columns])
    writer.writerows([safe_cell(v) for v in row] for row in table.rows)
    return buf.getvalue()


def markdown_summary(content: ReportContent, *, version: int, sha256: str, link: str) -> str:
    s, table = content.summary, content.tables.summary
    lines = [f"# 投诉处理周报 {content.week}（{content.period}）", "",
             f"版本 v{version} · 输入 {content.input_rows} 件 · sha256 `{sha256}`", "",
             "| " + " | ".join(table.columns) + " |", "|---|---:|---:|---:|---:|"]
    for r in table.rows:
        lines.append("| " + " | ".join(cell_text(v, col, r[0]) for v, col in zip(r, table.columns, strict=True)) + " |")
    lines += ["", f"重大及敏感 {s.sensitive} 件 · 重复投诉 {s.repeats} 件 · 督办 {s.escalations} 次 · "
                  f"延期 {s.extensions} 件 · 中止计时 {s.pauses} 次", "", f"[完整报告]({link})"]
    return "\n".join(lines)


def write_files(directory: Path, content: ReportContent, html: str) -> list[Path]:
    """report.html, content.json and <table>.csv (UTF-8 with BOM, so spreadsheet tools read the Chinese)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "report.html", directory / "content.json"]
    written[0].write_text(html, encoding="utf-8")
    written[1].write_bytes(canonical_json(content.as_dict()))
    for table in content.tables:
        path = directory / f"{table.key}.csv"
        path.write_text(table_csv(table), encoding="utf-8-sig")
        written.append(path)
    return written


def read_content(directory: Path) -> Any:
    path = directory / "content.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
