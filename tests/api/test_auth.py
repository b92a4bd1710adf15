"""Authentication and sessions to OWASP ASVS level 2, through the real login form and API:
lockout per account and per address with the time it lifts (and recovery after it), one scrypt
for unknown users, weak passwords refused, revocation on the next request, token expiry,
disabled users, idle and absolute session timeouts. The clock is injected (api.deps/pages)."""

from __future__ import annotations

import hashlib
import re
import warnings
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select

from complaints.config import AuthSpec, Config
from domain.deadlines import SHANGHAI, local_text
from models import users
from models.db import session_scope
from models.users import (
    THROTTLE,
    UserError,
    create_token,
    create_user,
    password_problems,
    revoke_tokens,
    set_active,
    sign_in,
)
from tests.api.support import PASSWORD, Clock, bearer, install_clock

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(T0)
    install_clock(monkeypatch, c)
    return c


def _user(engine: Engine, config: Config, name: str, role: str = "cpo", *, token_days: int | None = None,
          now: datetime = T0) -> str:
    """An account (and a bearer token made at `now`)."""
    with session_scope(engine) as s:
        create_user(s, username=name, role=role, password=PASSWORD, config=config, now=now)
        return create_token(s, username=name, now=now, days=token_days)


def _login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    client.cookies.clear()
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf, form.text[:500]
    return client.post("/login", data={"username": username, "password": password, "csrf": csrf.group(1),
                                       "next": "/queue"}, follow_redirects=False)


def _error(html: str) -> str:
    found = re.search(r'<p class="error" role="alert">([^<]*)</p>', html)
    return found.group(1) if found else ""


def _signed_in(client: TestClient) -> bool:
    r = client.get("/queue", follow_redirects=False)
    assert r.status_code in (200, 303), r.status_code
    return bool(r.status_code == 200)


# ---------------------------------------------------------------- lockout


def test_account_locks_after_five_failures_until_the_window_ends(client: TestClient, db_engine: Engine,
                                                                 config: Config, clock: Clock) -> None:
    """Five wrong passwords lock the account for 15 minutes: the 5th and every attempt until then
    (the right password included) get 429 with the time it lifts in Chinese; then it works."""
    _user(db_engine, config, "cpo1")
    assert "15 分钟内连续输错 5 次密码，该账户将被锁定 15 分钟。" in client.get("/login").text
    for _ in range(4):
        r = _login(client, "cpo1", "wrong password 1")
        assert r.status_code == 401 and _error(r.text) == "用户名或密码错误"
    r = _login(client, "cpo1", "wrong password 1")
    lifts = local_text(T0 + timedelta(minutes=15))
    assert r.status_code == 429 and lifts in _error(r.text) and "锁定" in _error(r.text)
    assert r.headers["retry-after"] == str(15 * 60)
    clock.advance(minutes=14, seconds=59)
    r = _login(client, "cpo1")  # the right password, still locked
    assert r.status_code == 429 and lifts in _error(r.text) and "session" not in r.cookies
    clock.advance(seconds=1)
    r = _login(client, "cpo1")
    assert r.status_code == 303 and _signed_in(client)


def test_a_successful_login_resets_the_account_count(client: TestClient, db_engine: Engine, config: Config,
                                                     clock: Clock) -> None:
    """Four failures, a success, four more failures: not locked (the count started again)."""
    _user(db_engine, config, "cpo1")
    for _ in range(4):
        assert _login(client, "cpo1", "wrong password 1").status_code == 401
    assert _login(client, "cpo1").status_code == 303
    for _ in range(4):
        assert _login(client, "cpo1", "wrong password 1").status_code == 401
    assert _login(client, "cpo1").status_code == 303


def test_failures_outside_the_window_do_not_add_up(client: TestClient, db_engine: Engine, config: Config,
                                                   clock: Clock) -> None:
    """Four failures, 15 minutes pass, four more: the window started again, no lock."""
    _user(db_engine, config, "cpo1")
    for _ in range(4):
        assert _login(client, "cpo1", "wrong password 1").status_code == 401
    clock.advance(minutes=15)
    for _ in range(4):
        assert _login(client, "cpo1", "wrong password 1").status_code == 401
    assert _login(client, "cpo1").status_code == 303


def test_unknown_usernames_lock_like_known_ones(client: TestClient, db_engine: Engine, clock: Clock) -> None:
    """An unknown username locks after five failures too (a lock reveals nothing about existence)."""
    for _ in range(4):
        assert _login(client, "nobody", "wrong password 1").status_code == 401
    assert _login(client, "nobody", "wrong password 1").status_code == 429


def test_address_limit_blocks_every_account_from_that_address(client: TestClient, db_engine: Engine,
                                                              config: Config, clock: Clock) -> None:
    """20 failures from one address over many usernames (4 each, so none locks) block the address:
    even a right password from it gets 429 until 15 minutes after the 20th failure."""
    _user(db_engine, config, "cpo1")
    for i in range(20):
        r = _login(client, f"guess{i // 4}", "wrong password 1")
        assert r.status_code == (429 if i == 19 else 401), (i, r.status_code)
        clock.advance(seconds=10)
    lifts = clock.now - timedelta(seconds=10) + timedelta(minutes=15)
    r = _login(client, "cpo1")
    assert r.status_code == 429 and local_text(lifts) in _error(r.text)
    with session_scope(db_engine) as s:
        keys = set(s.execute(select(THROTTLE.c.key).where(THROTTLE.c.locked_until.is_not(None))).scalars())
    assert keys == {"addr:testclient"}
    clock.now = lifts
    assert _login(client, "cpo1").status_code == 303


