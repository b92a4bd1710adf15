"""The security log (ASVS 7.1.3, 7.1.4, 7.2.1, 7.2.2, 7.3.1) and the list of one's own sessions
(ASVS 3.3.4), through the real login form, API, pages and CLI: every authentication decision and
every refused access is a `security_event` row with when, who, where and what — never a password or
a token; rows cannot be updated or deleted; a user sees their sessions and ends the others after
giving the password again, which takes effect on those browsers' next request."""

from __future__ import annotations

import getpass
import hashlib
import io
import json
import logging
import re
import sys
import warnings
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from complaints.cli import main
from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.intake import run_intake
from models.db import session_scope
from models.security_log import EVENT
from models.submission import submit
from tests.api.support import PASSWORD, Clock, account, bearer, install_clock
from tests.api.test_auth import T0, _error, _login, _signed_in, _user
from tests.clirun import run_json
from tests.factories import complaint

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(T0)
    install_clock(monkeypatch, c)
    return c


def _events(engine: Engine, **where: Any) -> list[Any]:
    stmt = select(EVENT).order_by(EVENT.c.id)
    for column, value in where.items():
        stmt = stmt.where(EVENT.c[column] == value)
    with engine.connect() as conn:
        return list(conn.execute(stmt))


def _kinds(engine: Engine) -> list[str]:
    return [e.kind for e in _events(engine)]


def _csrf(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


# ---------------------------------------------------------------- authentication decisions


def test_sign_ins_failures_and_the_lock_are_logged_without_the_password(
        client: TestClient, db_engine: Engine, config: Config, clock: Clock,
        caplog: pytest.LogCaptureFixture) -> None:
    """A right password, five wrong ones (the fifth locks), one more while locked, then sign-out:
    each is an event with its time, username as typed, address and source; the attempt while
    locked reaches only the logger (no password was checked, and a flood must not write rows)."""
    _user(db_engine, config, "cpo1")
    assert _login(client, "cpo1").status_code == 303
    client.post("/logout", data={"csrf": _csrf(client, "/queue")})
    for i in range(5):
        clock.advance(seconds=1)
        assert _login(client, "cpo1", f"wrong password {i}").status_code == (429 if i == 4 else 401)
    with caplog.at_level(logging.INFO, logger="complaints.security"):
        assert _login(client, "cpo1", "wrong password 9").status_code == 429
    assert _kinds(db_engine) == ["login_ok", "logout"] + ["login_failed"] * 5 + ["locked"]
    events = _events(db_engine)
    assert {(e.via, e.address, e.username) for e in events} == {("page", "testclient", "cpo1")}
    assert events[0].user_id is not None and events[0].at == T0
    assert events[-1].at == T0 + timedelta(seconds=5)
    assert "锁定至" in events[-1].detail
    for e in events:
        assert "wrong password" not in e.detail and PASSWORD not in e.detail
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "complaints.security"]
    assert [(line["kind"], line["username"]) for line in lines] == [("login_failed", "cpo1")]
    assert "已锁定，未核对密码" in lines[0]["detail"]


