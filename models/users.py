"""People who use the web and the API: accounts, API tokens and browser sessions.

Passwords are hashed with scrypt (standard library) and compared in constant time. API tokens
and session ids are random 256-bit values shown to their owner once; only their sha256 is
stored, so a copy of the database does not let anyone in.

OWASP ASVS level 2 (docs/security.md, Authentication): sign-in failures are counted per account
and per client address in the database (`auth_throttle`, so every process sees them) and lock
either for a while; an unknown user costs exactly one scrypt like a known one; passwords have at
least 12 characters and are not in the shipped list of common passwords; tokens expire, browser
sessions end when idle and at an absolute limit, and disabling a user or revoking their tokens
ends every session and token at once (each request looks its credential up: no cache).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, null, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from domain.deadlines import lift_text
from models.audit_chain import AuditDraft, append
from models.security_log import clean
from models.security_log import emit as emit_security
from models.security_log import record as record_security
from models.sqlutil import table_of
from settings.config import AuthSpec, Config

ROLES: tuple[str, ...] = ("desk", "handler", "supervisor", "cpo", "auditor", "admin")
ROLE_NAMES = {"desk": "受理岗", "handler": "承办人", "supervisor": "部门负责人/行领导", "cpo": "消保办",
              "auditor": "审计", "admin": "管理员"}
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_PASSWORD = 12
MAX_PASSWORD = 128  # ASVS 2.1.2: 64 and more permitted, at most 128
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")


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
    expires_at: datetime  # created_at + policy auth.token_days unless `token add --days N`
    revoked_at: datetime | None = None


class WebSession(SQLModel, table=True):
    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime
    expires_at: datetime = Field(index=True)  # absolute end: created_at + auth.session_absolute_hours
    last_seen_at: datetime  # idle end: last_seen_at + auth.session_idle_minutes
    address: str | None = Field(default=None, max_length=120)  # where it signed in (0015)
    user_agent: str | None = Field(default=None, max_length=200)  # the browser as it named itself


class AuthThrottle(SQLModel, table=True):
    """Failed sign-ins of one key ("user:NAME" or "addr:IP") in the current window, and a lock."""

    __tablename__ = "auth_throttle"

    key: str = Field(primary_key=True, max_length=160)
    failures: int = 0
    window_start: datetime
    locked_until: datetime | None = None


USER = table_of(UserAccount)
TOKEN = table_of(ApiToken)
SESSION = table_of(WebSession)
THROTTLE = table_of(AuthThrottle)


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


@cache
def _dummy_hash() -> str:
    """A stored-hash string with the same scrypt parameters as every real one, a random salt and
    a random digest (no password has it): checking an unknown or disabled user costs the same
    single scrypt as a known one (no timing oracle), and making it costs none."""
    b64 = base64.b64encode
    salt, digest = b64(secrets.token_bytes(16)).decode(), b64(secrets.token_bytes(32)).decode()
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt}${digest}"


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (models/common_passwords.txt, from zxcvbn)."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def password_problems(password: str, username: str) -> list[str]:
    """Why a new password is refused (Chinese, naming the field); empty when it is acceptable.

    ASVS 2.1.1/2.1.2/2.1.7 and NIST SP 800-63B 5.1.1.2: 12 to 128 characters, not blank, not a
    common or breached password (nor one with digits or punctuation merely added around it),
    not a run of one or two repeated characters, not the username. No composition rules.
    """
    field = "password（密码）"
    if len(password) < MIN_PASSWORD:
        return [f"{field}：至少 {MIN_PASSWORD} 个字符（现为 {len(password)} 个）"]
    if len(password) > MAX_PASSWORD:
        return [f"{field}：至多 {MAX_PASSWORD} 个字符（现为 {len(password)} 个）"]
    if not password.strip():
        return [f"{field}：不能全为空白字符"]
    lowered = password.lower()
    core = lowered.strip("0123456789!@#$%^&*()_+-=.,;:?~ ")
    common = common_passwords()
    if lowered in common or lowered.strip() in common or (len(core) >= 4 and core in common):
        return [f"{field}：属于常见密码，容易被猜中，请换一个"]
    if len(set(lowered)) <= 2 or _sequential(lowered):
        return [f"{field}：由重复或连续的字符组成，容易被猜中，请换一个"]
    if username and (lowered == username.lower() or username.lower() in lowered and len(username) >= 4
                     and len(core.replace(username.lower(), "")) < 4):
        return [f"{field}：不能与用户名相同或只是用户名加几个字符"]
    return []


def _sequential(text: str) -> bool:
    """Every character one more (or one less) than the one before: abcdefghijkl, 123456789012."""
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:], strict=False)}
    return steps <= {1, -9} or steps <= {-1, 9}  # 1234567890123 wraps from 9 to 0


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
    problems.extend(password_problems(password, username))
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


def get_user(session: Session, username: str, *, active: bool = True) -> User | None:
    where = [USER.c.username == username] + ([USER.c.active.is_(True)] if active else [])
    row = session.execute(select(USER).where(*where)).first()
    return _user(row) if row else None


def authenticate(session: Session, *, username: str, password: str) -> User | None:
    """The user when the password matches; None otherwise. Exactly one scrypt either way
    (an unknown or disabled user is checked against a dummy hash of the same cost)."""
    row = session.execute(select(USER).where(USER.c.username == username, USER.c.active.is_(True))).first()
    stored = row.password_hash if row else _dummy_hash()
    ok = check_password(password, stored)
    return _user(row) if row and ok else None


# ---------------------------------------------------------------- sign-in throttling


@dataclass(frozen=True)
class LoginOutcome:
    """A sign-in attempt: the user, or None with the time a lock lifts (None: just wrong)."""

    user: User | None
    locked_until: datetime | None = None


def _keys(policy: AuthSpec, username: str | None, address: str | None) -> list[tuple[str, int, timedelta, timedelta]]:
    keys: list[tuple[str, int, timedelta, timedelta]] = []
    if username is not None:
        keys.append((f"user:{username[:64]}", policy.account_max_failures,
                     timedelta(minutes=policy.account_window_minutes),
                     timedelta(minutes=policy.account_lockout_minutes)))
    if address:
        keys.append((f"addr:{address[:120]}", policy.address_max_failures,
                     timedelta(minutes=policy.address_window_minutes),
                     timedelta(minutes=policy.address_lockout_minutes)))
    return keys


def _throttle_rows(session: Session, keys: list[str], now: datetime) -> dict[str, Any]:
    """The throttle rows of these keys, created if missing and locked for this transaction."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for key in keys:
        session.execute(insert(THROTTLE).values(key=key, failures=0, window_start=now)
                        .on_conflict_do_nothing(index_elements=["key"]))
    rows = session.execute(select(THROTTLE).where(THROTTLE.c.key.in_(keys)).order_by(THROTTLE.c.key)
                           .with_for_update()).all()
    return {r.key: r for r in rows}


