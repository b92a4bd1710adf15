"""The CLI's accounts and actors: `token add --days`, `token revoke` ending sessions, `user
disable/enable`, weak passwords refused; the audit trail records the OS user who ran the
command, and `--actor` only with a valid token of that web user (whose role then applies)."""

from __future__ import annotations

import io
import sys
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from complaints.config import Config
from models.db import session_scope
from models.users import (
    SESSION,
    TOKEN,
    USER,
    create_session,
    create_token,
    create_user,
    user_for_token,
)
from tests.api.support import PASSWORD
from tests.clirun import run_json
from tests.integration.test_escalation import make_case

_run = run_json


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch) -> str:
    """The OS login name the CLI sees (getpass.getuser), fixed for the test."""
    import getpass

    monkeypatch.setattr(getpass, "getuser", lambda: "operator7")
    return "os:operator7"


def _account(engine: Engine, config: Config, name: str, role: str, person: str | None = None) -> str:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    with session_scope(engine) as s:
        user = create_user(s, username=name, role=role, password=PASSWORD, config=config, now=now,
                           person_id=person)
        create_session(s, user_id=user.id, now=now)
        return create_token(s, username=name, now=now)


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


@pytest.mark.parametrize("password", ["12345678", "aaaaaaaa", "        ", "password1234"])
def test_user_add_refuses_weak_passwords(cli_db: Engine, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch, password: str) -> None:
    """The probes accepted for an admin before: exit 2, the password field named in Chinese, nothing stored."""
    _stdin(monkeypatch, password + "\n")
    code, _, err = _run(capsys, "user", "add", "admin1", "--role", "admin", "--password-stdin")
    assert code == 2 and "password（密码）：" in err
    with cli_db.connect() as conn:
        assert conn.execute(select(USER.c.id)).first() is None


def test_token_add_days_and_revoke_ends_sessions(cli_db: Engine, config: Config,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`token add --days 7` stores an expiry 7 days on; `token revoke` revokes it and ends the
    user's browser sessions."""
    _account(cli_db, config, "cpo1", "cpo")
    code, out, err = _run(capsys, "token", "add", "cpo1", "--days", "7")
    assert code == 0, err
    with session_scope(cli_db) as s:
        row = s.execute(select(TOKEN.c.created_at, TOKEN.c.expires_at).order_by(TOKEN.c.id.desc())).first()
        assert row is not None and row.expires_at - row.created_at == timedelta(days=7)
        assert user_for_token(s, out["token"], now=row.created_at) is not None
    code, out, _ = _run(capsys, "token", "add", "cpo1", "--days", "0")
    assert code == 2
    code, out, _ = _run(capsys, "token", "revoke", "cpo1")
    assert code == 0 and out == {"user": "cpo1", "revoked": 2, "sessions_ended": 1}
    with cli_db.connect() as conn:
        assert conn.execute(select(SESSION.c.id)).first() is None


def test_user_disable_and_enable(cli_db: Engine, config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    """`user disable` ends tokens and sessions; `user enable` lets the user sign in again (old tokens stay revoked)."""
    token = _account(cli_db, config, "cpo1", "cpo")
    code, out, _ = _run(capsys, "user", "disable", "cpo1")
    assert code == 0 and out["active"] is False
    with session_scope(cli_db) as s:
        assert s.execute(select(USER.c.active)).scalar_one() is False
        assert s.execute(select(SESSION.c.id)).first() is None
        assert s.execute(select(TOKEN.c.revoked_at)).scalar_one() is not None
    code, out, _ = _run(capsys, "user", "enable", "cpo1")
    assert code == 0 and out["active"] is True
    with session_scope(cli_db) as s:
        assert s.execute(select(USER.c.active)).scalar_one() is True
        assert s.execute(select(TOKEN.c.revoked_at)).scalar_one() is not None
    assert token
    code, _, err = _run(capsys, "user", "disable", "nobody")
    assert code == 2 and "nobody" in err


def _last_actor(capsys: pytest.CaptureFixture[str], case_no: str) -> tuple[str, str]:
    code, case, _ = _run(capsys, "show", case_no)
    assert code == 0
    last = case["audit"][-1]
    return last["action"], last["actor"]


def test_show_unmask_records_the_os_user(cli_db: Engine, config: Config, capsys: pytest.CaptureFixture[str],
                                         operator: str) -> None:
    """`show --unmask` records the OS user who ran it, not a name typed on the command line."""
    case_no = make_case(cli_db, config)
    code, case, _ = _run(capsys, "show", case_no, "--unmask")
    assert code == 0 and "*" not in case["complainant"]["phone"]
    assert _last_actor(capsys, case_no) == ("viewed_personal_data", operator)


def test_actor_needs_a_token_of_that_user_and_their_role(cli_db: Engine, config: Config,
                                                         capsys: pytest.CaptureFixture[str], operator: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`--actor aud1` alone is refused; with another user's token refused; with aud1's own token
    refused too (an auditor is always masked); a handler with their token is recorded by name."""
    case_no = make_case(cli_db, config)
    auditor = _account(cli_db, config, "aud1", "auditor", "lin.shen")
    handler = _account(cli_db, config, "h1", "handler", "chen.jing")
    code, _, err = _run(capsys, "show", case_no, "--unmask", "--actor", "aud1")
    assert code == 2 and "actor（操作人）：" in err and "--token" in err
    code, _, err = _run(capsys, "show", case_no, "--unmask", "--actor", "aud1", "--token", handler)
    assert code == 2 and "token（令牌）：" in err
    code, _, err = _run(capsys, "show", case_no, "--unmask", "--actor", "aud1", "--token", auditor)
    assert code == 2 and "无权" in err
    assert _last_actor(capsys, case_no) == ("routed", "intake")  # nothing recorded
    monkeypatch.setenv("COMPLAINTS_TOKEN", handler)
    code, _, err = _run(capsys, "show", case_no, "--unmask", "--actor", "h1")
    assert code == 0, err
    assert _last_actor(capsys, case_no) == ("viewed_personal_data", "h1")


def test_case_actions_record_the_os_user(cli_db: Engine, config: Config, capsys: pytest.CaptureFixture[str],
                                         operator: str) -> None:
    """An escalation-module action (acknowledge) with no --actor is recorded as the OS user."""
    case_no = make_case(cli_db, config)
    code, _, err = _run(capsys, "acknowledge", case_no, "--now", "2026-11-26T11:00:00+08:00")
    assert code == 0, err
    assert _last_actor(capsys, case_no) == ("acknowledged", operator)
