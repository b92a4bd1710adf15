"""Server-rendered pages (Chinese): login, the desk's intake form and receipt, the queue, the
case page with its timeline and actions, and the auditor's reports, overdue list and audit chain.

Every form post carries the session's CSRF token; times typed into a form are Beijing time.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api import access, service
from api.deps import (
    SESSION_COOKIE,
    Ctx,
    LoginRequired,
    PageUser,
    Principal,
    check_csrf,
    context,
    no_nul_in_url,
    utcnow,
)
from api.render import ENV, NOTICE_NAMES
from api.service import ACTIONS, Refused
from domain.case_actions import PAUSE_REASONS
from domain.deadlines import SHANGHAI
from domain.lifecycle import ALLOWED, OPEN_STATUSES, Status
from domain.taxonomy import CATEGORIES, CAUSES, CHANNELS, SEVERITY_NAMES, SOURCE_NAMES, TAG_NAMES
from models import case_actions
from models.users import ROLE_NAMES, authenticate, create_session, end_session

router = APIRouter(include_in_schema=False, dependencies=[Depends(no_nul_in_url)])
LOGIN_CSRF = "login_csrf"
HOME = {"desk": "/desk/new", "auditor": "/audit"}
TIME_FIELDS = frozenset({"at", "told_at", "customer_told_at", "requested_at"})  # Beijing time in forms


def render(request: Request, template: str, status: int = 200, who: Principal | None = None,
           **values: Any) -> HTMLResponse:
    base = {"request": request, "who": who, "role_names": ROLE_NAMES, "csrf": who.csrf if who else "",
            "flash": request.query_params.get("done", "")}
    html = ENV.get_template(template).render(**base, **values)
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int, detail: str, errors: list[str]) -> HTMLResponse:
    try:
        ctx = context(request)
        from api.deps import _lookup

        who = _lookup(request, ctx)
    except Exception:  # noqa: BLE001 - an error page must render even when the lookup fails
        who = None
    return render(request, "error.html.j2", status=status, who=who, status_code=status, detail=detail, errors=errors)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _parse_local(value: str | None) -> datetime | None:
    """A datetime-local field (Beijing time) or an ISO instant with offset; None when empty."""
    if not value:
        return None
    at = datetime.fromisoformat(value)
    return at.replace(tzinfo=SHANGHAI) if at.utcoffset() is None else at


# ---------------------------------------------------------------- login


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html.j2", login_csrf=token, next=_safe_next(next), error="")
    response.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="lax", path="/login")
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/")))
    sent, cookie = str(form.get("csrf", "")), request.cookies.get(LOGIN_CSRF, "")
    if not sent or not cookie or not hmac.compare_digest(sent, cookie):
        return render(request, "login.html.j2", status=403, login_csrf=cookie or "", next=target,
                      error="页面已过期，请刷新后重新登录")
    from starlette.concurrency import run_in_threadpool

    def check() -> str | None:
        with ctx.session() as s:
            user = authenticate(s, username=username, password=password)
            return create_session(s, user_id=user.id, now=utcnow()) if user else None

    sid = await run_in_threadpool(check)
    if sid is None:
        return render(request, "login.html.j2", status=401, login_csrf=cookie, next=target, error="用户名或密码错误")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="lax", path="/",
                        secure=request.url.scheme == "https", max_age=12 * 3600)
    response.delete_cookie(LOGIN_CSRF, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, ctx: Ctx, who: PageUser) -> Response:
    form = await request.form()
    check_csrf(who, str(form.get("csrf", "")))
    if who.session_id:
        with ctx.session() as s:
            end_session(s, who.session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(who: PageUser) -> Response:
    return RedirectResponse(HOME.get(who.user.role, "/queue"), status_code=303)


# ---------------------------------------------------------------- desk


def _form_choices(ctx: Any) -> dict[str, Any]:
    return {
        "sources": list(SOURCE_NAMES.items()), "channels": CHANNELS, "categories": CATEGORIES, "causes": CAUSES,
        "severities": list(SEVERITY_NAMES.items()), "tags": list(TAG_NAMES.items()),
        "branches": [(code, b.name) for code, b in ctx.config.org.branches.items()],
    }


def _complaint_from_form(form: Any) -> dict[str, Any]:
    def get(name: str) -> str:
        return str(form.get(name, "")).strip()

    def pick(*names: str, prefix: str = "") -> dict[str, Any]:
        return {n: get(prefix + n) for n in names if get(prefix + n)}

    raw: dict[str, Any] = pick("source", "channel", "category", "cause", "severity", "branch", "outlet",
                               "respondent", "request", "facts", "vulnerable_note")
    received = get("received_at")
    if received:
        try:
            parsed = _parse_local(received)
            raw["received_at"] = parsed.isoformat() if parsed else None
        except ValueError:
            raw["received_at"] = received  # the model names the field
    if get("group_size"):
        raw["group_size"] = get("group_size")
    raw["tags"] = [str(t) for t in form.getlist("tags")]
    raw["vulnerable"] = get("vulnerable") == "on"
    complainant = pick("type", "name", "phone", "id_number", "email", "address", "credit_code",
                       "legal_representative", prefix="complainant_")
    raw["complainant"] = complainant
    agent = pick("name", "phone", "id_number", "authorization", prefix="agent_")
    if agent:
        raw["agent"] = agent
    for key in ("request", "facts"):
        raw.setdefault(key, "")
    return raw


@router.get("/desk/new", response_class=HTMLResponse)
def desk_form(request: Request, ctx: Ctx, who: PageUser) -> Response:
    service._need(who, "submit")
    return render(request, "desk_form.html.j2", who=who, values={"branch": who.user.branch or ""},
                  errors=[], form_key=secrets.token_urlsafe(16), **_form_choices(ctx))


@router.post("/desk/new", response_class=HTMLResponse)
async def desk_submit(request: Request, ctx: Ctx, who: PageUser) -> Response:
    form = await request.form()
    check_csrf(who, str(form.get("csrf", "")))
    raw = _complaint_from_form(form)
    key = str(form.get("form_key", "")) or None
    from starlette.concurrency import run_in_threadpool

    try:
        result = await run_in_threadpool(service.submit_complaint, ctx, who, raw,
                                         idempotency_key=f"web-{key}" if key else None)
    except Refused as exc:
        if exc.status != 422:
            raise
        values = {k: str(v) for k, v in form.items()}
        return render(request, "desk_form.html.j2", status=422, who=who, values=values, errors=exc.errors,
                      form_key=key or secrets.token_urlsafe(16), **_form_choices(ctx))
    return RedirectResponse(f"/desk/receipt/{quote(result.case_no)}", status_code=303)


@router.get("/desk/receipt/{case_no}", response_class=HTMLResponse)
def receipt(request: Request, case_no: str, ctx: Ctx, who: PageUser) -> Response:
    case = service.view_case(ctx, who, case_no, via="web")
    return render(request, "receipt.html.j2", who=who, case=case, institution=ctx.config.institution,
                  branch_name=ctx.config.org.branches[case["branch"]].name if case["branch"] in ctx.config.org.branches
                  else case["branch"])


# ---------------------------------------------------------------- queue and cases


@router.get("/queue", response_class=HTMLResponse)
def queue(request: Request, ctx: Ctx, who: PageUser) -> Response:
    service._need(who, "read_cases")
    now = utcnow()
    overdue = service.list_visible(ctx, who, overdue=True, now=now, limit=100)
    due_soon = service.list_visible(ctx, who, due_within=service.DUE_SOON, now=now, limit=100)
    escalated = service.escalations_for(ctx, who) if access.allowed(who.user, "escalations") else []
    mine = [c for c in service.list_visible(ctx, who, now=now, limit=300)
            if c["status"] in {s.value for s in OPEN_STATUSES}]
    return render(request, "queue.html.j2", who=who, overdue=overdue, due_soon=due_soon, escalated=escalated,
                  mine=mine, people=ctx.config.org.people)


@router.get("/overdue", response_class=HTMLResponse)
def overdue_list(request: Request, ctx: Ctx, who: PageUser) -> Response:
    cases = service.list_visible(ctx, who, overdue=True, limit=1000)
    return render(request, "cases.html.j2", who=who, title="逾期未答复", cases=cases, people=ctx.config.org.people)


def _case_page(request: Request, ctx: Any, who: Principal, case_no: str, *, unmask: bool = False,
               status: int = 200, errors: list[str] | None = None, problem: str = "") -> HTMLResponse:
    case = service.view_case(ctx, who, case_no, unmask=unmask, via="web")
    current = Status(case["status"])
    reachable = ALLOWED[current]
    with ctx.session() as s:
        row = service.visible_row(s, ctx, who, case_no)
    can_act = access.may_act(who.user, row, ctx.config, "act")
    is_open = current in OPEN_STATUSES
    shown = {
        "acknowledge": Status.ACKNOWLEDGED in reachable,
        "respond": Status.RESPONDED in reachable,
        "close": Status.CLOSED in reachable,
        "withdraw": Status.WITHDRAWN in reachable,
        "review": Status.UNDER_REVIEW in reachable,
        "reopen": Status.REOPENED in reachable and hasattr(case_actions, "reopen"),
        "pause": is_open, "resume": is_open, "new-facts": is_open, "extend": is_open,
        "assign": is_open and hasattr(case_actions, "assign")
        and access.may_act(who.user, row, ctx.config, "assign"),
    }
    person = who.user.person_id
    my_escalations = [e for e in case["escalations"] if e["acknowledged_at"] is None and person
                      and any(r.get("person") == person for r in e["recipients"])]
    org = ctx.config.org
    dept = org.find_department(case["department_branch"], case["department"]) if case["department"] else None
    handlers = sorted({h for b in org.branches.values() for d in b.departments.values() for h in d.handlers})
    return render(request, "case.html.j2", status=status, who=who, case=case, can_act=can_act,
                  actions={k: v for k, v in shown.items() if v and can_act}, titles={k: a.title for k, a in ACTIONS.items()},
                  may_unmask=access.may_unmask(who.user, row, ctx.config), my_escalations=my_escalations,
                  department_name=dept[1].name if dept else "待分拣", people=org.people, handlers=handlers,
                  pause_reasons=PAUSE_REASONS, notice_ways=list(NOTICE_NAMES.items()), errors=errors or [],
                  problem=problem, now_local=utcnow().astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S"))


@router.get("/cases/{case_no}", response_class=HTMLResponse)
def case_page(request: Request, case_no: str, ctx: Ctx, who: PageUser, unmask: bool = False) -> Response:
    return _case_page(request, ctx, who, case_no, unmask=unmask)


def _body_from_form(action: str, form: Any) -> Any:
    model = ACTIONS[action].body
    data: dict[str, Any] = {}
    for name in model.model_fields:
        value = str(form.get(name, "")).strip()
        if value:
            data[name] = _parse_local(value) if name in TIME_FIELDS else value
    return model.model_validate(data)


@router.post("/cases/{case_no}/act/{action}", response_class=HTMLResponse)
async def case_action(request: Request, case_no: str, action: str, ctx: Ctx, who: PageUser) -> Response:
    form = await request.form()
    check_csrf(who, str(form.get("csrf", "")))
    if action not in ACTIONS:
        raise Refused(404, f"no action {action!r}")
    try:
        body = _body_from_form(action, form)
    except (ValidationError, ValueError) as exc:
        errors = ([f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
                  if isinstance(exc, ValidationError) else [str(exc)])
        return _case_page(request, ctx, who, case_no, status=422, errors=errors, problem="输入有误")
    from starlette.concurrency import run_in_threadpool

    try:
        await run_in_threadpool(service.act, ctx, who, case_no, action, body)
    except Refused as exc:
        if exc.status not in (409, 422):
            raise
        return _case_page(request, ctx, who, case_no, status=exc.status, errors=exc.errors, problem=exc.detail)
    return RedirectResponse(f"/cases/{quote(case_no)}?done={quote(action)}", status_code=303)


@router.post("/cases/{case_no}/escalations/{level}/acknowledge")
async def case_ack_escalation(request: Request, case_no: str, level: int, ctx: Ctx, who: PageUser) -> Response:
    form = await request.form()
    check_csrf(who, str(form.get("csrf", "")))
    service.ack_escalation(ctx, who, case_no, level)
    return RedirectResponse(f"/cases/{quote(case_no)}?done=escalation", status_code=303)


# ---------------------------------------------------------------- auditors


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, ctx: Ctx, who: PageUser) -> Response:
    reports = service.reports(ctx, who)
    tables: list[str] = []
    if reports:
        tables = sorted(service.report(ctx, who, reports[0]["week"])["content"]["tables"])
    return render(request, "reports.html.j2", who=who, reports=reports, tables=tables)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, ctx: Ctx, who: PageUser) -> Response:
    result = service.audit_verify(ctx, who)
    overdue = service.list_visible(ctx, who, overdue=True, limit=20)
    return render(request, "audit.html.j2", who=who, result=result, overdue=overdue, checked_at=utcnow(),
                  people=ctx.config.org.people, week_ago=utcnow() - timedelta(days=7))


__all__ = ["LoginRequired", "error_page", "router"]
