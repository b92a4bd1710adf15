"""What every request needs: the app's config and engine, and who is asking.

API clients send `Authorization: Bearer <token>`; browsers carry the `session` cookie (HttpOnly,
SameSite=Lax). Both are looked up by their sha256 on every request (no cache: a revoked token,
a disabled user or an ended session is refused on the next request). Form posts from the browser
also carry the session's CSRF token (derived from the session id, so a page on another site
cannot know it). Unknown bearer tokens count as failed attempts of the client's address; an
address over its limit gets 429 with Retry-After until the lock lifts (models/users.py).
"""

from __future__ import annotations

import hmac
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, HTTPException, Request
from sqlalchemy.exc import DBAPIError

from api.access import allowed
from api.batching import SubmitBatcher
from api.errors import NUL_REFUSED, Refused, forbidden
from domain.deadlines import lift_text
from domain.field_names import refusal
from models.schemas import ComplaintIn, SubmitResult
from models.security_log import emit as emit_security
from models.security_log import record as record_security
from models.users import (
    User,
    csrf_token,
    locked_until,
    record_failure,
    token_digest,
    token_user,
    user_for_session,
)
from services import cases
from services.unit_of_work import Runtime

SESSION_COOKIE = "session"
LOG = logging.getLogger(__name__)


@dataclass
class Context(Runtime):
    """The web's Runtime (services/unit_of_work.py) with its submit batcher."""

    @cached_property
    def batcher(self) -> SubmitBatcher:
        """Concurrent submissions share a transaction (api/batching.py); each request announces its own case."""

        def store(items: list[ComplaintIn], actor: str) -> list[SubmitResult]:
            return cases.submit(self, items, now=self.now(), actor=actor, client=actor, announce=False)

        return SubmitBatcher(store)


@dataclass(frozen=True)
class Principal:
    user: User
    via: str  # "token" or "session"
    session_id: str | None = None

    @property
    def csrf(self) -> str:
        return csrf_token(self.session_id) if self.session_id else ""


class LoginRequired(Exception):
    """A page was asked for without a session: the browser goes to the login page."""


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


Ctx = Annotated[Context, Depends(context)]


def no_nul_in_url(request: Request) -> None:
    """A NUL in the path or query (%00) is refused with 422: PostgreSQL cannot compare with it."""
    if "\x00" in unquote(request.url.path) or "\x00" in unquote(request.url.query):
        raise Refused(422, "请求有误", [refusal("url", NUL_REFUSED)])


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def client_address(request: Request) -> str | None:
    """The peer's address as the server saw it (a proxy in front must not be trusted blindly)."""
    return request.client.host if request.client else None


def too_many(until: datetime, now: datetime) -> HTTPException:
    """429 with Retry-After: the address (or account) is locked until `until`."""
    seconds = max(1, math.ceil((until - now).total_seconds()))
    return HTTPException(429, f"失败次数过多，已暂时锁定，{lift_text(until)}后可再试",
                         headers={"Retry-After": str(seconds)})


def _token_user(ctx: Context, token: str, address: str | None) -> User | None:
    """The token's user, looked up on every request (revocation counts at once) in one statement
    that waits for no writer; an unknown token counts against the address."""
    now = ctx.now()
    policy = ctx.config.policy.auth
    with ctx.lookup() as s:
        user, until = token_user(s, token, policy=policy, address=address, now=now)
    if user is not None and until is None:
        return user
    if until is None:
        with ctx.session() as s:
            until = locked_until(s, policy=policy, username=None, address=address, now=now)
            if until is None:
                until = record_failure(s, policy=policy, username=None, address=address, now=now)
                record_security(s, kind="token_failed", at=now, via="api", address=address,
                                detail=f"令牌摘要 {token_digest(token)[:8]}：未知、已作废、已过期或账户已停用")
                if until is not None:
                    record_security(s, kind="locked", at=now, via="api", address=address,
                                    detail=f"地址锁定至 {until.isoformat()}")
            else:
                emit_security(at=now, kind="token_failed", via="api", address=address,
                              detail=f"令牌摘要 {token_digest(token)[:8]}：地址已锁定，未计数")
    else:
        emit_security(at=now, kind="token_failed", via="api", address=address,
                      detail=f"令牌摘要 {token_digest(token)[:8]}：地址已锁定，请求被拒")
    if until is not None:
        raise too_many(until, now)
    return None


def _lookup(request: Request, ctx: Context) -> Principal | None:
    token = _bearer(request)
    if token is not None:
        user = _token_user(ctx, token, client_address(request))
        return Principal(user, "token") if user else None
    with ctx.session() as s:
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            user = user_for_session(s, sid, now=ctx.now(), policy=ctx.config.policy.auth,
                                    via="api" if request.url.path.startswith("/api/") else "page")
            return Principal(user, "session", sid) if user else None
    return None


def api_principal(request: Request, ctx: Ctx) -> Principal:
    """API: a bearer token or a browser session; otherwise 401."""
    who = _lookup(request, ctx)
    request.state.principal = who
    if who is None:
        raise HTTPException(401, refusal("authorization", "需要登录：请在请求头中发送 Authorization: Bearer <令牌>"),
                            headers={"WWW-Authenticate": "Bearer"})
    if who.via == "session" and request.method not in ("GET", "HEAD", "OPTIONS"):
        check_csrf(who, request.headers.get("x-csrf-token"))
    return who


def page_principal(request: Request, ctx: Ctx) -> Principal:
    """Pages: a browser session; otherwise the login page."""
    who = _lookup(request, ctx)
    request.state.principal = who
    if who is None:
        raise LoginRequired()
    return who


def check_csrf(who: Principal, sent: str | None) -> None:
    if who.via != "session":
        return
    if not sent or not hmac.compare_digest(sent, who.csrf):
        raise HTTPException(403, refusal("csrf", "页面已过期，请刷新后重试（页面令牌缺失或与本次登录不符）"))


def require(who: Principal, permission: str) -> None:
    if not allowed(who.user, permission):
        raise HTTPException(403, forbidden(who.user.role, permission))


ApiUser = Annotated[Principal, Depends(api_principal)]
PageUser = Annotated[Principal, Depends(page_principal)]


def log_denied(request: Request, status: int, detail: str) -> None:
    """A refused access in the security log (ASVS 7.2.2): who, the method and path, and why. Called
    by the app's error handlers for a 403 and for a case outside the caller's scope (answered 404)."""
    ctx: Context = request.app.state.ctx
    who: Principal | None = getattr(request.state, "principal", None)
    at, via = ctx.now(), "api" if request.url.path.startswith("/api/") else "page"
    username, user_id = (who.user.username, who.user.id) if who else (None, None)
    address, what = client_address(request), f"{status} {request.method} {request.url.path}：{detail}"
    try:
        with ctx.session() as s:
            record_security(s, kind="access_denied", at=at, via=via, username=username, user_id=user_id,
                            address=address, detail=what)
    except DBAPIError:  # the refusal still goes out as a refusal; the event at least reaches the logger
        LOG.exception("security event not stored")
        emit_security(kind="access_denied", at=at, via=via, username=username, user_id=user_id, address=address,
                      detail=what)
