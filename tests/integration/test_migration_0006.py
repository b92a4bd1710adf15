"""Migration 0006 on a database that already has accounts: existing tokens get an expiry 90 days
after they were made and existing sessions a last use, on SQLite and on PostgreSQL; the
throttle table exists afterwards and a downgrade removes it all again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, inspect

from tests.support.migrations import to_revision, unmigrated

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from unmigrated(request.param, tmp_path, "m0006")


def test_0006_backfills_token_expiry_and_session_last_use(empty_engine: Engine) -> None:
    from sqlmodel.sql.sqltypes import UTCDateTime

    to_revision(empty_engine, "0005")
    user = sa.table("app_user", *(sa.column(c) for c in ("id", "username", "display_name", "role", "password_hash",
                                                         "active")), sa.column("created_at", UTCDateTime()))
    token = sa.table("api_token", sa.column("user_id"), sa.column("token_hash"), sa.column("label"),
                     sa.column("created_at", UTCDateTime()))
    session = sa.table("web_session", sa.column("user_id"), sa.column("token_hash"),
                       sa.column("created_at", UTCDateTime()), sa.column("expires_at", UTCDateTime()))
    with empty_engine.begin() as conn:
        conn.execute(user.insert().values(id=1, username="u", display_name="u", role="cpo", password_hash="x",
                                          active=True, created_at=T0))
        conn.execute(token.insert().values(user_id=1, token_hash="a" * 64, label="", created_at=T0))
        conn.execute(session.insert().values(user_id=1, token_hash="b" * 64, created_at=T0,
                                             expires_at=T0 + timedelta(hours=12)))
    to_revision(empty_engine, "0006")
    tok = sa.table("api_token", sa.column("expires_at", UTCDateTime()))
    ses = sa.table("web_session", sa.column("last_seen_at", UTCDateTime()))
    with empty_engine.connect() as conn:
        assert conn.execute(sa.select(tok.c.expires_at)).scalar_one() == T0 + timedelta(days=90)
        assert conn.execute(sa.select(ses.c.last_seen_at)).scalar_one() == T0
    insp = inspect(empty_engine)
    assert "auth_throttle" in insp.get_table_names()
    assert not next(c for c in insp.get_columns("api_token") if c["name"] == "expires_at")["nullable"]
    to_revision(empty_engine, "0005", down=True)
    insp = inspect(empty_engine)
    assert "auth_throttle" not in insp.get_table_names()
    assert "expires_at" not in {c["name"] for c in insp.get_columns("api_token")}
