"""JSON API of the head's dashboard and the regulator statistics (the pages' figures, for other systems)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query

from api.deps import ApiUser, Ctx, no_nul_in_url
from api.pages_dashboard import PERIOD, _day, need, period_arg, pick_institution, stats_view, unit
from api.routes_api import ERRORS
from domain import statistics as st
from services import analytics

router = APIRouter(prefix="/api", tags=["analytics"], responses=ERRORS, dependencies=[Depends(no_nul_in_url)])


@router.get("/dashboard", summary="一把手看板的各项数字")
def api_dashboard(ctx: Ctx, who: ApiUser, institution: str | None = None) -> dict[str, Any]:
    code = pick_institution(ctx.config, who, institution)
    with unit(ctx) as uow:
        return analytics.dashboard(uow, institution=code, person=who.user.person_id).as_dict()


@router.get("/dashboard/cases", summary="看板某个数字背后的案件")
def api_dashboard_cases(ctx: Ctx, who: ApiUser, institution: str, received_from: str | None = None,
                        received_to: str | None = None, category: str | None = None, outlet: str | None = None,
                        status: str | None = None, overdue: bool = False, paused: bool = False,
                        escalated_to: str | None = None, own: bool = False) -> dict[str, Any]:
    code = pick_institution(ctx.config, who, institution)
    f = analytics.CaseFilter(institution=code, received_from=_day(received_from, "received_from（受理日期起）"),
                             received_to=_day(received_to, "received_to（受理日期止）"), category=category,
                             outlet=outlet, status=status, overdue=overdue, paused=paused, escalated_to=escalated_to,
                             own=own)
    try:
        with unit(ctx) as uow:
            total, cases = analytics.drill(uow, f)
    except analytics.AnalyticsError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"total": total, "cases": [c.as_dict() for c in cases]}


@router.get("/stats/{period}", summary="监管报送统计（冻结版本，或当前数据）")
def api_stats(ctx: Ctx, who: ApiUser, period: Annotated[str, Path(pattern=PERIOD)]) -> dict[str, Any]:
    need(who, "reports")
    with unit(ctx) as uow:
        return stats_view(uow, period_arg(period)).summary()


@router.get("/stats/{period}/cases", summary="统计单元格的受理编号")
def api_stats_cases(ctx: Ctx, who: ApiUser, period: Annotated[str, Path(pattern=PERIOD)],
                    dimension: Annotated[list[str] | None, Query()] = None,
                    value: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    need(who, "reports")
    pairs = dict(zip(dimension or [], value or [], strict=False))
    bad = [d for d in pairs if d not in st.DIMENSIONS]
    if bad:
        raise HTTPException(422, f"dimension（维度）：{bad[0]!r} 不是可选值之一（{'、'.join(st.DIMENSIONS)}）")
    with unit(ctx) as uow:
        result = stats_view(uow, period_arg(period))
    cases = analytics.cell_cases(result.content, pairs)
    return {"period": result.period, "version": result.version, "total": len(cases), "cases": cases}


@router.post("/stats/{period}/freeze", summary="冻结统计；correct 给出更正原因时另存新版本")
def api_stats_freeze(ctx: Ctx, who: ApiUser, period: Annotated[str, Path(pattern=PERIOD)],
                     correct: Annotated[str | None, Body(embed=True, max_length=500)] = None) -> dict[str, Any]:
    if who.user.role not in ("cpo", "admin"):
        raise HTTPException(403, "只有消保办或管理员可以冻结或更正监管报送统计")
    try:
        with unit(ctx) as uow:
            return analytics.statistics(uow, period_arg(period), actor=who.user.username, correct=correct).summary()
    except analytics.AnalyticsError as exc:
        raise HTTPException(422, str(exc)) from None