def test_a_typed_username_cannot_forge_a_log_line(client: TestClient, db_engine: Engine, clock: Clock,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """ASVS 7.3.1: control characters in what an attacker types are stored and logged escaped."""
    with caplog.at_level(logging.INFO, logger="complaints.security"):
        assert _login(client, "eve\r\nlogin_ok admin", "wrong password 1").status_code == 401
    [event] = _events(db_engine)
    assert event.username == "eve\\x0d\\x0alogin_ok admin"
    [record] = [r for r in caplog.records if r.name == "complaints.security"]
    assert "\n" not in record.getMessage() and json.loads(record.getMessage())["username"] == event.username


def test_unknown_tokens_are_logged_by_digest_and_the_address_lock_too(
        client: TestClient, db_engine: Engine, config: Config, clock: Clock) -> None:
    """Twenty unknown bearer tokens: twenty `token_failed` events naming only the first 8 hex digits
    of the token's digest, and the lock the twentieth set; a revoked token is logged the same way."""
    raw = "cpt_not-a-token"
    for _ in range(20):
        client.get("/api/me", headers=bearer(raw))
    events = _events(db_engine)
    assert [e.kind for e in events] == ["token_failed"] * 20 + ["locked"]
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    assert all(e.via == "api" and e.address == "testclient" for e in events)
    assert all(digest in e.detail and raw not in e.detail for e in events[:20])


def test_a_timed_out_session_is_logged(client: TestClient, db_engine: Engine, config: Config,
                                       clock: Clock) -> None:
    _user(db_engine, config, "cpo1")
    assert _login(client, "cpo1").status_code == 303
    clock.advance(minutes=31)
    assert not _signed_in(client)
    ended = _events(db_engine, kind="session_timeout")
    assert len(ended) == 1 and ended[0].username == "cpo1" and "空闲超时" in ended[0].detail


# ---------------------------------------------------------------- refused access


def test_refused_access_is_logged_with_who_and_what(client: TestClient, db_engine: Engine, config: Config,
                                                    clock: Clock) -> None:
    """A desk clerk opening the audit page (403), a sub-branch supervisor asking for a city-branch
    case (404, answered as unknown) are logged; an unknown case number is not a refusal."""
    city = submit(db_engine, [complaint()], config=config, calendar=WorkingCalendar(), now=T0)[0].case_no
    run_intake(db_engine, config, now=T0)
    _user(db_engine, config, "desk1", role="desk")
    assert _login(client, "desk1").status_code == 303
    assert client.get("/audit").status_code == 403
    supervisor = account(db_engine, config, "ma", "supervisor", person="ma.lei")
    assert client.get(f"/api/complaints/{city}", headers=bearer(supervisor)).status_code == 404
    assert client.get("/api/complaints/DL-2026-999999", headers=bearer(supervisor)).status_code == 404
    denied = _events(db_engine, kind="access_denied")
    assert [(e.username, e.via, e.detail.split("：")[0]) for e in denied] == [
        ("desk1", "page", "403 GET /audit"), ("ma", "api", f"404 GET /api/complaints/{city}")]


def test_security_events_cannot_be_updated_or_deleted(db_engine: Engine, client: TestClient,
                                                      clock: Clock) -> None:
    _login(client, "nobody", "wrong password 1")
    assert len(_events(db_engine)) == 1
    for statement in ("UPDATE security_event SET detail = 'x'", "DELETE FROM security_event"):
        with pytest.raises(DBAPIError, match="只可追加"), db_engine.begin() as conn:
            conn.execute(text(statement))
    assert _events(db_engine)[0].detail == "用户名或密码错误"


# ---------------------------------------------------------------- the CLI and the pages that read the log


def test_account_changes_at_the_cli_are_logged_with_the_os_user(
        cli_db: Engine, config: Config, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "operator7")
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    code, _, err = run_json(capsys, "user", "add", "zhou", "--role", "auditor", "--password-stdin")
    assert code == 0, err
    code, out, _ = run_json(capsys, "token", "add", "zhou", "--label", "ci")
    assert code == 0
    assert run_json(capsys, "token", "revoke", "zhou")[0] == 0
    assert run_json(capsys, "user", "disable", "zhou")[0] == 0
    events = _events(cli_db)
    assert [e.kind for e in events] == ["user_created", "token_created", "tokens_revoked", "user_disabled"]
    assert all(e.via == "cli" and e.username == "zhou" and e.detail.startswith("os:operator7") for e in events)
    assert out["token"] not in events[1].detail
    code = main(["security", "log", "--user", "zhou"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and [line["kind"] for line in lines] == ["user_disabled", "tokens_revoked", "token_created",
                                                               "user_created"]


def test_the_security_log_page_is_for_the_audit_roles(client: TestClient, db_engine: Engine, config: Config,
                                                      clock: Clock) -> None:
    _user(db_engine, config, "aud1", role="auditor")
    _login(client, "someone", "wrong password 1")
    assert _login(client, "aud1").status_code == 303
    page = client.get("/audit/security")
    assert page.status_code == 200
    rows = re.findall(r'<tr class="kind-([a-z_]+)">', page.text)
    assert rows == ["login_ok", "login_failed"]
    assert "someone" in page.text and "testclient" in page.text
    only = client.get("/audit/security", params={"kind": "login_failed"})
    assert re.findall(r'<tr class="kind-([a-z_]+)">', only.text) == ["login_failed"]
    _user(db_engine, config, "desk1", role="desk")
    assert _login(client, "desk1").status_code == 303
    assert client.get("/audit/security").status_code == 403


# ---------------------------------------------------------------- one's own sessions (ASVS 3.3.4)


def _end(client: TestClient, session: str, password: str) -> Any:
    return client.post("/account/sessions", data={"csrf": _csrf(client, "/account/sessions"), "session": session,
                                                  "current_password": password}, follow_redirects=False)


def test_a_user_sees_their_sessions_and_ends_another_after_the_password(
        app: FastAPI, db_engine: Engine, config: Config, clock: Clock) -> None:
    """Three browsers of one user: the page lists three sessions with where each signed in, marks
    this one; a wrong password ends nothing (and counts towards the lockout); with the password one
    session ends, then all the others; the ended browsers are signed out on their next request."""
    _user(db_engine, config, "li.na", role="desk")
    here = TestClient(app, headers={"user-agent": "Chromium/131 (desk PC)"})
    phone, laptop = TestClient(app, headers={"user-agent": "Mobile Safari"}), TestClient(app)
    for browser in (here, phone, laptop):
        clock.advance(minutes=1)
        assert _login(browser, "li.na").status_code == 303
    page = here.get("/account/sessions")
    listed = re.findall(r'<tr( class="current")?><td>#(\d+)</td>', page.text)
    assert len(listed) == 3 and [bool(c) for c, _ in listed] == [False, False, True]  # newest first
    assert "Chromium/131 (desk PC)" in page.text and "Mobile Safari" in page.text and "本浏览器" in page.text
    phone_id = listed[1][1]

    wrong = _end(here, phone_id, "not my password 1")
    assert wrong.status_code == 422 and "当前密码" in _error(wrong.text)
    assert _signed_in(phone)
    done = _end(here, phone_id, PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/account/sessions?ended=1"
    assert not _signed_in(phone) and _signed_in(laptop) and _signed_in(here)
    assert _end(here, "others", PASSWORD).headers["location"] == "/account/sessions?ended=1"
    assert not _signed_in(laptop) and _signed_in(here)
    kinds = [e.kind for e in _events(db_engine, username="li.na")]
    assert kinds[-5:] == ["reauth_failed", "reauth_ok", "session_ended", "reauth_ok", "session_ended"]


def test_a_session_from_before_the_list_shows_what_was_not_recorded(
        client: TestClient, db_engine: Engine, config: Config, clock: Clock) -> None:
    """Sessions made before migration 0015 have no address or browser: shown as 未记录."""
    _user(db_engine, config, "li.na", role="desk")
    assert _login(client, "li.na").status_code == 303
    with session_scope(db_engine) as s:
        s.execute(text("UPDATE web_session SET address = NULL, user_agent = NULL"))
    assert client.get("/account/sessions").text.count("未记录") == 2
