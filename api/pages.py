"""Server-rendered pages (Chinese): login, the desk's intake form and receipt, the queue, the
case page with its timeline and actions, and the auditor's reports, overdue list and audit chain.

Every form post carries the session's CSRF token; times typed into a form are Beijing time.
"""

from __future__ import annotations

import hmac
import math
import re
import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api import access, page_data, service
from api.deps import (
    SESSION_COOKIE,
    Ctx,
    LoginRequired,
    PageUser,
    Principal,
    _lookup,
    check_csrf,
    client_address,
    context,
    no_nul_in_url,
)
from api.render import ENV, NOTICE_NAMES, TIER_NAMES
from api.service import ACTIONS, Refused
from domain.case_actions import PAUSE_REASONS
from domain.deadlines import SHANGHAI, lift_text
from domain.idcard import ID_TYPE_NAMES
from domain.lifecycle import ALLOWED, OPEN_STATUSES, STATUS_NAMES, Status
from domain.taxonomy import (
    CATEGORIES,
    CAUSES,
    CHANNELS,
    SEVERITY_NAMES,
    SOURCE_NAMES,
    TAG_NAMES,
    UNTRIAGED,
)
from models.security_log import record as record_security
from models.users import (
    ROLE_NAMES,
    LoginOutcome,
    change_password,
    create_session,
    end_session,
    sign_in,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(no_nul_in_url)])
LOGIN_CSRF = "login_csrf"
HOME = {"desk": "/desk/new", "auditor": "/audit"}
OUTBOX_ROLES = frozenset({"cpo", "admin"})  # who sees the dead letters of the notification outbox
TIME_FIELDS = frozenset({"at", "told_at", "customer_told_at", "requested_at"})  # Beijing time in forms


def render(request: Request, template: str, status: int = 200, who: Principal | None = None,
           **values: Any) -> HTMLResponse:
    base = {"request": request, "who": who, "role_names": ROLE_NAMES, "csrf": who.csrf if who else "",
            "flash": request.query_params.get("done", "")}
    html = ENV.get_template(template).render(**base, **values)
    return HTMLResponse(html, status_code=status)


# ---------------------------------------------------------------- Chinese messages

