"""Workbench pages: the case list with its filters, saved views and pages (/cases), search (/search),
and saving a view. My queue (/queue) and the overdue list (/overdue) in api/pages.py use the same
service (services/workbench_queue.py). Lists are masked; a role that may unmask opens the case.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import service
from api.deps import Ctx, PageUser, check_csrf, no_nul_in_url
from domain.lifecycle import STATUS_NAMES
from domain.taxonomy import CATEGORIES, SEVERITY_NAMES, SOURCE_NAMES, TAG_NAMES
from models.case_views import CaseSummary
from models.queries_workbench import Page
from services import workbench_queue as wq

router = APIRouter(include_in_schema=False, dependencies=[Depends(no_nul_in_url)])


def _params(request: Request) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in ("cursor", "view") or not value.strip():
            continue
        out.setdefault(key, []).append(value)
    return out


def next_link(request: Request, cursor: str | None, name: str = "cursor") -> str | None:
    """This page's address with the next page's cursor (other sections' cursors kept)."""
    if not cursor:
        return None
    items = [(k, v) for k, v in request.query_params.multi_items() if k != name]
    return f"{request.url.path}?{urlencode([*items, (name, cursor)])}"


def choices(ctx: Any) -> dict[str, Any]:
    org = ctx.config.org
    departments = sorted({(code, d.name) for b in org.branches.values() for code, d in b.departments.items()})
    handlers = sorted({h for b in org.branches.values() for d in b.departments.values() for h in d.handlers})
    return {
        "statuses": [(s.value, n) for s, n in STATUS_NAMES.items()],
        "severities": [(s.value, n) for s, n in SEVERITY_NAMES.items()],
        "sources": [(s.value, n) for s, n in SOURCE_NAMES.items()],
        "tag_choices": [(t.value, n) for t, n in TAG_NAMES.items()],
        "categories": CATEGORIES, "departments": departments,
        "branches": [(code, b.name) for code, b in org.branches.items()],
        "handlers": [(h, org.people[h].name if h in org.people else h) for h in handlers],
    }


def _list_page(request: Request, ctx: Any, who: Any, *, title: str, searching: bool,
               preset: dict[str, Any] | None = None) -> HTMLResponse:
    from api.pages import render

    service._need(who, "read_cases")
    params = _params(request)
    errors: list[str] = []
    result: Page[CaseSummary] | None = None
    with ctx.unit() as uow:
        views = wq.views(uow, who.user)
        view = request.query_params.get("view")
        try:
            if view:
                params = {k: [v] for k, v in wq.view_params(uow, who.user, view).items()}
            if preset:
                params = {**preset, **params}
            f = wq.parse_filter(params)
            has_query = bool(f.q or f.phone or f.id_number or f.card)
            if not searching or has_query:
                run = wq.search if searching else wq.list_cases
                result = run(uow, who.user, f, cursor=request.query_params.get("cursor") or None)
        except wq.FilterError as exc:
            errors = exc.problems
    values = {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in params.items()}
    status = 422 if errors else 200
    return render(request, "workbench_list.html.j2", status=status, who=who, title=title, searching=searching,
                  page=result, errors=errors, values=values, views=views, current_view=request.query_params.get("view"),
                  next_url=next_link(request, result.next_cursor) if result else None,
                  query=urlencode([(k, x) for k, v in params.items() for x in (v if isinstance(v, list) else [v])]),
                  people=ctx.config.org.people, **choices(ctx))


@router.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request, ctx: Ctx, who: PageUser) -> Response:
    """Every case the user may see, filtered; open work soonest deadline first, history newest first."""
    return _list_page(request, ctx, who, title="案件列表", searching=False)


def overdue_page(request: Request, ctx: Any, who: Any) -> HTMLResponse:
    return _list_page(request, ctx, who, title="逾期未答复", searching=False, preset={"overdue": ["true"]})


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, ctx: Ctx, who: PageUser) -> Response:
    """Search by words (Chinese: any 2+ characters), case number, phone, ID or card number."""
    return _list_page(request, ctx, who, title="搜索案件", searching=True)


@router.post("/views")
async def save_view(request: Request, ctx: Ctx, who: PageUser) -> Response:
    from urllib.parse import parse_qs

    form = await request.form()
    check_csrf(who, str(form.get("csrf", "")))
    service._need(who, "read_cases")
    name, query = str(form.get("name", "")), str(form.get("query", ""))
    try:
        with ctx.unit() as uow:
            wq.save_view(uow, who.user, name, parse_qs(query))
    except wq.FilterError as exc:
        raise service.Refused(422, "视图未保存", exc.problems) from None
    return RedirectResponse(f"/cases?{urlencode({'view': name.strip()})}", status_code=303)