def locked_until(session: Session, *, policy: AuthSpec, username: str | None, address: str | None,
                 now: datetime) -> datetime | None:
    """When the latest lock on this account or address lifts; None when neither is locked."""
    keys = [k[0] for k in _keys(policy, username, address)]
    if not keys:
        return None
    rows = session.execute(select(THROTTLE.c.locked_until).where(THROTTLE.c.key.in_(keys))).scalars().all()
    ends = [t for t in rows if t is not None and t > now]
    return max(ends) if ends else None


def record_failure(session: Session, *, policy: AuthSpec, username: str | None, address: str | None,
                   now: datetime) -> datetime | None:
    """Count one failed attempt against the account and the address; the lock's end when this
    failure reaches a limit (the count then starts again), else None."""
    spec = _keys(policy, username, address)
    if not spec:
        return None
    rows = _throttle_rows(session, [k[0] for k in spec], now)
    until: datetime | None = None
    for key, limit, window, lockout in spec:
        row = rows[key]
        failures = 1 if row.window_start + window <= now else row.failures + 1
        values: dict[str, Any] = {"failures": failures}
        if failures == 1:
            values["window_start"] = now
        if failures >= limit:
            values.update(failures=0, window_start=now, locked_until=now + lockout)
            until = max(until, now + lockout) if until else now + lockout
        session.execute(update(THROTTLE).where(THROTTLE.c.key == key).values(**values))
    return until


