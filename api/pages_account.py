"""One's own sign-ins (登录会话, ASVS 3.3.4) and the security log (安全日志, ASVS 7.1.3 / 7.2.1 / 7.2.2).

`/account/sessions`: every browser session of the signed-in user that has not ended — when and
from where it signed in, when it was last used, when it ends — and their API tokens. Ending one
other session, or all others, asks for the current password again (checked as a sign-in is:
throttled, a wrong one counts towards the account's lockout). This browser's own session ends
with 退出.

`/audit/security`: the security log, newest first, for 消保办, 审计 and 管理员 (the `audit`
permission), filtered by user and kind; the same rows as `complaints security log`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.deps import Ctx, PageUser, check_csrf, client_address, no_nul_in_url, require
from api.pages import render
from models.security_log import KINDS, recent
from models.users import end_own_sessions, list_sessions, reauthenticate, user_tokens

router = APIRouter(include_in_schema=False, dependencies=[Depends(no_nul_in_url)])
LOG_PAGE = 100


@router.get("/account/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, ctx: Ctx, who: PageUser) -> Response:
    return _sessions(request, ctx, who, problems=[], status=200)


def _sessions(request: Request, ctx: Ctx, who: PageUser, *, problems: list[str], status: int) -> Response:
    now = ctx.now()
    with ctx.session() as s:
        mine = list_sessions(s, user_id=who.user.id, now=now, policy=ctx.config.policy.auth, current=who.session_id)
        tokens = user_tokens(s, user_id=who.user.id)
    return render(request, "account_sessions.html.j2", status=status, who=who, sessions=mine, tokens=tokens,
                  problems=problems, now=now, ended=request.query_params.get("ended"),
                  auth=ctx.config.policy.auth)


@router.post("/account/sessions", response_class=HTMLResponse)
async def end_sessions_form(request: Request, ctx: Ctx, who: PageUser) -> Response:
    """End one other session (`session` = its number) or every other (`session` = `others`), after
    the current password is given again."""
    form = await request.form()
    check_csrf(who, str(form.get("csrf", "")))
    choice, password = str(form.get("session", "")), str(form.get("current_password", ""))
    which: int | None = None
    if choice != "others":
        if not choice.isdigit() or len(choice) > 12:
            return _sessions(request, ctx, who, problems=["session（会话）：请选择要结束的会话"], status=422)
        which = int(choice)
    if not who.session_id:
        return _sessions(request, ctx, who, problems=["session（会话）：只有浏览器登录能结束会话"], status=422)
    now, address, keep = ctx.now(), client_address(request), who.session_id

    def end() -> tuple[list[str], int]:
        with ctx.session() as s:
            outcome, problems = reauthenticate(s, username=who.user.username, password=password, address=address,
                                               now=now, policy=ctx.config.policy.auth)
            if outcome.user is None:
                return problems, 0
            return [], end_own_sessions(s, user=who.user, keep=keep, which=which, now=now, address=address)

    problems, ended = await run_in_threadpool(end)
    if problems:
        return _sessions(request, ctx, who, problems=problems, status=422)
    return RedirectResponse(f"/account/sessions?ended={ended}", status_code=303)


@router.get("/audit/security", response_class=HTMLResponse)
def security_log_page(request: Request, ctx: Ctx, who: PageUser, user: str = "", kind: str = "",
                      days: int = 7, before: int | None = None) -> Response:
    require(who, "audit")
    days = max(1, min(days, 366))
    kinds = (kind,) if kind in KINDS else ()
    since: datetime = ctx.now() - timedelta(days=days)
    with ctx.session() as s:
        rows = recent(s, since=since, username=user.strip()[:64] or None, kinds=kinds, before_id=before,
                      limit=LOG_PAGE + 1)
    more = len(rows) > LOG_PAGE
    return render(request, "security_log.html.j2", who=who, rows=rows[:LOG_PAGE], kinds=KINDS, user=user[:64],
                  kind=kind if kinds else "", days=days, more=more, next_before=rows[LOG_PAGE - 1].id if more else None)