FIELD_LABELS = {
    "verified": "核实情况", "basis": "依据和理由", "remedies": "救济途径", "told_via": "告知方式", "told-via": "告知方式",
    "told_at": "告知时间", "told-at": "告知时间", "reason": "理由", "evidence": "凭证编号", "at": "时间",
    "to": "延至", "approver": "批准人", "approver_org": "批准机构", "approver-org": "批准机构",
    "approval_ref": "批准文号", "approval-ref": "批准文号", "customer_told_at": "告知投诉人时间",
    "customer-told-at": "告知投诉人时间", "customer_told_via": "告知投诉人方式", "customer-told-via": "告知投诉人方式",
    "requested_at": "申请时间", "requested-at": "申请时间", "handler": "承办人", "unmask": "显示完整个人信息",
    "case": "案件", "status": "状态", "clock": "计时", "csrf": "页面令牌", "level": "督办级别", "by": "确认人",
    "week": "周次", "table": "表", "limit": "条数",
}
_PYDANTIC = {
    "missing": "必填", "string_too_short": "不能为空", "literal_error": "不是可选值之一",
    "datetime_parsing": "不是有效的时间", "datetime_from_date_parsing": "不是有效的时间", "datetime_type": "不是有效的时间",
    "timezone_aware": "须带时区", "bool_parsing": "须为 true 或 false", "int_parsing": "须为整数",
    "extra_forbidden": "不是本表单的字段", "string_type": "须为文字", "value_error": "格式不正确",
}
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(\S+) is in the future"), "晚于当前时间"),
    (re.compile(r"is in the future"), "晚于当前时间"),
    (re.compile(r"(\S+) is before the complaint was received"), "早于收到投诉的时间"),
    (re.compile(r"must have a UTC offset"), "须带时区"),
    (re.compile(r"\S+ is not paused"), "案件当前未暂停计时，无需恢复"),
    (re.compile(r"cannot move a complaint from '(\w+)' \(.*?\) to '(\w+)' \(.*?\)"), "{transition}"),
    (re.compile(r"cannot (\w[\w ]*) a case that is '(\w+)'"), "案件当前状态为“{status1}”，不能办理此操作"),
    (re.compile(r"the form's token is missing.*"), "页面已过期，请刷新后重试"),
    (re.compile(r"the case is already assigned to.*"), "案件已由该承办人办理"),
    (re.compile(r"not routed yet.*"), "案件尚未分派，请等待系统分派"),
    (re.compile(r"an extension to 30 days is approved by the branch's 投诉处理工作负责人 \('?([^')]+)'?\).*"),
     "延期至 30 日须由本机构投诉处理工作负责人（{g1}）批准"),
    (re.compile(r"an extension to 60 days needs the approving 上级机构 or head office"), "延期至 60 日须注明批准的上级机构或总行"),
    (re.compile(r"'(.+)' is not a 上级机构 or head office \(known: (.+)\)"), "“{g1}”不是上级机构或总行（可选：{g2}）"),
    (re.compile(r"an extension to 60 days needs the approval's reference"), "延期至 60 日须填写批准文号"),
    (re.compile(r"the case is already '(\w+)'.*"), "案件已是“{tier1}”，延期只能由一般到复杂再到特殊"),
    (re.compile(r"the current deadline .* has passed.*"), "当前答复期限已过，延期须在期限内决定"),
    (re.compile(r"required$"), "必填"),
]


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def zh_problem(text: str) -> str:
    """A refusal line in Chinese: the field named by its Chinese label and known English wordings
    translated; a line with nothing Chinese left in it becomes '' (the caller drops it)."""
    field, sep, rest = text.partition(":")
    field = field.strip()
    label = ""
    if sep and (field in FIELD_LABELS or re.fullmatch(r"[a-z_.\-\[\]0-9]+", field)):
        label = FIELD_LABELS.get(field.split(".")[-1], FIELD_LABELS.get(field, ""))
        body = rest.strip()
    else:
        body = text.strip()
    for pattern, out in _PATTERNS:
        m = pattern.search(body)
        if not m:
            continue
        groups = m.groups()
        values = {f"g{i + 1}": g for i, g in enumerate(groups)}
        if "{transition}" in out:
            a, b = (_status_text(g) for g in groups[:2])
            body = f"案件当前状态为“{a}”，不能转为“{b}”"
        else:
            values["status1"] = _status_text(groups[1]) if len(groups) > 1 else ""
            values["tier1"] = TIER_NAMES.get(groups[0], groups[0]) if groups else ""
            body = out.format(**values)
        break
    line = f"{label}：{body}" if label else body
    return line if _has_cjk(body) else ""


def _status_text(value: str) -> str:
    try:
        return STATUS_NAMES[Status(value)]
    except ValueError:
        return value


def zh_validation(errors: Any, labels: dict[str, str] | None = None) -> list[str]:
    """pydantic errors as Chinese lines naming each field by its label."""
    names = {**FIELD_LABELS, **(labels or {})}
    out: list[str] = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = names.get(loc[-1], loc[-1]) if loc else "请求"
        kind = str(e.get("type", ""))
        text = _PYDANTIC.get(kind, "")
        if kind == "string_too_long":
            text = f"过长（最多 {e.get('ctx', {}).get('max_length', '')} 字）"
        elif kind == "literal_error":
            text = "不是可选值之一"
        out.append(f"{field}：{text or '格式不正确'}")
    return out


STATUS_TITLES = {401: "请先登录", 403: "无权访问", 404: "未找到", 405: "不支持的请求方式",
                 409: "当前状态不允许此操作", 413: "提交的内容过大", 422: "输入有误", 500: "系统出错",
                 503: "系统繁忙"}


def _status_detail(status: int, who: Principal | None) -> str:
    role = ROLE_NAMES.get(who.user.role, who.user.role) if who else ""
    return {
        401: "登录已失效，请重新登录。",
        403: f"您的账号{f'（{role}）' if role else ''}无权进行此操作或查看此内容。如需办理，请联系消保办或系统管理员。",
        404: "没有找到您要的页面或案件，请核对地址或受理编号。",
        405: "此页面不支持这种请求方式，请从页面上的按钮或链接进入。",
        409: "案件当前的状态不允许此操作。",
        422: "提交的内容有误，未保存任何数据。",
        500: "系统处理时出错，未完成此操作。请稍后重试；如仍出错，请联系系统管理员。",
    }.get(status, "请求未能完成。")


