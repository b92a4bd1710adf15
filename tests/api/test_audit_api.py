"""/api/audit/verify: from the last verified anchor (at once), against the anchors, naming the one lost."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from complaints.config import Config
from models.anchors import ANCHOR, anchor_file, make_anchor
from models.audit import AuditEvent, AuditHead
from models.sqlutil import table_of
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
    assert out["broken_anchor"].startswith("锚点文件") and "数据库不再包含锚点" in out["problem"]
