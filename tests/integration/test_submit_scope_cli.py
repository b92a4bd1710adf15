"""`complaints submit` (the operator's import tool): its idempotency keys are the `cli` client's,
a key reused with another complaint is refused in Chinese (exit 2, nothing stored), and it may
import a backdated receipt, recorded in the audit event (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from models.audit import AuditEvent
from models.complaint import Complaint
from models.sqlutil import table_of
from tests.clirun import run_json
from tests.factories import complaint_data

C = table_of(Complaint)
AUDIT = table_of(AuditEvent)


def test_cli_keys_are_its_own_and_a_reuse_is_refused(cli_db: Engine, capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    first = tmp_path / "first.json"
    first.write_text(json.dumps(complaint_data(external_ref="IMP-1", received_at="2025-06-02T10:00:00+08:00")),
                     encoding="utf-8")
    code, out, _ = run_json(capsys, "submit", str(first))
    assert code == 0 and out["case_no"].startswith("DL-2025-") and not out["duplicate"]
    code, again, _ = run_json(capsys, "submit", str(first))
    assert code == 0 and again["case_no"] == out["case_no"] and again["duplicate"]
    other = tmp_path / "other.json"
    other.write_text(json.dumps(complaint_data(external_ref="IMP-1", request="另一件事")), encoding="utf-8")
    code, nothing, err = run_json(capsys, "submit", str(other))
    assert (code, nothing) == (2, None)
    assert "external_ref（外部编号）：'IMP-1' 已用于另一件内容不同的投诉" in err and "Traceback" not in err
    with cli_db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(C)).scalar_one() == 1
        assert conn.execute(select(C.c.submitted_by)).scalar_one() == "cli"
        detail = conn.execute(select(AUDIT.c.detail).where(AUDIT.c.case_no == out["case_no"])).scalar_one()
    assert detail.startswith("补录（命令行导入）：受理时间早于登记时间 ")
