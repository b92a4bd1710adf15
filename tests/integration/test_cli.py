"""The CLI contract: JSON out, exit codes, nothing stored on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from models.complaint import Complaint
from models.sqlutil import table_of
from tests.clirun import run_json
from tests.factories import complaint_data

_run = run_json


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table_of(Complaint))).scalar_one())


def _file(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_submit_prints_case_and_deadlines_with_offsets(cli_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """Submitting the example prints case_no, status and ISO 8601 deadlines with +08:00."""
    code, out, _ = _run(capsys, "submit", "examples/complaint.json")
    assert code == 0
    assert out["case_no"] == "DL-2026-000001" and out["status"] == "received"
    assert out["due_at"] == "2026-12-11T23:59:59+08:00" and out["ack_due_at"] == "2026-11-27T23:59:59+08:00"


def test_one_bad_item_stores_nothing(cli_db: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A list with one invalid item exits 2, names the item's bad fields, and stores none of the list."""
    bad = complaint_data(complainant={"name": "李四"}, facts="")
    code, out, err = _run(capsys, "submit", _file(tmp_path, [complaint_data(), bad]))
    assert code == 2 and out is None
    assert "[1].complainant（投诉人）：须至少填写一种联系方式：联系电话、电子邮箱或联系地址" in err
    assert "[1].facts（事实和理由）：不能为空" in err
    assert _count(cli_db) == 0


def test_partial_stores_the_valid_items(cli_db: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """With --partial the valid items are stored, the invalid one is reported, exit code 1."""
    code, out, _ = _run(capsys, "submit", "--partial",
                        _file(tmp_path, [complaint_data(), complaint_data(branch="nowhere")]))
    assert code == 1
    assert out[0]["case_no"].startswith("DL-") and out[1]["index"] == 1
    assert "branch（受理机构）：未知的机构代码 'nowhere'" in out[1]["errors"][0]
    assert _count(cli_db) == 1


def test_naive_received_at_is_refused(cli_db: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A receipt time without a UTC offset is refused, naming the field."""
    code, _, err = _run(capsys, "submit", _file(tmp_path, complaint_data(received_at="2026-11-26T09:30:00")))
    assert code == 2 and "received_at（接收时间）：须带时区" in err


def test_not_json_names_the_position(cli_db: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A broken JSON file is reported with line and column, exit 2."""
    path = tmp_path / "broken.json"
    path.write_text('{"request": "x",\n "facts": }', encoding="utf-8")
    code, _, err = _run(capsys, "submit", str(path))
    assert code == 2 and "file（文件）：" in err and "broken.json 第 2 行第 " in err and "不是有效的 JSON" in err


def test_show_and_list_after_intake(cli_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """After intake, show has the routed case with chain and audit; list filters by department and overdue."""
    _run(capsys, "submit", "examples/complaint.json")
    code, out, _ = _run(capsys, "intake", "--direct")
    assert code == 0 and out["routed"] == 1
    code, case, _ = _run(capsys, "show", "DL-2026-000001")
    assert code == 0
    assert {"case_no", "status", "department", "handler", "chain", "due_at", "ack_due_at", "audit"} <= set(case)
    assert case["status"] == "routed" and case["complainant"]["phone"] == "138****5678"
    assert [a["action"] for a in case["audit"]] == ["received", "routed"]
    _, rows, _ = _run(capsys, "list", "--department", "card")
    assert [r["case_no"] for r in rows] == ["DL-2026-000001"]
    _, rows, _ = _run(capsys, "list", "--overdue", "--now", "2026-12-12T00:00:00+08:00")
    assert [r["case_no"] for r in rows] == ["DL-2026-000001"]
    _, rows, _ = _run(capsys, "list", "--overdue", "--now", "2026-12-11T23:59:00+08:00")
    assert rows == []


def test_unmasked_view_is_audited(cli_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """show --unmask reveals the phone and records who viewed it in the audit trail: the OS user
    who ran it (a typed --actor needs that web user's token: tests/integration/test_cli_users.py)."""
    import getpass

    _run(capsys, "submit", "examples/complaint.json")
    _, case, _ = _run(capsys, "show", "DL-2026-000001", "--unmask")
    assert case["complainant"]["phone"] == "13812345678"
    code, verify, _ = _run(capsys, "audit", "verify")
    assert code == 0 and verify["ok"] and verify["checked"] == 2
    _, again, _ = _run(capsys, "show", "DL-2026-000001")
    assert [(a["action"], a["actor"]) for a in again["audit"]][-1] == ("viewed_personal_data", f"os:{getpass.getuser()}")
    # the view is stamped with the command's clock (--now), not the machine's
    _run(capsys, "show", "DL-2026-000001", "--unmask", "--now", "2026-11-30T10:00:00+08:00")
    _, last, _ = _run(capsys, "show", "DL-2026-000001")
    assert last["audit"][-1]["action"] == "viewed_personal_data"
    assert last["audit"][-1]["at"].startswith("2026-11-30T10:00:00"), last["audit"][-1]


def test_unknown_case_is_a_clear_error(cli_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """show of a case that does not exist exits 2 with its number in the message."""
    code, _, err = _run(capsys, "show", "DL-2026-999999")
    assert code == 2 and "DL-2026-999999" in err
