"""Anchors an insider forges or removes (issue 12): with a signing key configured, an unsigned anchor
vouches for nothing, and a deleted anchor file is missed, not passed over.

The insider owns the database: drops the triggers, rewrites the chain with every hash recomputed,
deletes the database's copies of the anchors, and puts an unsigned anchor matching the rewritten
head into the report snapshot (anyone can compute one: it needs no key) — then deletes the file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from complaints.config import Config
from flows.anchor import ChainBroken, anchor_now
from flows.weekly_report import build_weekly_report
from models.anchors import anchor_file, verify_with_anchors
from tests.integration.test_audit_tamper import HEAD, KEY, NOW, SNAP, C, _rewrite, _submit, _world
from tests.support.audit_insider import insider


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLAINTS_ANCHOR_KEY", KEY)


def _verify(engine: Engine) -> Any:
    return verify_with_anchors(engine, key=KEY.encode(), full=True, rows=True, checkpoint=False)


def test_an_unsigned_anchor_matching_a_rewritten_chain_is_refused(db_engine: Engine, config: Config,
                                                                   tmp_path: Path) -> None:
    _world(db_engine, config)
    report = build_weekly_report(db_engine, config, "2026-W48", datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
                                 output_dir=tmp_path)
    assert report.anchor is not None and report.anchor["sig"]
    with insider(db_engine) as conn:
        _rewrite(conn, lambda rows: [r for r in rows if r["action"] != "acknowledged"])  # an action erased
        head = conn.execute(select(HEAD.c.seq, HEAD.c.hash)).one()
        conn.execute(update(SNAP).values(anchor={**report.anchor, "seq": head.seq, "hash": head.hash, "sig": None}))
    anchor_file().unlink()
    result = _verify(db_engine)
    assert not result.ok, result
    assert "没有签名" in (result.problem or "") and "周报快照" in (result.broken_anchor or "")


def test_a_deleted_anchor_file_is_missed(db_engine: Engine, config: Config) -> None:
    _world(db_engine, config)  # one anchor made: in the database and on the file
    assert _verify(db_engine).ok
    path = anchor_file()
    path.unlink()
    result = _verify(db_engine)
    assert not result.ok and "不存在或为空" in (result.problem or "") and str(path) in (result.problem or "")
    path.write_text("\n", encoding="utf-8")  # emptied counts the same
    assert "不存在或为空" in (_verify(db_engine).problem or "")


def test_no_anchor_file_before_the_first_anchor_is_fine(db_engine: Engine, config: Config) -> None:
    """A new system with a key has no file until its first anchor (hourly or a frozen report); verify's
    own checkpoints do not count as anchors written to the file."""
    _submit(db_engine, config, 2)
    assert not anchor_file().exists()
    first = verify_with_anchors(db_engine, key=KEY.encode(), rows=True)  # records a signed checkpoint
    assert first.ok, first
    again = verify_with_anchors(db_engine, key=KEY.encode(), rows=True)
    assert again.ok, again


def test_the_hourly_anchor_refuses_a_complaint_row_edited_behind_the_chain(db_engine: Engine, config: Config) -> None:
    """The auditor's page verifies incrementally (no row scan); the hourly audit-anchor run checks every
    complaint row against its last event and does not anchor over an edited one."""
    _, cases = _world(db_engine, config)
    anchor_now(db_engine, NOW)
    with insider(db_engine) as conn:
        conn.execute(update(C).where(C.c.case_no == cases[1]).values(status="closed"))
    with pytest.raises(ChainBroken, match=cases[1]):
        anchor_now(db_engine, NOW)
