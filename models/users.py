"""People who use the web and the API: accounts, API tokens and browser sessions.

Passwords are hashed with scrypt (standard library) and compared in constant time. API tokens
and session ids are random 256-bit values shown to their owner once; only their sha256 is
stored, so a copy of the database does not let anyone in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from complaints.config import Config
from models.sqlutil import table_of

ROLES: tuple[str, ...] = ("desk", "handler", "supervisor", "cpo", "auditor", "admin")
ROLE_NAMES = {"desk": "受理岗", "handler": "承办人", "supervisor": "部门负责人/行领导", "cpo": "消保办",
              "auditor": "审计", "admin": "管理员"}
SESSION_TTL = timedelta(hours=12)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class UserAccount(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=64)
    role: str = Field(max_length=16)
    person_id: str | None = Field(default=None, max_length=64)  # config/org.yaml person
    branch: str | None = Field(default=None, max_length=32)
    password_hash: str = Field(max_length=256)
    active: bool = True
    created_at: datetime


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    label: str = Field(default="", max_length=64)
    created_at: datetime
    revoked_at: datetime | None = None


class WebSession(SQLModel, table=True):
    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime
    expires_at: datetime = Field(index=True)


USER = table_of(UserAccount)
TOKEN = table_of(ApiToken)
SESSION = table_of(WebSession)


class UserError(ValueError):
    """An account cannot be created as asked; each problem names its field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    role: str
    person_id: str | None
    branch: str | None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(want))
    except ValueError:
        return False
    return hmac.compare_digest(got, want)


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _user(row: Any) -> User:
    return User(int(row.id), row.username, row.display_name, row.role, row.person_id, row.branch)


def _default_branch(config: Config, person_id: str | None) -> str | None:
    """The branch where a person holds a seat (president, deputy, 消保办 or department head)."""
    if person_id is None:
        return None
    for code, b in config.org.branches.items():
        seats = [b.president, b.deputy, b.cp_office, *(d.head for d in b.departments.values())]
        if any(s is not None and person_id in (s.holder, s.acting) for s in seats):
            return code
        if any(person_id in d.handlers for d in b.departments.values()):
            return code
    return None


def create_user(session: Session, *, username: str, role: str, password: str, config: Config, now: datetime,
                person_id: str | None = None, branch: str | None = None,
                display_name: str | None = None) -> User:
    """Create an account; UserError naming each bad field (nothing stored)."""
    problems: list[str] = []
    if not username or len(username) > 64 or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        problems.append("username: 1-64 letters, digits, '.', '-' or '_'")
    if role not in ROLES:
        problems.append(f"role: {role!r} is not one of {', '.join(ROLES)}")
    if len(password) < 8:
        problems.append("password: at least 8 characters")
    if person_id is not None and person_id not in config.org.people:
        problems.append(f"person: unknown person {person_id!r} in the org chart")
    if role in ("handler", "supervisor") and person_id is None:
        problems.append(f"person: a {role} account needs the org-chart person it acts as (--person)")
    branch = branch or _default_branch(config, person_id)
    if role == "desk" and branch is None:
        branch = next(code for code, b in config.org.branches.items() if b.parent is None)
    if branch is not None and branch not in config.org.branches:
        problems.append(f"branch: unknown branch {branch!r}")
    if role == "supervisor" and branch is None:
        problems.append("branch: a supervisor account needs the branch it supervises (--branch)")
    if not problems and session.execute(select(USER.c.id).where(USER.c.username == username)).first():
        problems.append(f"username: {username!r} already exists")
    if problems:
        raise UserError(problems)
    name = display_name or (config.org.people[person_id].name if person_id else username)
    values = {"username": username, "display_name": name, "role": role, "person_id": person_id,
              "branch": branch, "password_hash": hash_password(password), "active": True, "created_at": now}
    user_id = session.execute(USER.insert().values(**values).returning(USER.c.id)).scalar_one()
    return User(int(user_id), username, name, role, person_id, branch)


def get_user(session: Session, username: str) -> User | None:
    row = session.execute(select(USER).where(USER.c.username == username, USER.c.active.is_(True))).first()
    return _user(row) if row else None


def authenticate(session: Session, *, username: str, password: str) -> User | None:
    """The user when the password matches; None otherwise (same work either way)."""
    row = session.execute(select(USER).where(USER.c.username == username, USER.c.active.is_(True))).first()
    stored = row.password_hash if row else hash_password("not-a-user-password")  # equal timing
    ok = check_password(password, stored)
    return _user(row) if row and ok else None


def create_token(session: Session, *, username: str, now: datetime, label: str = "") -> str:
    """A new API token for the user; the raw value is returned once and never stored."""
    user = get_user(session, username)
    if user is None:
        raise UserError([f"user: no active user {username!r}"])
    raw = "cpt_" + secrets.token_urlsafe(32)
    session.execute(TOKEN.insert().values(user_id=user.id, token_hash=token_digest(raw), label=label[:64],
                                          created_at=now))
    return raw


def user_for_token(session: Session, raw: str) -> User | None:
    stmt = (select(USER).join(TOKEN, TOKEN.c.user_id == USER.c.id)
            .where(TOKEN.c.token_hash == token_digest(raw), TOKEN.c.revoked_at.is_(None), USER.c.active.is_(True)))
    row = session.execute(stmt).first()
    return _user(row) if row else None


def revoke_tokens(session: Session, *, username: str, now: datetime) -> int:
    user = get_user(session, username)
    if user is None:
        return 0
    result = session.execute(update(TOKEN).where(TOKEN.c.user_id == user.id, TOKEN.c.revoked_at.is_(None))
                             .values(revoked_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


def create_session(session: Session, *, user_id: int, now: datetime) -> str:
    raw = secrets.token_urlsafe(32)
    session.execute(SESSION.insert().values(user_id=user_id, token_hash=token_digest(raw), created_at=now,
                                            expires_at=now + SESSION_TTL))
    return raw


def user_for_session(session: Session, raw: str, *, now: datetime) -> User | None:
    stmt = (select(USER).join(SESSION, SESSION.c.user_id == USER.c.id)
            .where(SESSION.c.token_hash == token_digest(raw), SESSION.c.expires_at > now, USER.c.active.is_(True)))
    row = session.execute(stmt).first()
    return _user(row) if row else None


def end_session(session: Session, raw: str) -> None:
    session.execute(SESSION.delete().where(SESSION.c.token_hash == token_digest(raw)))


def csrf_token(raw_session: str) -> str:
    """The form token of a session: derived from the session id, which only its browser holds."""
    return hmac.new(raw_session.encode(), b"csrf", hashlib.sha256).hexdigest()
