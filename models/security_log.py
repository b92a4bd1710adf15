"""The security log (OWASP ASVS 4.0.3 7.1.3, 7.1.4, 7.2.1, 7.2.2): every authentication decision
and every refused access, with when, who, from where and what, in the `security_event` table
(append-only: triggers refuse UPDATE and DELETE, migration 0015) and as one JSON line on the
`complaints.security` logger (for a bank's SIEM).

What is written: sign-ins that succeed or fail (the page's login and the current-password check of
修改密码 / 结束会话), the failure that locks an account or an address, unknown, revoked or expired
bearer tokens, browser sessions that ended by idle or absolute timeout, sign-outs, sessions ended
from the session list, password changes, accounts and tokens made, revoked, disabled or enabled at
the CLI, and refused access (403, a case outside one's scope answered as unknown, a stale form
token). Never a password, a token or a session id: a bearer token is named by the first 8 hex
digits of its sha256 digest, which identifies the row in `api_token` but cannot be used.

Two decisions are kept out of the table on purpose and only reach the logger: an attempt refused
while its account or address is locked (no credential was checked, and a locked-out flood must not
turn into database writes), and a successful bearer-token request (every API call: the actions it
takes are in the audit chain with the token's user as actor).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Index, select
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from models.sqlutil import table_of

LOG = logging.getLogger("complaints.security")

KINDS: dict[str, str] = {
    "login_ok": "登录成功",
    "login_failed": "登录失败",
    "reauth_ok": "核对当前密码成功",
    "reauth_failed": "核对当前密码失败",
    "locked": "失败次数达上限，已锁定",
    "token_failed": "API 令牌无效",
    "session_timeout": "会话超时结束",
    "logout": "退出登录",
    "session_ended": "结束会话",
    "password_changed": "修改密码",
    "access_denied": "拒绝访问",
    "user_created": "新建账户",
    "user_disabled": "停用账户",
    "user_enabled": "启用账户",
    "token_created": "新建 API 令牌",
    "tokens_revoked": "作废 API 令牌",
}
VIAS = ("page", "api", "cli")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class SecurityEvent(SQLModel, table=True):
    __tablename__ = "security_event"
    __table_args__ = (Index("ix_security_event_username_at", "username", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    kind: str = Field(max_length=32)
    via: str = Field(max_length=8)  # page, api, cli
    username: str | None = Field(default=None, max_length=64)  # as typed for a failed sign-in
    user_id: int | None = None  # the account when known (no foreign key: the log outlives changes)
    address: str | None = Field(default=None, max_length=120)
    detail: str = Field(default="", max_length=300)


EVENT = table_of(SecurityEvent)


def clean(text: str | None, limit: int) -> str | None:
    """Control characters (CR, LF, NUL …) shown as `\\xNN`, cut to `limit` (ASVS 7.3.1: no log
    injection through a typed username or a header)."""
    if text is None:
        return None
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)[:limit]


def record(session: Session, *, kind: str, at: datetime, via: str, username: str | None = None,
           user_id: int | None = None, address: str | None = None, detail: str = "") -> None:
    """One security event, in the caller's transaction (it is stored when that commits) and on the
    logger."""
    if kind not in KINDS:
        raise ValueError(f"kind（事件类型）：未知的安全事件 {kind!r}")
    if via not in VIAS:
        raise ValueError(f"via（来源）：须为 {'、'.join(VIAS)} 之一（现为 {via!r}）")
    values = {"at": at, "kind": kind, "via": via, "username": clean(username, 64), "user_id": user_id,
              "address": clean(address, 120), "detail": clean(detail, 300) or ""}
    session.execute(EVENT.insert().values(**values))
    emit(**values)


def emit(**values: object) -> None:
    """The JSON line of one event on `complaints.security` (also for what the table leaves out)."""
    line = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in values.items()}
    LOG.info("%s", json.dumps(line, ensure_ascii=False, sort_keys=True))


@dataclass(frozen=True)
class SecurityEventRow:
    id: int
    at: datetime
    kind: str
    label: str
    via: str
    username: str | None
    user_id: int | None
    address: str | None
    detail: str


def recent(session: Session, *, since: datetime | None = None, username: str | None = None,
           kinds: tuple[str, ...] = (), before_id: int | None = None, limit: int = 100) -> list[SecurityEventRow]:
    """The newest events first (optionally of one user, of some kinds, since a time, older than an id)."""
    stmt = select(EVENT).order_by(EVENT.c.id.desc()).limit(max(1, min(limit, 1000)))
    if since is not None:
        stmt = stmt.where(EVENT.c.at >= since)
    if username:
        stmt = stmt.where(EVENT.c.username == username)
    if kinds:
        stmt = stmt.where(EVENT.c.kind.in_(kinds))
    if before_id is not None:
        stmt = stmt.where(EVENT.c.id < before_id)
    return [SecurityEventRow(id=r.id, at=r.at, kind=r.kind, label=KINDS.get(r.kind, r.kind), via=r.via,
                             username=r.username, user_id=r.user_id, address=r.address, detail=r.detail)
            for r in session.execute(stmt)]
