"""The head's dashboard (一把手看板) and the regulator statistics pages (监管报送), server-rendered.

/dashboard shows the institution the user heads (the 行长 of a branch, the 支行行长 of a sub-branch;
`?institution=` for any institution below it); cpo, auditors and admins see any institution. Every
figure links to /dashboard/cases with the figure's filters (the cases it counts). /stats/{period}
shows a month, quarter or year: the frozen version when there is one, else the figures as they are;
each count links to its case numbers; CSV and XLSX downloads.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from api import access
from api.deps import Ctx, PageUser, Principal, no_nul_in_url
from domain import statistics as st
from models.db import session_scope
from services import analytics, unit_of_work
from services.unit_of_work import UnitOfWork
from settings.config import Config

router = APIRouter(include_in_schema=False, dependencies=[Depends(no_nul_in_url)])
PERIOD = r"^\d{4}(-\d{2}|-Q[1-4])?$"


@contextmanager
def unit(ctx: Any) -> Iterator[UnitOfWork]:
    """One transaction on the web's engine (serialised on SQLite like every other request)."""
    with ctx.serial(), session_scope(ctx.engine) as s:
        yield UnitOfWork(session=s, config=ctx.config, calendar=ctx.calendar, now=unit_of_work.utcnow())


def need(who: Principal, permission: str) -> None:
    if not access.allowed(who.user, permission):
        raise HTTPException(403, f"您的角色无权查看此页面（需要权限：{permission}）")


def institutions_for(config: Config, who: Principal) -> list[str]:
    """The institutions this user may open on the dashboard: any for cpo / auditor / admin; for a supervisor
    the ones they head and everything below them (else their own branch's subtree)."""
    if who.user.role in ("cpo", "auditor", "admin"):
        return sorted(config.org.branches, key=lambda c: (len(config.org.ancestry(c)), c))
    tops = analytics.headed_by(config, who.user.person_id) or ([who.user.branch] if who.user.branch else [])
    seen: list[str] = []
    for top in tops:
        seen += [c for c in analytics.subtree(config, top) if c not in seen]
    return sorted(seen, key=lambda c: (len(config.org.ancestry(c)), c))


def pick_institution(config: Config, who: Principal, asked: str | None) -> str:
    need(who, "dashboard")
    mine = institutions_for(config, who)
    if not mine:
        raise HTTPException(403, "您没有负责的机构，无法查看一把手看板")
    if asked is None:
        return mine[0]
    if asked not in config.org.branches:
        raise HTTPException(422, f"institution（机构）：组织架构中没有机构 {asked!r}")
    if asked not in mine:
        raise HTTPException(403, f"institution（机构）：您无权查看 {config.org.branches[asked].name} 的看板")
    return asked


# ---------------------------------------------------------------- charts (inline SVG, matplotlib)


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buf.getvalue()
    return re.sub(r"<!--.*?-->", "", text[text.index("<svg"):], flags=re.S)


@lru_cache(maxsize=256)
def _charts(trend: tuple[tuple[str, int], ...], outlets: tuple[tuple[str, int], ...]) -> tuple[str, str]:
    """The monthly trend and the outlets ranked, drawn from numbers and fixed labels only (cached by data)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from notifications.report_render import cjk_font_families

    style = {"svg.hashsalt": "dashboard", "svg.fonttype": "none", "font.size": 9, "font.family": "sans-serif",
             "font.sans-serif": cjk_font_families(), "axes.unicode_minus": False}
    with warnings.catch_warnings(), matplotlib.rc_context(style):
        warnings.simplefilter("ignore")
        fig, ax = plt.subplots(figsize=(7.5, 2.4))
        ax.bar([m[2:] for m, _ in trend], [n for _, n in trend], color="#4472c4")
        ax.set_ylabel("受理（件）")
        ax.grid(axis="y", alpha=0.3)
        first = _svg(fig)
        plt.close(fig)
        names = [o for o, _ in outlets][::-1] or ["（无）"]
        fig, ax = plt.subplots(figsize=(7.5, max(1.4, 0.28 * len(names) + 0.6)))
        ax.barh(names, [n for _, n in outlets][::-1] or [0], color="#ed7d31")
        ax.set_xlabel("本月受理（件）")
        ax.grid(axis="x", alpha=0.3)
        second = _svg(fig)
        plt.close(fig)
    return first, second


def charts(board: analytics.Dashboard) -> dict[str, Markup]:
    trend, outlets = _charts(tuple((f.label, int(f.value or 0)) for f in board.trend),
                             tuple((f"{o.branch_name} {o.outlet}", o.count)
                                                       for o in board.outlets[:10]))
    # Trusted markup: matplotlib draws it from numbers and the org chart's names (text is escaped in SVG).
    return {"trend": Markup(trend), "outlets": Markup(outlets)}  # noqa: S704


# ---------------------------------------------------------------- pages


def _render(request: Request, template: str, who: Principal, **values: Any) -> HTMLResponse:
    from api.pages import render

    return render(request, template, who=who, **values)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, ctx: Ctx, who: PageUser, institution: str | None = None) -> Response:
    code = pick_institution(ctx.config, who, institution)
    with unit(ctx) as uow:
        board = analytics.dashboard(uow, institution=code, person=who.user.person_id)
    options = [(c, ctx.config.org.branches[c].name) for c in institutions_for(ctx.config, who)]
    return _render(request, "dashboard.html.j2", who, board=board, charts=charts(board), options=options)


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"{field}：{value!r} 不是有效的日期（应如 2026-04-01）") from None


@router.get("/dashboard/cases", response_class=HTMLResponse)
def dashboard_cases(request: Request, ctx: Ctx, who: PageUser, institution: str,
                    received_from: str | None = None, received_to: str | None = None,
                    category: str | None = None, outlet: str | None = None, status: str | None = None,
                    overdue: bool = False, paused: bool = False, escalated_to: str | None = None,
                    own: bool = False) -> Response:
    """The cases behind a dashboard figure (the same filters the figure counted)."""
    code = pick_institution(ctx.config, who, institution)
    f = analytics.CaseFilter(institution=code, received_from=_day(received_from, "received_from（受理日期起）"),
                             received_to=_day(received_to, "received_to（受理日期止）"), category=category,
                             outlet=outlet, status=status, overdue=overdue, paused=paused,
                             escalated_to=escalated_to, own=own)
    try:
        with unit(ctx) as uow:
            total, cases = analytics.drill(uow, f)
    except analytics.AnalyticsError as exc:
        raise HTTPException(422, str(exc)) from None
    return _render(request, "dashboard_cases.html.j2", who, total=total, cases=cases, f=f,
                   name=ctx.config.org.branches[code].name)


@router.get("/dashboard/remediation", response_class=HTMLResponse)
def dashboard_remediation(request: Request, ctx: Ctx, who: PageUser, institution: str) -> Response:
    """The overdue 整改 items behind the dashboard's 整改逾期 figure, each linking to its item page."""
    code = pick_institution(ctx.config, who, institution)
    with unit(ctx) as uow:
        items = analytics.overdue_remediation(uow, code)
    return _render(request, "dashboard_remediation.html.j2", who, items=items, institution=code,
                   name=ctx.config.org.branches[code].name)


