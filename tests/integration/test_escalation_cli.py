"""The escalation commands: JSON out, exit 2 with the field named and nothing stored on a refusal."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from complaints.config import Config
from tests.clirun import run_json
from tests.integration.test_escalation import make_case

_run = run_json


def test_escalate_show_and_ack_through_the_cli(cli_db: Engine, config: Config,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`escalate --now` fires L1, `show` lists it with its recipients, `ack-escalation` records who saw it."""
    case_no = make_case(cli_db, config, category="银行卡")
    code, out, _ = _run(capsys, "escalate", "--now", "2026-11-28T08:00:00+08:00")
    assert code == 0 and out["per_level"] == {"L1": 1}
    code, out, err = _run(capsys, "ack-escalation", case_no, "--level", "1", "--by", "zhao.li",
                          "--now", "2026-11-28T09:00:00+08:00")
    assert code == 2 and f"by（确认人）：'zhao.li' 不是案件 {case_no} 第 1 级督办的接收人" in err
    code, out, _ = _run(capsys, "ack-escalation", case_no, "--level", "1", "--by", "feng.yu",
                        "--now", "2026-11-28T09:00:00+08:00")
    assert code == 0 and out["acknowledged_by"] == "feng.yu"
    code, out, _ = _run(capsys, "show", case_no)
    (esc,) = out["escalations"]
    assert esc["level"] == 1 and esc["recipients"][0]["name"] == "冯宇"
    assert esc["acknowledged_by"] == "feng.yu" and esc["acknowledged_at"] == "2026-11-28T09:00:00+08:00"


def test_wrong_approver_and_illegal_move_exit_2(cli_db: Engine, config: Config,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """An extension approved by the wrong person and closing an unanswered case both exit 2 and change nothing."""
    case_no = make_case(cli_db, config)
    code, _, err = _run(capsys, "extend", case_no, "--to", "complex", "--approver", "zhao.li", "--reason", "需调查",
                        "--customer-told-at", "2026-11-27T10:00:00+08:00", "--customer-told-via", "sms",
                        "--now", "2026-11-27T10:00:00+08:00")
    assert code == 2 and "approver（批准人）：30 日延期须由本行投诉处理工作负责人 " in err and "（li.ming）批准" in err
    code, _, err = _run(capsys, "close", case_no, "--now", "2026-11-27T10:00:00+08:00")
    assert code == 2 and "status（状态）：“已分派”的案件不能转为“已办结”（已分派 → 已办结）" in err
    code, out, _ = _run(capsys, "show", case_no)
    assert out["tier"] == "standard" and out["status"] == "routed"
    assert [e["action"] for e in out["audit"]] == ["received", "routed"]


def test_forecast_lists_what_escalates_and_breaches_by_then(cli_db: Engine, config: Config,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A day before the deadline, the forecast shows L0/L1 already due, L2 coming and the breach."""
    case_no = make_case(cli_db, config)
    _run(capsys, "acknowledge", case_no, "--now", "2026-11-26T11:00:00+08:00")
    code, out, _ = _run(capsys, "forecast", "--days", "1", "--now", "2026-12-11T10:00:00+08:00")
    assert code == 0
    assert sorted(out["escalations"]) == ["L0", "L1", "L2"]
    assert [c["case_no"] for c in out["breaching"]] == [case_no]
