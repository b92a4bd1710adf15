"""`audit verify` re-hashes evidence incrementally (models/anchors.py `verify_with_anchors`,
models/workbench.py `evidence_check`): from the last verified anchor it re-hashes only the files whose
`evidence_attached` event lies after that anchor (the hourly audit-anchor run); `--full` re-hashes every
file and so catches a change to one recorded before the anchor. Every file's row is still compared
with its event on each run, and a failed run records no checkpoint, so the next incremental run
re-hashes the changed file again."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update

from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.anchor import ChainBroken, anchor_now
from flows.intake import run_intake
from models.anchors import verify_with_anchors
from models.evidence_store import DirectoryStore
from models.submission import submit
from models.workbench import FILE
from services import workbench
from services.unit_of_work import Runtime
from tests.factories import complaint
from tests.support.audit_insider import insider

KEY = b"k3y-for-tests-only-0123456789abcdef"
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)
CAL = WorkingCalendar()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DirectoryStore:
    monkeypatch.setenv("COMPLAINTS_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.setenv("COMPLAINTS_ANCHOR_KEY", KEY.decode())
    return DirectoryStore(tmp_path / "evidence")


def _attach(engine: Engine, config: Config, store: DirectoryStore, data: bytes) -> dict[str, Any]:
    (r,) = submit(engine, [complaint(category="银行卡")], config=config, calendar=CAL, now=NOW)
    run_intake(engine, config, now=NOW)
    with Runtime(config, engine, clock=lambda: LATER).unit() as uow:
        out = workbench.attach(uow, store, case_no=r.case_no, filename="凭证.pdf", data=data, actor="chen.jing")
    return {**out, "case_no": r.case_no}


def _change(store: DirectoryStore, sha256: str) -> None:
    path = store.path(sha256)
    os.chmod(path, 0o644)
    raw = bytearray(path.read_bytes())
    raw[10] ^= 0x01
    path.write_bytes(bytes(raw))


def _pdf(n: int) -> bytes:
    return b"%PDF-1.4\n" + f"evidence {n}\n".encode() + bytes(range(256)) * 8


def test_incremental_verify_skips_files_before_the_anchor_and_the_full_verify_catches_them(
        db_engine: Engine, config: Config, store: DirectoryStore) -> None:
    old = _attach(db_engine, config, store, _pdf(1))
    first = verify_with_anchors(db_engine, key=KEY, evidence=store)  # from genesis; records a checkpoint
    assert first.ok and first.from_seq == 0 and first.files_checked == 1 and first.files_skipped == 0, first
    new = _attach(db_engine, config, store, _pdf(2))
    _change(store, old["sha256"])  # a file recorded before the anchor changes

    incremental = verify_with_anchors(db_engine, key=KEY, evidence=store)
    assert incremental.ok and incremental.from_seq == first.head_seq, incremental
    assert incremental.files_checked == 1 and incremental.files_skipped == 1  # only the new file re-hashed

    full = verify_with_anchors(db_engine, key=KEY, evidence=store, full=True)
    assert not full.ok and full.broken_case == old["case_no"], full
    assert full.problem is not None and "内容已被改动" in full.problem and f"证据文件 {old['file_id']} " in full.problem
    # the full verify recorded no checkpoint: the chain had not moved on, and it failed
    again = verify_with_anchors(db_engine, key=KEY, evidence=store)
    assert again.ok and again.from_seq == incremental.head_seq and again.files_checked == 0
    assert new["sha256"] != old["sha256"]


def test_a_file_changed_after_the_anchor_fails_every_incremental_verify_until_it_is_fixed(
        db_engine: Engine, config: Config, store: DirectoryStore) -> None:
    _attach(db_engine, config, store, _pdf(1))
    assert verify_with_anchors(db_engine, key=KEY, evidence=store).ok
    recent = _attach(db_engine, config, store, _pdf(3))
    _change(store, recent["sha256"])
    for _ in range(2):  # a failed verify records no checkpoint: the next one starts where this one did
        bad = verify_with_anchors(db_engine, key=KEY, evidence=store)
        assert not bad.ok and bad.broken_case == recent["case_no"], bad
        assert bad.problem is not None and "内容已被改动" in bad.problem
    with pytest.raises(ChainBroken, match="内容已被改动"):  # the hourly flow does not anchor over it
        anchor_now(db_engine, LATER)
    store.path(recent["sha256"]).unlink()
    assert store.put(_pdf(3)) == recent["sha256"]  # restored from a copy
    fixed = verify_with_anchors(db_engine, key=KEY, evidence=store)
    assert fixed.ok and fixed.files_checked == 1 and fixed.files_skipped == 1, fixed


def test_incremental_verify_still_compares_every_files_row_with_its_event(
        db_engine: Engine, config: Config, store: DirectoryStore) -> None:
    old = _attach(db_engine, config, store, _pdf(1))
    assert verify_with_anchors(db_engine, key=KEY, evidence=store).ok
    _attach(db_engine, config, store, _pdf(2))
    other = store.put(b"%PDF-1.4\nswapped in\n")
    with insider(db_engine) as conn:  # the row pointed at other bytes behind the chain
        conn.execute(update(FILE).where(FILE.c.id == old["file_id"]).values(sha256=other))
    bad = verify_with_anchors(db_engine, key=KEY, evidence=store)
    assert not bad.ok and bad.broken_case == old["case_no"] and "证据表被直接改动" in (bad.problem or ""), bad


def test_without_a_key_every_verify_re_hashes_every_file(db_engine: Engine, config: Config,
                                                          store: DirectoryStore) -> None:
    old = _attach(db_engine, config, store, _pdf(1))
    assert verify_with_anchors(db_engine, key=KEY, evidence=store).ok
    _change(store, old["sha256"])
    bad = verify_with_anchors(db_engine, key=None, evidence=store)  # no key: no checkpoint to start from
    assert not bad.ok and bad.from_seq == 0 and bad.broken_case == old["case_no"], bad
