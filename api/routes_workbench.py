"""The workbench's JSON API: case lists with filters and keyset cursors, search, my queue, saved views.

`GET /api/complaints` keeps its body (a list of cases) and its old parameters (status, department,
overdue, due_within_days, limit); the next page's cursor is in the `X-Next-Cursor` header (absent on
the last page) and the total in `X-Total-Count`. `GET /api/cases` answers the same with
`{items, next_cursor, count, sort}`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from api import service
from api.deps import ApiUser, Ctx, no_nul_in_url
from api.routes_api import ERRORS
from api.schemas import CaseSummary, EscalationOut
from api.serialize import local
from services import workbench_queue as wq

router = APIRouter(prefix="/api", responses=ERRORS, dependencies=[Depends(no_nul_in_url)])
Limit = Annotated[int, Query(ge=1, le=1000, description="cases per page")]
Cursor = Annotated[str | None, Query(max_length=200, description="the next_cursor of the previous page")]

FILTER_DOC = (
    "Filters (query parameters, all optional): status (repeat or comma-separate), open, department, handler, "
    "branch, outlet, category, severity, tags (all of), source, received_from / received_to / due_from / due_to "
    "(a date in Beijing, or an instant with offset), overdue, due_within_days, paused, triage, escalated_level "
    "(at least this level fired), mine (I take part), q (full text: every term, 2+ characters each), phone, "
    "id_number, card (found through keyed hashes; results masked), sort (due | newest; default: due for open "
    "work, newest otherwise), cursor.")


class CasePage(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None
    count: int | None
    count_capped: bool = False  # more match than count says (lists count up to 10,000)
    sort: str


class EscalationPage(BaseModel):
    items: list[EscalationOut]
    next_cursor: str | None
    count: int | None
    count_capped: bool = False
    sort: str


class QueueOut(BaseModel):
    escalated: EscalationPage | None = None
    overdue: CasePage
    soon: CasePage
    open: CasePage


class ViewOut(BaseModel):
    name: str
    query: str
    builtin: bool


class ViewIn(BaseModel):
    name: str
    query: str  # the list's query string, e.g. "overdue=true&department=card"


def _params(request: Request) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in ("cursor", "limit"):
            continue
        out.setdefault(key, []).append(value)
    return out


def _refused(exc: wq.FilterError) -> service.Refused:
    return service.Refused(422, "筛选条件无效", exc.problems)


def _page(ctx: Any, who: Any, request: Request, cursor: str | None, limit: int, *, searching: bool = False) -> Any:
    service._need(who, "read_cases")
    try:
        f = wq.parse_filter(_params(request))
        with ctx.unit() as uow:
            if searching:
                return wq.search(uow, who.user, f, cursor=cursor, limit=limit)
            return wq.list_cases(uow, who.user, f, cursor=cursor, limit=limit)
    except wq.FilterError as exc:
        raise _refused(exc) from None


@router.get("/complaints", response_model=list[CaseSummary], summary="cases the caller may see, filtered, a page at a time",
            description=FILTER_DOC + " The next page: the X-Next-Cursor header (absent on the last one); "
                                     "the total: X-Total-Count (counted up to 10,000: past that, "
                                     "X-Total-Count-Capped: true).")
def get_complaints(request: Request, response: Response, ctx: Ctx, who: ApiUser, cursor: Cursor = None,
                   limit: Limit = 200) -> Any:
    p = _page(ctx, who, request, cursor, limit, searching=bool(request.query_params.get("q") or any(
        request.query_params.get(k) for k in ("phone", "id_number", "card"))))
    if p.next_cursor:
        response.headers["X-Next-Cursor"] = p.next_cursor
    if p.count is not None:
        response.headers["X-Total-Count"] = str(p.count)
        if p.count_capped:  # more than that: lists count up to 10,000 (the statistics give exact figures)
            response.headers["X-Total-Count-Capped"] = "true"
    return local(p.items)


@router.get("/cases", response_model=CasePage, summary="cases the caller may see: a page with its cursor and count",
            description=FILTER_DOC)
def get_cases(request: Request, ctx: Ctx, who: ApiUser, cursor: Cursor = None, limit: Limit = 50) -> Any:
    return local(wq.page_json(_page(ctx, who, request, cursor, limit)))


@router.get("/search", response_model=CasePage, summary="search cases: text (Chinese too), phone, ID or card number",
            description=FILTER_DOC + " No count: pages follow next_cursor.")
def get_search(request: Request, ctx: Ctx, who: ApiUser, cursor: Cursor = None, limit: Limit = 50) -> Any:
    return local(wq.page_json(_page(ctx, who, request, cursor, limit, searching=True)))


@router.get("/queue", response_model=QueueOut, summary="my queue: escalations to me, overdue, due in 3 days, open")
def get_queue(ctx: Ctx, who: ApiUser, escalated_cursor: Cursor = None, overdue_cursor: Cursor = None,
              soon_cursor: Cursor = None, open_cursor: Cursor = None,
              limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Any:
    service._need(who, "read_cases")
    cursors = {"escalated": escalated_cursor, "overdue": overdue_cursor, "soon": soon_cursor, "open": open_cursor}
    try:
        with ctx.unit() as uow:
            sections = wq.queue(uow, who.user, cursors, limit=limit)
    except wq.FilterError as exc:
        raise _refused(exc) from None
    return local({k: wq.page_json(v) for k, v in sections.items()})


@router.get("/views", response_model=list[ViewOut], summary="my saved views (the built-in ones first)")
def get_views(ctx: Ctx, who: ApiUser) -> Any:
    service._need(who, "read_cases")
    with ctx.unit() as uow:
        return wq.views(uow, who.user)


@router.post("/views", response_model=ViewOut, summary="save (or replace) a named view of a filter")
def post_view(body: ViewIn, ctx: Ctx, who: ApiUser) -> Any:
    from urllib.parse import parse_qs

    service._need(who, "read_cases")
    service.refuse_nul(body.model_dump(mode="json"))  # PostgreSQL cannot store a NUL: 422 naming the field
    try:
        with ctx.unit() as uow:
            return {**wq.save_view(uow, who.user, body.name, parse_qs(body.query)), "builtin": False}
    except wq.FilterError as exc:
        raise _refused(exc) from None
