"""Migration 0016 adds `channel_send` (the robots' sends every dispatch run counts its rate limit
from) to a database with queued messages, which stay as they were; taken back to 0015 it goes, and
up again works. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from tests.support.migrations import to_revision, unmigrated

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from unmigrated(request.param, tmp_path, "m0016")


def test_0016_adds_channel_send_and_leaves_the_outbox_alone(empty_engine: Engine) -> None:
    to_revision(empty_engine, "0015")
    with empty_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO outbox (dedupe_key, message_id, kind, recipient, channel, address, context, status, "
            "attempts, next_attempt_at, created_at) VALUES ('k1', 'm1', 'routed', 'p1', 'wecom', 'key', '{}', "
            "'pending', 0, :t, :t)"), {"t": T0})
    to_revision(empty_engine, "head")
    assert "channel_send" in inspect(empty_engine).get_table_names()
    assert "ix_channel_send_sent_at" in {i["name"] for i in inspect(empty_engine).get_indexes("channel_send")}
    with empty_engine.begin() as conn:
        conn.execute(text("INSERT INTO channel_send (channel, address, sent_at) VALUES ('wecom', 'key', :t)"),
                     {"t": T0})
        assert conn.execute(text("SELECT message_id, status FROM outbox")).all() == [("m1", "pending")]

    to_revision(empty_engine, "0015", down=True)
    assert "channel_send" not in inspect(empty_engine).get_table_names()
    to_revision(empty_engine, "head")
    with empty_engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM channel_send")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM outbox")).scalar_one() == 1
