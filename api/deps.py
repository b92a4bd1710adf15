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
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.batching import SubmitBatcher
from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.deadlines import local_text
from domain.field_names import refusal
from models.db import session_scope
from models.schemas import ComplaintIn, SubmitResult
from models.users import (
    User,
    csrf_token,
    locked_until,
    record_failure,
    user_for_session,
    user_for_token,
)

SESSION_COOKIE = "session"


@dataclass
class Context:
    config: Config
    engine: Engine

    @cached_property
    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(overrides=self.config.calendar_overrides)

    @cached_property
    def _sqlite_lock(self) -> threading.Lock:
        return threading.Lock()

    @contextmanager
    def serial(self) -> Iterator[None]:
        """On SQLite, one transaction at a time in this process.

        Every SQLite transaction here starts with BEGIN IMMEDIATE (models/db.py); threads that
        collide wait in SQLite's busy handler, which sleeps in steps of up to 100 ms. Queueing
        on a lock instead hands the database over as soon as it is free (bench/bench_api.py:
        p99 152 ms → see docs/benchmarks.md). PostgreSQL needs no such lock.
        """
        if self.engine.dialect.name != "sqlite":
            yield
            return
        with self._sqlite_lock:
            yield

    @cached_property
    def batcher(self) -> SubmitBatcher:
        """Concurrent submissions share a transaction (api/batching.py)."""
        from models.submission import submit

        def store(items: list[ComplaintIn], actor: str) -> list[SubmitResult]:
            with self.serial():
                return submit(self.engine, items, config=self.config, calendar=self.calendar, now=utcnow(),
                              actor=actor, client=actor)

        return SubmitBatcher(store)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.serial(), session_scope(self.engine) as s:
            yield s


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


def utcnow() -> datetime:
    return datetime.now(UTC)


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


Ctx = Annotated[Context, Depends(context)]


def no_nul_in_url(request: Request) -> None:
    """A NUL in the path or query (%00) is refused with 422: PostgreSQL cannot compare with it."""
    from urllib.parse import unquote

    from api.service import NUL_REFUSED, Refused

    if "\x00" in unquote(request.url.path) or "\x00" in unquote(request.url.query):
        raise Refused(422, "请求有误", [refusal("url", NUL_REFUSED)])


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def client_address(request: Request) -> str | None:
    """The peer's address as the server saw it (a proxy in front must not be trusted blindly)."""
    return request.client.host if request.client else None


def lift_text(until: datetime) -> str:
    """When a sign-in lock lifts, as people read it (Beijing time)."""
    return f"{local_text(until)}（北京时间）"


def too_many(until: datetime, now: datetime) -> HTTPException:
    """429 with Retry-After: the address (or account) is locked until `until`."""
    seconds = max(1, math.ceil((until - now).total_seconds()))
    return HTTPException(429, f"失败次数过多，已暂时锁定，{lift_text(until)}后可再试",
                         headers={"Retry-After": str(seconds)})


def _token_user(ctx: Context, token: str, address: str | None) -> User | None:
    """The token's user, looked up on every request; an unknown token counts against the address."""
    now = utcnow()
    policy = ctx.config.policy.auth
    with ctx.session() as s:
        until = locked_until(s, policy=policy, username=None, address=address, now=now)
        if until is None:
            user = user_for_token(s, token, now=now)
            if user is not None:
                return user
            until = record_failure(s, policy=policy, username=None, address=address, now=now)
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
            user = user_for_session(s, sid, now=utcnow(), policy=ctx.config.policy.auth)
            return Principal(user, "session", sid) if user else None
    return None


def api_principal(request: Request, ctx: Ctx) -> Principal:
    """API: a bearer token or a browser session; otherwise 401."""
    who = _lookup(request, ctx)
    if who is None:
        raise HTTPException(401, refusal("authorization", "需要登录：请在请求头中发送 Authorization: Bearer <令牌>"),
                            headers={"WWW-Authenticate": "Bearer"})
    if who.via == "session" and request.method not in ("GET", "HEAD", "OPTIONS"):
        check_csrf(who, request.headers.get("x-csrf-token"))
    return who


def page_principal(request: Request, ctx: Ctx) -> Principal:
    """Pages: a browser session; otherwise the login page."""
    who = _lookup(request, ctx)
    if who is None:
        raise LoginRequired()
    return who


def check_csrf(who: Principal, sent: str | None) -> None:
    if who.via != "session":
        return
    if not sent or not hmac.compare_digest(sent, who.csrf):
        raise HTTPException(403, refusal("csrf", "页面已过期，请刷新后重试（页面令牌缺失或与本次登录不符）"))


def require(who: Principal, permission: str) -> None:
    from api.access import allowed
    from api.service import forbidden

    if not allowed(who.user, permission):
        raise HTTPException(403, forbidden(who.user.role, permission))


ApiUser = Annotated[Principal, Depends(api_principal)]
PageUser = Annotated[Principal, Depends(page_principal)]
