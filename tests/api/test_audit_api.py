"""/api/audit/verify: from the last verified anchor (at once), against the anchors, naming the one lost."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from complaints.config import Config
from models.anchors import ANCHOR, anchor_file, make_anchor, verify_with_anchors
from models.audit import AuditEvent, AuditHead
from models.evidence_store import DirectoryStore, evidence_store
from models.sqlutil import table_of
from services import workbench
from services.unit_of_work import Runtime
from tests.api.support import account, bearer, routed_case
from tests.support.audit_insider import insider

KEY = "api-test-anchor-key-0123456789"
A = table_of(AuditEvent)
HEAD = table_of(AuditHead)


def test_audit_verify_is_incremental_and_names_the_anchor_a_tail_cut_lost(
        client: TestClient, db_engine: Engine, config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLAINTS_ANCHOR_KEY", KEY)
    routed_case(db_engine, config)
    routed_case(db_engine, config)
    anchor = make_anchor(db_engine, KEY.encode(), "test", datetime.now(UTC), anchor_file())
    auth = bearer(account(db_engine, config, "u-aud", "auditor", person="lin.shen"))

    first = client.get("/api/audit/verify", headers=auth).json()
    assert first["ok"] and first["from_seq"] == 0 and first["anchors_checked"] == 2
    routed_case(db_engine, config)
    second = client.get("/api/audit/verify", headers=auth).json()
    assert second["ok"] and second["from_seq"] == first["head_seq"] and second["checked"] == 2
    full = client.get("/api/audit/verify", params={"full": "true"}, headers=auth).json()
    assert full["ok"] and full["from_seq"] == 0 and full["checked"] == full["head_seq"]

    with insider(db_engine) as conn:
        conn.execute(A.delete().where(A.c.seq >= anchor.seq))
        last = conn.execute(select(A.c.seq, A.c.hash).order_by(A.c.seq.desc()).limit(1)).one()
        conn.execute(update(HEAD).values(seq=last.seq, hash=last.hash))
        conn.execute(ANCHOR.delete())
    out = client.get("/api/audit/verify", headers=auth).json()
    assert not out["ok"] and out["broken_seq"] == anchor.seq
    assert out["files_checked"] is None and out["files_skipped"] is None  # the chain failed before the files
    assert out["broken_anchor"].startswith("锚点文件") and "数据库不再包含锚点" in out["problem"]


def test_audit_verify_returns_the_evidence_files_checked_and_skipped(
        client: TestClient, db_engine: Engine, config: Config, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """files_checked / files_skipped as the real verify (models/anchors.py) counts them: the incremental
    verify re-hashes only the files recorded after its anchor, the full one all of them."""
    monkeypatch.setenv("COMPLAINTS_ANCHOR_KEY", KEY)
    monkeypatch.setenv("COMPLAINTS_EVIDENCE_DIR", str(tmp_path / "evidence"))
    store = evidence_store()
    assert isinstance(store, DirectoryStore) and store.root == tmp_path / "evidence"

    def attach(n: int) -> None:
        case_no = routed_case(db_engine, config)["case_no"]
        data = b"%PDF-1.4\n" + f"evidence {n}\n".encode() + bytes(range(256)) * 4
        with Runtime(config, db_engine).unit() as uow:
            workbench.attach(uow, store, case_no=case_no, filename="凭证.pdf", data=data, actor="chen.jing")

    auth = bearer(account(db_engine, config, "u-aud", "auditor", person="lin.shen"))
    attach(1)
    first = client.get("/api/audit/verify", headers=auth).json()
    assert first["ok"] and first["from_seq"] == 0, first
    assert (first["files_checked"], first["files_skipped"]) == (1, 0), first
    attach(2)
    second = client.get("/api/audit/verify", headers=auth).json()
    assert second["ok"] and second["from_seq"] == first["head_seq"], second
    assert (second["files_checked"], second["files_skipped"]) == (1, 1), second  # only the new file re-hashed

    real = verify_with_anchors(db_engine, key=KEY.encode(), checkpoint=False)
    assert real.ok and real.from_seq == second["head_seq"] and (real.files_checked, real.files_skipped) == (0, 2)
    same = client.get("/api/audit/verify", headers=auth).json()
    assert (same["from_seq"], same["files_checked"], same["files_skipped"]) == (
        real.from_seq, real.files_checked, real.files_skipped), same
    full = client.get("/api/audit/verify", params={"full": "true"}, headers=auth).json()
    assert full["ok"] and (full["files_checked"], full["files_skipped"]) == (2, 0), full