def test_bad_bearer_tokens_count_against_the_address_and_get_429(client: TestClient, db_engine: Engine,
                                                                 config: Config, clock: Clock) -> None:
    """The API: 19 unknown tokens are 401, the 20th and later 429 with Retry-After and the time it
    lifts in Chinese; a valid token from that address too, until the lock lifts."""
    token = _user(db_engine, config, "cpo1")
    for _ in range(19):
        assert client.get("/api/me", headers=bearer("cpt_not-a-token")).status_code == 401
    r = client.get("/api/me", headers=bearer("cpt_not-a-token"))
    assert r.status_code == 429 and r.headers["retry-after"] == str(15 * 60)
    assert local_text(T0 + timedelta(minutes=15)) in r.text and "锁定" in r.text
    assert client.get("/api/me", headers=bearer(token)).status_code == 429
    clock.advance(minutes=15)
    assert client.get("/api/me", headers=bearer(token)).status_code == 200


def test_lockout_limits_come_from_the_policy(db_engine: Engine, config: Config) -> None:
    """auth.account_max_failures and auth.account_lockout_minutes are what sign_in applies."""
    policy = AuthSpec(account_max_failures=2, account_lockout_minutes=3)
    with session_scope(db_engine) as s:
        create_user(s, username="cpo1", role="cpo", password=PASSWORD, config=config, now=T0)
    outcomes = []
    for _ in range(3):
        with session_scope(db_engine) as s:
            outcomes.append(sign_in(s, username="cpo1", password="wrong password 1", address="10.0.0.1", now=T0,
                                    policy=policy))
    assert [o.locked_until for o in outcomes] == [None, T0 + timedelta(minutes=3), T0 + timedelta(minutes=3)]
    assert config.policy.auth == AuthSpec()  # config/policy.yaml states the documented defaults


# ---------------------------------------------------------------- equal work