def sign_in(session: Session, *, username: str, password: str, address: str | None, now: datetime,
          policy: AuthSpec, reauth: bool = False, via: str = "page") -> LoginOutcome:
    """A sign-in: refused without a password check while the account or the address is locked;
    a wrong password counts against both; a right one resets the account's count. `reauth`: the
    current password asked again of a signed-in user (修改密码, ending sessions). Each decision is
    in the security log (models/security_log.py); a refusal while locked only on its logger."""
    until = locked_until(session, policy=policy, username=username, address=address, now=now)
    if until is not None:
        emit_security(at=now, kind="reauth_failed" if reauth else "login_failed", via=via, username=username[:64],
                      address=address, detail=f"已锁定，未核对密码（锁定至 {until.isoformat()}）")
        return LoginOutcome(None, until)
    user = authenticate(session, username=username, password=password)
    if user is None:
        until = record_failure(session, policy=policy, username=username, address=address, now=now)
        record_security(session, kind="reauth_failed" if reauth else "login_failed", at=now, via=via,
                        username=username, address=address, detail="用户名或密码错误")
        if until is not None:
            record_security(session, kind="locked", at=now, via=via, username=username, address=address,
                            detail=f"账户或地址锁定至 {until.isoformat()}")
        return LoginOutcome(None, until)
    session.execute(THROTTLE.delete().where(THROTTLE.c.key == f"user:{username[:64]}"))
    record_security(session, kind="reauth_ok" if reauth else "login_ok", at=now, via=via, username=user.username,
                    user_id=user.id, address=address)
    return LoginOutcome(user)


# ---------------------------------------------------------------- tokens and sessions


def create_token(session: Session, *, username: str, now: datetime, label: str = "",
                 days: int | None = None, policy: AuthSpec | None = None) -> str:
    """A new API token for the user; the raw value is returned once and never stored. It expires
    after `days` (default: policy auth.token_days, 90)."""
    user = get_user(session, username)
    if user is None:
        raise UserError([f"user（用户）：没有在用的用户 {username!r}"])
    lifetime = days if days is not None else (policy or AuthSpec()).token_days
    if not 1 <= lifetime <= 3650:
        raise UserError([f"days（有效天数）：须在 1 到 3650 之间（现为 {lifetime}）"])
    raw = "cpt_" + secrets.token_urlsafe(32)
    session.execute(TOKEN.insert().values(user_id=user.id, token_hash=token_digest(raw), label=label[:64],
                                          created_at=now, expires_at=now + timedelta(days=lifetime)))
    return raw


def user_for_token(session: Session, raw: str, *, now: datetime) -> User | None:
    """The active user of an unrevoked, unexpired token; None otherwise."""
    stmt = (select(USER).join(TOKEN, TOKEN.c.user_id == USER.c.id)
            .where(TOKEN.c.token_hash == token_digest(raw), TOKEN.c.revoked_at.is_(None), TOKEN.c.expires_at > now,
                   USER.c.active.is_(True)))
    row = session.execute(stmt).first()
    return _user(row) if row else None


def token_user(session: Session, raw: str, *, policy: AuthSpec, address: str | None,
               now: datetime) -> tuple[User | None, datetime | None]:
    """One statement for a request's bearer token: its active user of an unrevoked, unexpired token
    and when the address's sign-in lock lifts (None if not locked). (None, None) when the token is
    unknown: the caller then counts the failure (`locked_until`, `record_failure`)."""
    keys = [k[0] for k in _keys(policy, None, address)]
    lock = (select(func.max(THROTTLE.c.locked_until)).where(THROTTLE.c.key.in_(keys)).scalar_subquery()
            if keys else null())
    stmt = (select(USER, lock.label("lock_ends"))
            .join(TOKEN, TOKEN.c.user_id == USER.c.id)
            .where(TOKEN.c.token_hash == token_digest(raw), TOKEN.c.revoked_at.is_(None), TOKEN.c.expires_at > now,
                   USER.c.active.is_(True)))
    row = session.execute(stmt).first()
    if row is None:
        return None, None
    ends = row.lock_ends
    return _user(row), ends if ends is not None and ends > now else None


