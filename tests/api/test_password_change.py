"""One's own password, changed in the browser (ASVS 2.1.5/2.1.6, 3.3.3): the current password is
checked like a sign-in (wrong ones count towards the account's lockout), the new one by the password
rules; afterwards the old password no longer signs in, the new one does, this browser stays signed in
and every other browser session of the user has ended; the change is in the audit chain."""

from __future__ import annotations

import re
import warnings

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select

from complaints.config import Config
from models.audit import AuditEvent
from models.audit_chain import verify
from models.sqlutil import table_of
from tests.api.support import PASSWORD, Clock, install_clock
from tests.api.test_auth import T0, _error, _login, _signed_in, _user

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NEW = "冬天的大连港很冷-2026"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(T0)
    install_clock(monkeypatch, c)
    return c


def _change(client: TestClient, current: str, new: str) -> object:
    form = client.get("/account/password")
    assert form.status_code == 200, form.status_code
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf
    return client.post("/account/password", data={"csrf": csrf.group(1), "current_password": current,
                                                  "password": new}, follow_redirects=False)


def test_a_user_changes_their_password_and_other_sessions_end(app: FastAPI, db_engine: Engine, config: Config,
                                                              clock: Clock) -> None:
    _user(db_engine, config, "li.na", role="desk")
    here, elsewhere = TestClient(app), TestClient(app)
    assert _login(here, "li.na").status_code == 303 and _login(elsewhere, "li.na").status_code == 303

    wrong = _change(here, "not-my-password-at-all", NEW)
    assert wrong.status_code == 422 and "当前密码" in _error(wrong.text)  # type: ignore[attr-defined]
    weak = _change(here, PASSWORD, "123456789012")
    assert weak.status_code == 422 and "password（密码）" in _error(weak.text)  # type: ignore[attr-defined]
    same = _change(here, PASSWORD, PASSWORD)
    assert same.status_code == 422 and "相同" in _error(same.text)  # type: ignore[attr-defined]
    assert _signed_in(elsewhere)  # nothing changed yet

    done = _change(here, PASSWORD, NEW)
    assert done.status_code == 303 and done.headers["location"] == "/account/password?done=1"  # type: ignore[attr-defined]
    assert "密码已修改" in here.get("/account/password?done=1").text
    assert _signed_in(here) and not _signed_in(elsewhere)
    assert _login(TestClient(app), "li.na").status_code == 401  # the old password
    assert _login(TestClient(app), "li.na", NEW).status_code == 303

    with db_engine.connect() as conn:
        rows = conn.execute(select(table_of(AuditEvent).c.actor).where(
            table_of(AuditEvent).c.action == "password_changed")).all()
    assert [r.actor for r in rows] == ["li.na"]
    assert verify(db_engine).ok


def test_wrong_current_passwords_lock_the_account(app: FastAPI, db_engine: Engine, config: Config,
                                                  clock: Clock) -> None:
    """Guessing through the change form is throttled like the login form (5 failures, then locked)."""
    _user(db_engine, config, "wu.gang", role="desk")
    client = TestClient(app)
    assert _login(client, "wu.gang").status_code == 303
    for _ in range(config.policy.auth.account_max_failures - 1):
        assert "不正确" in _error(_change(client, "guess-guess-guess", NEW).text)  # type: ignore[attr-defined]
    assert "锁定" in _error(_change(client, "guess-guess-guess", NEW).text)  # type: ignore[attr-defined]
    locked = _change(client, PASSWORD, NEW)  # even the right one, while locked
    assert locked.status_code == 422 and "锁定" in _error(locked.text)  # type: ignore[attr-defined]