def error_page(request: Request, status: int, detail: str, errors: list[str]) -> HTMLResponse:
    """Every error a browser sees, in Chinese: a title per status, the detail when it is Chinese
    (else the status's Chinese explanation), and each problem line translated."""
    try:
        ctx = context(request)
        who = _lookup(request, ctx)
    except Exception:  # noqa: BLE001 - an error page must render even when the lookup fails
        who = None
    shown = detail if _has_cjk(detail) else (zh_problem(detail) or _status_detail(status, who))
    lines = [z for z in (e if _has_cjk(e) and not re.match(r"^[a-z_\-.]+:", e) else zh_problem(e)
                         for e in errors) if z]
    return render(request, "error.html.j2", status=status, who=who, status_code=status,
                  title=STATUS_TITLES.get(status, "请求未能完成"), detail=shown, errors=lines)


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
def login_form(request: Request, ctx: Ctx, next: str = "/") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html.j2", login_csrf=token, next=_safe_next(next), error="",
                      auth=ctx.config.policy.auth)
    response.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="lax", path="/login")
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/")))
    sent, cookie = str(form.get("csrf", "")), request.cookies.get(LOGIN_CSRF, "")
    if not sent or not cookie or not hmac.compare_digest(sent, cookie):
        return render(request, "login.html.j2", auth=ctx.config.policy.auth, status=403, login_csrf=cookie or "", next=target,
                      error="页面已过期，请刷新后重新登录")
    from starlette.concurrency import run_in_threadpool

    policy, address, now = ctx.config.policy.auth, client_address(request), ctx.now()

    def check() -> tuple[LoginOutcome, str | None]:
        """Throttled per account and per address (models/users.sign_in); one scrypt per attempt."""
        with ctx.session() as s:
            outcome = sign_in(s, username=username[:200], password=password, address=address, now=now,
                              policy=policy)
            sid = (create_session(s, user_id=outcome.user.id, now=now, policy=policy, address=address,
                                  user_agent=request.headers.get("user-agent"))
                   if outcome.user else None)
            return outcome, sid

    outcome, sid = await run_in_threadpool(check)
    if outcome.locked_until is not None:
        wait = max(1, math.ceil((outcome.locked_until - now).total_seconds()))
        locked = render(request, "login.html.j2", auth=ctx.config.policy.auth, status=429, login_csrf=cookie, next=target,
                        error=f"登录失败次数过多，该账户或本机地址已暂时锁定，{lift_text(outcome.locked_until)}后可再试")
        locked.headers["Retry-After"] = str(wait)
        return locked
    if sid is None:
        return render(request, "login.html.j2", auth=ctx.config.policy.auth, status=401, login_csrf=cookie, next=target, error="用户名或密码错误")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="lax", path="/",
                        secure=request.url.scheme == "https", max_age=policy.session_absolute_hours * 3600)
    response.delete_cookie(LOGIN_CSRF, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, ctx: Ctx, who: PageUser) -> Response:
    form = await request.form()
    check_csrf(who, str(form.get("csrf", "")))
    if who.session_id:
        with ctx.session() as s:
            end_session(s, who.session_id)
            record_security(s, kind="logout", at=ctx.now(), via="page", username=who.user.username,
                            user_id=who.user.id, address=client_address(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account/password", response_class=HTMLResponse)
def password_form(request: Request, who: PageUser) -> Response:
    return render(request, "account_password.html.j2", who=who, problems=[],
                  done=request.query_params.get("done") == "1")


@router.post("/account/password", response_class=HTMLResponse)
async def password_change(request: Request, ctx: Ctx, who: PageUser) -> Response:
    """One's own password (models/users.change_password): this browser stays signed in, the others end."""
    form = await request.form()
    check_csrf(who, str(form.get("csrf", "")))
    current, new = str(form.get("current_password", "")), str(form.get("password", ""))
    from starlette.concurrency import run_in_threadpool

    def change() -> list[str]:
        with ctx.session() as s:
            return change_password(s, username=who.user.username, current=current, new=new,
                                   address=client_address(request), now=ctx.now(), policy=ctx.config.policy.auth,
                                   keep_session=who.session_id)

    problems = await run_in_threadpool(change)
    if problems:
        return render(request, "account_password.html.j2", who=who, problems=problems, done=False, status=422)
    return RedirectResponse("/account/password?done=1", status_code=303)


@router.get("/")
def home(who: PageUser) -> Response:
    return RedirectResponse(HOME.get(who.user.role, "/queue"), status_code=303)


# ---------------------------------------------------------------- desk


def _form_choices(ctx: Any) -> dict[str, Any]:
    return {
        "sources": list(SOURCE_NAMES.items()), "channels": CHANNELS, "categories": CATEGORIES, "causes": CAUSES,
        "severities": list(SEVERITY_NAMES.items()), "tags": list(TAG_NAMES.items()),
        "branches": [(code, b.name) for code, b in ctx.config.org.branches.items()],
        "id_types": [(t.value, name) for t, name in ID_TYPE_NAMES.items()],
        "backdate_days": ctx.config.policy.intake.backdate_days,
    }


def _complaint_from_form(form: Any) -> dict[str, Any]:
    def get(name: str) -> str:
        return str(form.get(name, "")).strip()

    def pick(*names: str, prefix: str = "") -> dict[str, Any]:
        return {n: get(prefix + n) for n in names if get(prefix + n)}

    raw: dict[str, Any] = pick("source", "channel", "category", "cause", "severity", "branch", "outlet",
                               "respondent", "request", "facts", "vulnerable_note", "backdate_reason")
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
    complainant = pick("type", "name", "phone", "id_type", "id_number", "email", "address", "credit_code",
                       "legal_representative", prefix="complainant_")
    raw["complainant"] = complainant
    agent = pick("name", "phone", "id_type", "id_number", "authorization", prefix="agent_")
    if set(agent) - {"id_type"}:
        raw["agent"] = agent
    for key in ("request", "facts"):
        raw.setdefault(key, "")
    return raw


@router.get("/desk/new", response_class=HTMLResponse)
def desk_form(request: Request, ctx: Ctx, who: PageUser) -> Response:
    service._need(who, "submit")
    return render(request, "desk_form.html.j2", who=who, values={"branch": who.user.branch or "", "tags": []},
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
        values: dict[str, Any] = {k: str(v) for k, v in form.items() if k != "tags"}
        values["tags"] = [str(t) for t in form.getlist("tags")]  # every ticked tag, not only the last
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
    now = ctx.now()
    # Every section counted and paged by its own keyset cursor (services/workbench_queue.py).
    from api.pages_workbench import next_link
    from services import workbench_queue as wq

    cursors = {k: request.query_params.get(f"{k}_cursor") or None for k in ("escalated", "overdue", "soon", "open")}
    try:
        with ctx.unit(now=now) as uow:
            sections = wq.queue(uow, who.user, cursors)
    except wq.FilterError as exc:
        raise Refused(422, "翻页位置无效", exc.problems) from None
    links = {k: next_link(request, p.next_cursor, f"{k}_cursor") for k, p in sections.items()}
    outbox = None
    if who.user.role in OUTBOX_ROLES:  # the 消保办 lands here: dead letters are where it looks
        with ctx.session() as s:
            outbox = page_data.outbox_overview(s, now=now)
    return render(request, "queue.html.j2", who=who, sections=sections, links=links,
                  people=ctx.config.org.people, outbox=outbox)


@router.get("/overdue", response_class=HTMLResponse)
def overdue_list(request: Request, ctx: Ctx, who: PageUser) -> Response:
    """Every overdue case in the caller's scope, a page at a time (the case list, filtered)."""
    from api.pages_workbench import overdue_page

    return overdue_page(request, ctx, who)


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
        "reopen": Status.REOPENED in reachable and "reopen" in ACTIONS,
        "pause": is_open, "resume": is_open, "new-facts": is_open, "extend": is_open,
        "assign": is_open and "assign" in ACTIONS
        and access.may_act(who.user, row, ctx.config, "assign"),
    }
    person = who.user.person_id
    my_escalations = [e for e in case["escalations"] if e["acknowledged_at"] is None and person
                      and any(r.get("person") == person for r in e["recipients"])]
    org = ctx.config.org
    dept = org.find_department(case["department_branch"], case["department"]) if case["department"] else None
    handlers = sorted({h for b in org.branches.values() for d in b.departments.values() for h in d.handlers})
    with ctx.session() as s:
        extras = page_data.case_extras(s, case, config=ctx.config, calendar=ctx.calendar, now=ctx.now())
    review_org, review_person = page_data.review_owner(ctx.config)
    # evidence files, notes, contacts, transfer (issue 14)
    from api.routes_casework import case_panel

    wb = case_panel(ctx, who, row, unmask=case["personal_data"] == "unmasked")
    return render(request, "case.html.j2", status=status, who=who, case=case, can_act=can_act, x=extras, wb=wb,
                  review_org=review_org, review_person=review_person,
                  actions={k: v for k, v in shown.items() if v and can_act}, titles={**{k: a.title for k, a in ACTIONS.items()}, "escalation": "确认督办"},
                  may_unmask=access.may_unmask(who.user, row, ctx.config), my_escalations=my_escalations,
                  department_name=dept[1].name if dept else UNTRIAGED, people=org.people, handlers=handlers,
                  pause_reasons=PAUSE_REASONS, notice_ways=list(NOTICE_NAMES.items()), errors=errors or [],
                  problem=problem, now_local=ctx.now().astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S"),
                  gov=_governance(ctx, who, row))


def _governance(ctx: Any, who: Principal, row: Any) -> dict[str, Any]:
    """The case's outcome, root cause, call-backs and 整改 (api/pages_governance.py)."""
    from api.pages_governance import case_section

    return case_section(ctx, who, row)


@router.get("/cases/{case_no}", response_class=HTMLResponse)
def case_page(request: Request, case_no: str, ctx: Ctx, who: PageUser, unmask: bool = False) -> Response:
    return _case_page(request, ctx, who, case_no, unmask=unmask)


@router.get("/cases/{case_no}/letter", response_class=HTMLResponse)
def letter_page(request: Request, case_no: str, ctx: Ctx, who: PageUser) -> Response:
    """The 处理决定书 (Art. 19) as printed for the complainant: the three parts, the 救济途径 with the
    上级机构 for 核查, and how and when it was delivered (Art. 21). The complainant's name is unmasked
    only for roles that may unmask, and that view is recorded in the audit trail."""
    with ctx.session() as s:
        row = service.visible_row(s, ctx, who, case_no)
        response = page_data.latest_response(s, row.id)
    if response is None:
        raise Refused(409, f"案件 {case_no} 尚未答复，没有处理决定书",
                      [f"案件当前状态为“{_status_text(row.status)}”；答复后才能打印处理决定书"])
    may_unmask = access.may_unmask(who.user, row, ctx.config)
    case = service.view_case(ctx, who, case_no, unmask=may_unmask, via="web-letter")
    review_org, review_person = page_data.review_owner(ctx.config)
    return render(request, "letter.html.j2", who=who, case=case, response=response,
                  institution=ctx.config.institution, branch_name=page_data.branch_name(ctx.config, case["branch"]),
                  review_org=review_org, review_person=review_person, may_unmask=may_unmask,
                  decided_at=response["told_at"], gov=_governance(ctx, who, row))


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
        errors = (zh_validation(exc.errors()) if isinstance(exc, ValidationError)
                  else ["时间：不是有效的时间（格式如 2026-11-26T09:30）"])
        return _case_page(request, ctx, who, case_no, status=422, errors=errors, problem="输入有误，未保存")
    from starlette.concurrency import run_in_threadpool

    try:
        await run_in_threadpool(service.act, ctx, who, case_no, action, body)
    except Refused as exc:
        if exc.status not in (409, 422):
            raise
        lines = [z for z in (e if _has_cjk(e) and not re.match(r"^[a-z_\-.]+:", e) else zh_problem(e)
                             for e in exc.errors) if z]
        problem = "当前状态不允许此操作，未保存" if exc.status == 409 else "输入有误，未保存"
        return _case_page(request, ctx, who, case_no, status=exc.status, errors=lines or [_status_detail(exc.status, who)],
                          problem=problem)
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


@router.get("/reports/{week}", response_class=HTMLResponse)
def report_page(week: Annotated[str, Path(pattern=r"^\d{4}-W\d{2}$")], ctx: Ctx, who: PageUser) -> Response:
    """A frozen week's report, where the `report_ready` message links: after login, as frozen."""
    return HTMLResponse(service.report_html(ctx, who, week), headers={"Cache-Control": "no-store"})


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, ctx: Ctx, who: PageUser, full: bool = False) -> Response:
    result = service.audit_verify(ctx, who, full=full)
    overdue = service.list_visible(ctx, who, overdue=True, limit=20)
    return render(request, "audit.html.j2", who=who, result=result, overdue=overdue, checked_at=ctx.now(),
                  people=ctx.config.org.people, week_ago=ctx.now() - timedelta(days=7))


__all__ = ["LoginRequired", "error_page", "router"]