def reauthenticate(session: Session, *, username: str, password: str, address: str | None, now: datetime,
                   policy: AuthSpec) -> tuple[LoginOutcome, list[str]]:
    """A signed-in user's current password asked again (修改密码, ending sessions), checked as a
    sign-in is; the outcome and, when refused, the problem naming the field (Chinese)."""
    outcome = sign_in(session, username=username, password=password, address=address, now=now, policy=policy,
                      reauth=True)
    if outcome.locked_until is not None:
        return outcome, [f"current_password（当前密码）：输错次数过多，已暂时锁定，{lift_text(outcome.locked_until)}后可再试"]
    if outcome.user is None:
        return outcome, ["current_password（当前密码）：不正确"]
    return outcome, []


def change_password(session: Session, *, username: str, current: str, new: str, address: str | None,
                    now: datetime, policy: AuthSpec, keep_session: str | None = None) -> list[str]:
    """One's own password changed (ASVS 2.1.5/2.1.6): the current password checked as a sign-in is
    (throttled per account and address, one scrypt), the new one by `password_problems` and unlike
    the current; then every other browser session of the user ends (ASVS 3.3.3) and the change is
    in the audit chain. The problems (Chinese, naming the field), empty when it was changed."""
    outcome, problems = reauthenticate(session, username=username, password=current, address=address, now=now,
                                       policy=policy)
    if outcome.user is None:
        return problems
    problems = password_problems(new, username)
    if not problems and new == current:
        problems = ["password（密码）：新密码不能与当前密码相同"]
    if problems:
        return problems
    session.execute(update(USER).where(USER.c.id == outcome.user.id).values(password_hash=hash_password(new)))
    others = SESSION.delete().where(SESSION.c.user_id == outcome.user.id)
    if keep_session is not None:
        others = others.where(SESSION.c.token_hash != token_digest(keep_session))
    session.execute(others)
    append(session, [AuditDraft(at=now, actor=username, action="password_changed",
                                detail="本人修改密码；其他浏览器会话已结束")])
    record_security(session, kind="password_changed", at=now, via="page", username=username,
                    user_id=outcome.user.id, address=address, detail="其他浏览器会话已结束")
    return []


