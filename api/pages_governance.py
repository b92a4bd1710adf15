"""The pages of 投诉治理 (docs/governance.md): the governance section of the case page (outcome, root cause,
call-backs, 整改), the 待回访 list, and the 整改 list and item pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import access
from api.deps import Context, Ctx, PageUser, Principal, check_csrf
from api.governance_access import MANAGE, branches_of, callback_scope, need, run
from domain.deadlines import local_date
from domain.governance import (
    FOLLOWUP_NAMES,
    OUTCOME_NAMES,
    REDRESS_NAMES,
    SATISFACTION_NAMES,
)
from domain.taxonomy import CATEGORIES
from services import governance

router = APIRouter()


def _render(request: Request, template: str, who: Principal, **values: Any) -> HTMLResponse:
    from api.pages import render

    return render(request, template, who=who, **values)


def choices() -> dict[str, Any]:
    return {"outcomes": [(m.value, n) for m, n in OUTCOME_NAMES.items()],
            "redress": [(m.value, n) for m, n in REDRESS_NAMES.items()],
            "satisfaction": [(m.value, n) for m, n in SATISFACTION_NAMES.items()],
            "followups": [(m.value, n) for m, n in FOLLOWUP_NAMES.items()]}


def case_section(ctx: Context, who: Principal, row: Any) -> dict[str, Any]:
    """What the case page and the letter show of the case's governance, and the forms' choices."""
    with ctx.session() as s:
        data = governance.case_governance(s, ctx.config, row.id)
    pending = [c for c in data["callbacks"] if c["result"] == "pending"]
    return {**data, **choices(), "root_causes": governance.root_cause_choices(ctx.config),
            "pending": pending[-1] if pending else None, "now": ctx.now(),
            "may_callback": access.may_act(who.user, row, ctx.config, "act"),
            "may_manage": access.allowed(who.user, MANAGE) and access.can_see(who.user, row, ctx.config),
            "default_due": (local_date(ctx.now()) + timedelta(days=30)).isoformat()}


def _form(form: Any, *names: str) -> dict[str, str | None]:
    return {n: (str(form.get(n, "")).strip() or None) for n in names}


@router.post("/cases/{case_no}/callback", response_class=HTMLResponse)
async def case_callback(request: Request, case_no: str, ctx: Ctx, who: PageUser) -> Response:
    form = await request.form()
    check_csrf(who, str(form.get("csrf", "")))
    need(who, "act")
    values = _form(form, "result", "satisfaction", "then", "reason")
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(run, ctx, lambda uow: governance.record_callback(
        uow, case_no=case_no, result=values["result"] or "", satisfaction=values["satisfaction"], then=values["then"],
        reason=values["reason"], actor=who.user.username), case_no=case_no, who=who)
    return RedirectResponse(f"/cases/{quote(case_no)}?done=callback", status_code=303)


@router.get("/callbacks", response_class=HTMLResponse)
def callbacks_page(request: Request, ctx: Ctx, who: PageUser) -> Response:
    need(who, "read_cases")
    rows = run(ctx, lambda uow: governance.pending_callbacks(uow, **callback_scope(ctx, who)))
    return _render(request, "callbacks.html.j2", who, rows=rows, people=ctx.config.org.people,
                   branches=ctx.config.org.branches)


def _departments(ctx: Context) -> list[tuple[str, str, str]]:
    return [(b.code, d.code, f"{b.name} {d.name}") for b in ctx.config.org.branches.values()
            for d in b.departments.values()]


@router.get("/remediation", response_class=HTMLResponse)
def remediation_page(request: Request, ctx: Ctx, who: PageUser, status: str | None = None) -> Response:
    need(who, "read_cases")
    items = run(ctx, lambda uow: governance.list_remediation(uow, status=status or None,
                                                             branches=branches_of(ctx, who)))
    return _render(request, "remediation.html.j2", who, items=items, filter_status=status or "",
                   may_manage=access.allowed(who.user, MANAGE), root_causes=governance.root_cause_choices(ctx.config),
                   categories=CATEGORIES, branches=ctx.config.org.branches, departments=_departments(ctx),
                   default_due=(local_date(ctx.now()) + timedelta(days=30)).isoformat())


@router.post("/remediation", response_class=HTMLResponse)
async def remediation_add(request: Request, ctx: Ctx, who: PageUser) -> Response:
    form = await request.form()
    check_csrf(who, str(form.get("csrf", "")))
    need(who, MANAGE)
    v = _form(form, "title", "due", "from_case", "root_cause", "category", "branch", "owner")
    owner_branch, _, owner_department = (v.pop("owner") or "").partition("/")
    from starlette.concurrency import run_in_threadpool

    out = await run_in_threadpool(run, ctx, lambda uow: governance.add_remediation(
        uow, title=v["title"] or "", due=v["due"], actor=who.user.username, from_case=v["from_case"],
        root_cause=v["root_cause"], category=v["category"], branch=v["branch"],
        owner_department=owner_department or None, owner_branch=owner_branch or None))
    return RedirectResponse(f"/remediation/{quote(out['ref'])}?done=remediation", status_code=303)


@router.get("/remediation/{ref}", response_class=HTMLResponse)
def remediation_item_page(request: Request, ref: str, ctx: Ctx, who: PageUser) -> Response:
    need(who, "read_cases")
    item = run(ctx, lambda uow: governance.report(uow, ref))
    found = ctx.config.org.find_department(item["owner_branch"], item["owner_department"])
    return _render(request, "remediation_item.html.j2", who, item=item,
                   owner=f"{found[0].name} {found[1].name}" if found else item["owner_department"],
                   may_manage=access.allowed(who.user, MANAGE), people=ctx.config.org.people)


@router.post("/remediation/{ref}/close", response_class=HTMLResponse)
async def remediation_close(request: Request, ref: str, ctx: Ctx, who: PageUser) -> Response:
    form = await request.form()
    check_csrf(who, str(form.get("csrf", "")))
    need(who, MANAGE)
    evidence = str(form.get("evidence", "")).strip() or None
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(run, ctx, lambda uow: governance.close_remediation(uow, ref=ref, evidence=evidence,
                                                                                actor=who.user.username))
    return RedirectResponse(f"/remediation/{quote(ref)}?done=close", status_code=303)