def stats_view(uow: UnitOfWork, period: st.Period) -> analytics.StatsResult:
    """The frozen latest version of a period, else its figures now (nothing stored)."""
    import json

    from models import analytics as store

    row = store.latest_snapshot(uow.session, period.label)
    if row is not None:
        return analytics.StatsResult(period.label, period.kind, int(row.version), False, row.sha256, int(row.total),
                                     json.loads(row.content), row.diff)
    content = analytics.compute(uow, period)
    return analytics.StatsResult(period.label, period.kind, None, False, st.digest(content), content["total"], content)


def period_arg(value: str) -> st.Period:
    try:
        return st.period_of_label(value)
    except st.PeriodError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/stats", response_class=HTMLResponse)
def stats_index(request: Request, ctx: Ctx, who: PageUser) -> Response:
    need(who, "reports")
    from models import analytics as store

    with unit(ctx) as uow:
        frozen = store.snapshots(uow.session)
    return _render(request, "stats_index.html.j2", who, frozen=frozen)


@router.get("/stats/{period}", response_class=HTMLResponse)
def stats_page(request: Request, ctx: Ctx, who: PageUser,
               period: Annotated[str, Path(pattern=PERIOD)]) -> Response:
    need(who, "reports")
    p = period_arg(period)
    with unit(ctx) as uow:
        result = stats_view(uow, p)
    return _render(request, "stats.html.j2", who, r=result, p=p, dims=st.DIMENSIONS, dim_names=st.DIMENSION_NAMES)


@router.get("/stats/{period}/cases", response_class=HTMLResponse)
def stats_cases(request: Request, ctx: Ctx, who: PageUser, period: Annotated[str, Path(pattern=PERIOD)],
                dimension: Annotated[list[str] | None, Query()] = None,
                value: Annotated[list[str] | None, Query()] = None) -> Response:
    """The case numbers of a statistics cell (dimension=value pairs), from the version shown."""
    need(who, "reports")
    p = period_arg(period)
    pairs = dict(zip(dimension or [], value or [], strict=False))
    bad = [d for d in pairs if d not in st.DIMENSIONS]
    if bad:
        raise HTTPException(422, f"dimension（维度）：{bad[0]!r} 不是可选值之一（{'、'.join(st.DIMENSIONS)}）")
    with unit(ctx) as uow:
        result = stats_view(uow, p)
    cases = analytics.cell_cases(result.content, pairs)
    return _render(request, "stats_cases.html.j2", who, r=result, p=p, pairs=pairs, cases=cases,
                   dim_names=st.DIMENSION_NAMES)


@router.get("/stats/{period}/download")
def stats_download(ctx: Ctx, who: PageUser, period: Annotated[str, Path(pattern=PERIOD)],
                   format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv") -> Response:
    need(who, "reports")
    p = period_arg(period)
    with unit(ctx) as uow:
        result = stats_view(uow, p)
    version = f"v{result.version}" if result.version else "live"
    name = f"stats-{p.label}-{version}.{format}"
    if format == "xlsx":
        return Response(analytics.xlsx_bytes(result.content, ctx.config),
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return Response(("\ufeff" + analytics.csv_text(result.content, ctx.config)).encode("utf-8"),
                    media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def names_for(config: Config, dimension: str) -> dict[str, str]:
    return analytics.names(config).get(dimension, {})


def cell_link(period: str, pairs: Sequence[tuple[str, str]]) -> str:
    from urllib.parse import urlencode

    return f"/stats/{period}/cases?" + urlencode([x for d, v in pairs for x in (("dimension", d), ("value", v))])


__all__ = ["cell_link", "router"]
