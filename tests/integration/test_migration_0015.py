"""Migration 0015 on a database with users and browser sessions: the sessions survive with no
address or browser recorded, the security log is there and append-only; taken back to 0014 both go
(and the triggers with them), and up again works. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from tests.support.migrations import to_revision, unmigrated

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from unmigrated(request.param, tmp_path, "m0015")


def _session_columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("web_session")}


def test_0015_keeps_sessions_and_adds_an_append_only_security_log(empty_engine: Engine) -> None:
    to_revision(empty_engine, "0014")
    with empty_engine.begin() as conn:
        conn.execute(text("INSERT INTO app_user (username, display_name, role, password_hash, active, created_at) "
                          "VALUES ('li.na', '李娜', 'desk', 'x', true, :t)"), {"t": T0})
        conn.execute(text("INSERT INTO web_session (user_id, token_hash, created_at, expires_at, last_seen_at) "
                          "SELECT id, 'abc', :t, :t, :t FROM app_user"), {"t": T0})
    to_revision(empty_engine, "head")
    assert {"address", "user_agent"} <= _session_columns(empty_engine)
    with empty_engine.begin() as conn:
        assert conn.execute(text("SELECT token_hash, address, user_agent FROM web_session")).all() == [
            ("abc", None, None)]
        conn.execute(text("INSERT INTO security_event (at, kind, via, detail) VALUES (:t, 'login_ok', 'page', '')"),
                     {"t": T0})
    with pytest.raises(DBAPIError, match="只可追加"), empty_engine.begin() as conn:
        conn.execute(text("DELETE FROM security_event"))

    to_revision(empty_engine, "0014", down=True)
    assert "security_event" not in inspect(empty_engine).get_table_names()
    assert {"address", "user_agent"}.isdisjoint(_session_columns(empty_engine))
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT token_hash FROM web_session")).scalars().all() == ["abc"]
    to_revision(empty_engine, "head")
    with empty_engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM security_event")).scalar_one() == 0