def end_sessions(session: Session, *, user_id: int) -> int:
    result = session.execute(SESSION.delete().where(SESSION.c.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


def revoke_tokens(session: Session, *, username: str, now: datetime) -> tuple[int, int]:
    """Revoke every token of the user and end their browser sessions (effective on the next
    request); (tokens revoked, sessions ended)."""
    user = get_user(session, username, active=False)
    if user is None:
        return 0, 0
    result = session.execute(update(TOKEN).where(TOKEN.c.user_id == user.id, TOKEN.c.revoked_at.is_(None))
                             .values(revoked_at=now))
    return int(getattr(result, "rowcount", 0) or 0), end_sessions(session, user_id=user.id)


def set_active(session: Session, *, username: str, active: bool, now: datetime) -> User:
    """Disable (every token revoked, every session ended) or enable again (tokens stay revoked)."""
    user = get_user(session, username, active=False)
    if user is None:
        raise UserError([f"user（用户）：没有用户 {username!r}"])
    session.execute(update(USER).where(USER.c.id == user.id).values(active=active))
    if not active:
        revoke_tokens(session, username=username, now=now)
    return user


def create_session(session: Session, *, user_id: int, now: datetime, policy: AuthSpec | None = None,
                   address: str | None = None, user_agent: str | None = None) -> str:
    """A new browser session; the raw id is returned for the cookie, only its sha256 is stored, with
    where it signed in from (shown on the 登录会话 page)."""
    raw = secrets.token_urlsafe(32)
    hours = (policy or AuthSpec()).session_absolute_hours
    session.execute(SESSION.insert().values(user_id=user_id, token_hash=token_digest(raw), created_at=now,
                                            expires_at=now + timedelta(hours=hours), last_seen_at=now,
                                            address=clean(address, 120), user_agent=clean(user_agent, 200)))
    return raw


SEEN_GRANULARITY = timedelta(seconds=60)  # last_seen_at is written at most once a minute per session


def user_for_session(session: Session, raw: str, *, now: datetime, policy: AuthSpec | None = None,
                     via: str = "page") -> User | None:
    """The active user of a session that is neither past its absolute end nor idle too long;
    the session's last use moves to now. An ended session is deleted."""
    idle = timedelta(minutes=(policy or AuthSpec()).session_idle_minutes)
    digest = token_digest(raw)
    stmt = (select(USER, SESSION.c.id.label("sid"), SESSION.c.expires_at.label("ends"),
                   SESSION.c.last_seen_at.label("seen"))
            .join(SESSION, SESSION.c.user_id == USER.c.id).where(SESSION.c.token_hash == digest))
    row = session.execute(stmt).first()
    if row is None:
        return None
    if row.ends <= now or row.seen + idle <= now or not row.active:
        session.execute(SESSION.delete().where(SESSION.c.id == row.sid))
        why = ("已超过绝对时限" if row.ends <= now else "空闲超时" if row.seen + idle <= now else "账户已停用")
        record_security(session, kind="session_timeout", at=now, via=via, username=row.username, user_id=row.id,
                        detail=f"会话 #{row.sid} {why}")
        return None
    if now - row.seen >= SEEN_GRANULARITY:
        session.execute(update(SESSION).where(SESSION.c.id == row.sid).values(last_seen_at=now))
    return _user(row)


def end_session(session: Session, raw: str) -> None:
    session.execute(SESSION.delete().where(SESSION.c.token_hash == token_digest(raw)))


@dataclass(frozen=True)
class SessionInfo:
    """One of a user's browser sessions as the 登录会话 page shows it (never its id)."""

    id: int
    created_at: datetime
    last_seen_at: datetime
    idle_end: datetime
    absolute_end: datetime
    address: str | None
    user_agent: str | None
    current: bool


def list_sessions(session: Session, *, user_id: int, now: datetime, policy: AuthSpec | None = None,
                  current: str | None = None) -> list[SessionInfo]:
    """The user's sessions that have not ended (ASVS 3.3.4), the newest sign-in first; `current`
    (this browser's raw session id) marks its own."""
    idle = timedelta(minutes=(policy or AuthSpec()).session_idle_minutes)
    mine = token_digest(current) if current else None
    rows = session.execute(select(SESSION).where(SESSION.c.user_id == user_id, SESSION.c.expires_at > now)
                           .order_by(SESSION.c.created_at.desc(), SESSION.c.id.desc())).all()
    return [SessionInfo(id=r.id, created_at=r.created_at, last_seen_at=r.last_seen_at,
                        idle_end=min(r.last_seen_at + idle, r.expires_at), absolute_end=r.expires_at,
                        address=r.address, user_agent=r.user_agent, current=r.token_hash == mine)
            for r in rows if r.last_seen_at + idle > now]


def end_own_sessions(session: Session, *, user: User, keep: str, which: int | None, now: datetime,
                     address: str | None) -> int:
    """End one of the user's other sessions (`which`, its id) or all of them but this one (`keep`,
    this browser's raw id); the number ended. The caller has re-checked the password."""
    stmt = SESSION.delete().where(SESSION.c.user_id == user.id, SESSION.c.token_hash != token_digest(keep))
    if which is not None:
        stmt = stmt.where(SESSION.c.id == which)
    ended = int(getattr(session.execute(stmt), "rowcount", 0) or 0)
    record_security(session, kind="session_ended", at=now, via="page", username=user.username, user_id=user.id,
                    address=address,
                    detail=(f"结束会话 #{which}" if which is not None else "结束其他全部会话") + f"（{ended} 个）")
    return ended


def user_tokens(session: Session, *, user_id: int) -> list[dict[str, Any]]:
    """The user's API tokens as the 登录会话 page lists them: label, dates, state, digest prefix."""
    rows = session.execute(select(TOKEN).where(TOKEN.c.user_id == user_id)
                           .order_by(TOKEN.c.created_at.desc(), TOKEN.c.id.desc())).all()
    return [{"label": r.label, "created_at": r.created_at, "expires_at": r.expires_at, "revoked_at": r.revoked_at,
             "digest": r.token_hash[:8]} for r in rows]


def csrf_token(raw_session: str) -> str:
    """The form token of a session: derived from the session id, which only its browser holds."""
    return hmac.new(raw_session.encode(), b"csrf", hashlib.sha256).hexdigest()