def test_unknown_and_disabled_users_cost_exactly_one_scrypt(db_engine: Engine, config: Config,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Known user with a wrong or right password, unknown user, disabled user: each attempt runs
    scrypt exactly once with the same parameters (no timing difference to measure)."""
    with session_scope(db_engine) as s:
        create_user(s, username="known", role="cpo", password=PASSWORD, config=config, now=T0)
        create_user(s, username="gone", role="cpo", password=PASSWORD, config=config, now=T0)
        set_active(s, username="gone", active=False, now=T0)
    calls: list[tuple[int, int, int]] = []
    real = hashlib.scrypt

    def counting(password: bytes, *, salt: bytes, n: int, r: int, p: int, dklen: int = 64, **kw: Any) -> bytes:
        calls.append((n, r, p))
        return real(password, salt=salt, n=n, r=r, p=p, dklen=dklen, **kw)

    monkeypatch.setattr(hashlib, "scrypt", counting)  # the module models/users.py calls
    for name, password, ok in [("known", "wrong password 1", False), ("known", PASSWORD, True),
                               ("nobody", PASSWORD, False), ("gone", PASSWORD, False)]:
        calls.clear()
        with session_scope(db_engine) as s:
            outcome = sign_in(s, username=name, password=password, address=None, now=T0, policy=AuthSpec())
        assert (outcome.user is not None) == ok, name
        assert calls == [(2**14, 8, 1)], (name, calls)


# ---------------------------------------------------------------- passwords


@pytest.mark.parametrize("password", ["12345678", "aaaaaaaa", " " * 8, " " * 12, "\t" * 14, "aaaaaaaaaaaa",
                                      "abababababab", "password1234", "Password1234!", "qwertyuiop123",
                                      "1qaz2wsx3edc", "123456789012", "abcdefghijkl", "iloveyou2026"])
def test_weak_passwords_are_refused(db_engine: Engine, config: Config, password: str) -> None:
    """The probes (12345678, aaaaaaaa, eight spaces) and their 12-character cousins are refused,
    each with a Chinese reason naming the password field; nothing is stored."""
    with pytest.raises(UserError) as info, session_scope(db_engine) as s:
        create_user(s, username="admin1", role="admin", password=password, config=config, now=T0)
    assert len(info.value.problems) == 1 and info.value.problems[0].startswith("password（密码）：")
    with session_scope(db_engine) as s:
        assert users.get_user(s, "admin1", active=False) is None


def test_password_rules_name_the_reason() -> None:
    """Too short, blank, common, repetitive, the username: each its own Chinese reason."""
    assert password_problems("short", "u") == ["password（密码）：至少 12 个字符（现为 5 个）"]
    assert password_problems(" " * 12, "u") == ["password（密码）：不能全为空白字符"]
    assert password_problems("长" * 129, "u") == ["password（密码）：至多 128 个字符（现为 129 个）"]
    assert password_problems("a long passphrase of sixty-four characters or more is fine " * 2, "u") == []
    assert "常见密码" in password_problems("password1234", "u")[0]
    assert "重复或连续" in password_problems("zzzzzzzzzzzz", "u")[0]
    assert "用户名" in password_problems("zhangwei2026!", "zhangwei")[0]
    assert "用户名" in password_problems("ZhangWei1234", "zhangwei")[0]
    for good in (PASSWORD, "journey-pass-2026", "Demo-Complaints-2026", "counter-pass-1", "pass word 12",
                 "correct horse battery staple", "柜台受理二〇二六年冬季投诉"):
        assert password_problems(good, "zhangwei") == [], good


def test_the_common_password_list_ships_in_the_package() -> None:
    """models/common_passwords.txt (from zxcvbn) is read without network: 30,000 entries."""
    common = users.common_passwords()
    assert len(common) == 30_000 and {"123456", "password", "12345678", "qwerty123456"} <= common


# ---------------------------------------------------------------- revocation, expiry, disabling


def test_revoked_token_fails_on_the_next_request_and_ends_sessions(app: FastAPI, client: TestClient,
                                                                   db_engine: Engine, config: Config,
                                                                   clock: Clock) -> None:
    """A token works, is revoked, and the very next request is 401 (no cache); the user's browser
    session ends with it."""
    token = _user(db_engine, config, "cpo1")
    browser = TestClient(app, base_url="http://127.0.0.1")
    assert _login(browser, "cpo1").status_code == 303 and _signed_in(browser)
    for _ in range(3):
        assert client.get("/api/me", headers=bearer(token)).status_code == 200
    with session_scope(db_engine) as s:
        assert revoke_tokens(s, username="cpo1", now=clock.now) == (1, 1)
    assert client.get("/api/me", headers=bearer(token)).status_code == 401
    assert not _signed_in(browser)


def test_tokens_expire(client: TestClient, db_engine: Engine, config: Config, clock: Clock) -> None:
    """A token made for 1 day works until just before then and is 401 from then on; the default
    lifetime is 90 days."""
    short = _user(db_engine, config, "cpo1", token_days=1)
    with session_scope(db_engine) as s:
        default = create_token(s, username="cpo1", now=T0)
    clock.advance(days=1, seconds=-1)
    assert client.get("/api/me", headers=bearer(short)).status_code == 200
    clock.advance(seconds=1)
    assert client.get("/api/me", headers=bearer(short)).status_code == 401
    clock.now = T0 + timedelta(days=90, seconds=-1)
    assert client.get("/api/me", headers=bearer(default)).status_code == 200
    clock.advance(seconds=1)
    assert client.get("/api/me", headers=bearer(default)).status_code == 401


def test_disabled_user_loses_tokens_sessions_and_login(app: FastAPI, client: TestClient, db_engine: Engine,
                                                       config: Config, clock: Clock) -> None:
    """Disabling ends the session and the token on the next request and refuses the login (as a
    wrong password: nothing revealed); enabling allows login again, old tokens stay revoked."""
    token = _user(db_engine, config, "cpo1")
    browser = TestClient(app, base_url="http://127.0.0.1")
    assert _login(browser, "cpo1").status_code == 303 and _signed_in(browser)
    with session_scope(db_engine) as s:
        set_active(s, username="cpo1", active=False, now=clock.now)
    assert client.get("/api/me", headers=bearer(token)).status_code == 401
    assert not _signed_in(browser)
    r = _login(browser, "cpo1")
    assert r.status_code == 401 and _error(r.text) == "用户名或密码错误"
    with session_scope(db_engine) as s:
        set_active(s, username="cpo1", active=True, now=clock.now)
    assert _login(browser, "cpo1").status_code == 303 and _signed_in(browser)
    assert client.get("/api/me", headers=bearer(token)).status_code == 401


# ---------------------------------------------------------------- session timeouts


def test_session_ends_after_30_idle_minutes(client: TestClient, db_engine: Engine, config: Config,
                                            clock: Clock) -> None:
    """Used every 29 minutes the session lives on; left 30 minutes it is gone (the login page)."""
    _user(db_engine, config, "cpo1")
    assert _login(client, "cpo1").status_code == 303
    for _ in range(3):
        clock.advance(minutes=29)
        assert _signed_in(client)
    clock.advance(minutes=30)
    r = client.get("/queue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    clock.advance(minutes=-30)  # the session was deleted when it was found idle: no coming back
    assert not _signed_in(client)


def test_session_ends_12_hours_after_login_however_busy(client: TestClient, db_engine: Engine, config: Config,
                                                        clock: Clock) -> None:
    """A session used every 20 minutes still ends 12 hours after sign-in."""
    _user(db_engine, config, "cpo1")
    assert _login(client, "cpo1").status_code == 303
    while clock.now + timedelta(minutes=20) < T0 + timedelta(hours=12):
        clock.advance(minutes=20)
        assert _signed_in(client), clock.now
    clock.now = T0 + timedelta(hours=12)
    assert not _signed_in(client)
