"""The governance commands (docs/governance.md): respond --outcome, close --root-cause, callback, callbacks,
callback-rates, remediation add|list|show|close|sweep — JSON out, exit 2 naming the field on a refusal."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from complaints.config import Config
from tests.clirun import run_json
from tests.integration.test_escalation import make_case

RESPOND = ["--verified", "已核实", "--basis", "依据合同第5条", "--remedies", "可申请核查、调解、仲裁或诉讼",
           "--told-via", "phone"]


def test_governance_commands(cli_db: Engine, config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    case_no = make_case(cli_db, config, category="银行卡")
    code, out, err = run_json(capsys, "respond", case_no, *RESPOND, "--outcome", "不成立",
                              "--now", "2026-11-27T10:00:00+08:00")
    assert code == 2 and "not-upheld-reason（不成立理由）：投诉不成立时须写明理由" in err and out is None
    code, out, err = run_json(capsys, "respond", case_no, *RESPOND, "--outcome", "不成立", "--not-upheld-reason",
                              "按合约收取", "--now", "2026-11-27T10:00:00+08:00")
    assert code == 0 and out["outcome"] == "not_upheld" and out["timely"] is True, err
    assert out["callback_due_at"] == "2026-12-02T23:59:59+08:00"  # Fri 11-27 → Mon, Tue, Wed
    code, out, _ = run_json(capsys, "callbacks", "--now", "2026-11-28T10:00:00+08:00")
    assert [c["case_no"] for c in out] == [case_no]
    code, out, err = run_json(capsys, "callback", case_no, "--result", "unreachable", "--now",
                              "2026-11-30T10:00:00+08:00")
    assert code == 0 and out["callback"]["attempts"] == 1 and out["callback"]["result"] == "pending", err
    code, out, err = run_json(capsys, "callback", case_no, "--result", "reached", "--satisfaction", "满意",
                              "--now", "2026-12-01T10:00:00+08:00")
    assert code == 0 and out["callback"]["satisfaction"] == "satisfied", err
    code, out, _ = run_json(capsys, "callback-rates", "--start", "2026-12-01T00:00:00+08:00",
                            "--end", "2026-12-31T00:00:00+08:00")
    assert [(r["branch"], r["reached"], r["satisfaction_rate"]) for r in out] == [("dl", 1, 1.0)]
    code, _, err = run_json(capsys, "close", case_no, "--now", "2026-12-01T11:00:00+08:00")
    assert code == 2 and "root-cause（投诉根因）：必填" in err
    code, out, err = run_json(capsys, "close", case_no, "--root-cause", "客户误解", "--now", "2026-12-01T11:00:00+08:00")
    assert code == 0 and (out["status"], out["root_cause"]) == ("closed", "R08"), err

    code, out, err = run_json(capsys, "remediation", "add", "--title", "年费规则告知", "--due", "2026-12-10",
                              "--from-case", case_no, "--now", "2026-12-01T12:00:00+08:00")
    assert code == 0 and out["root_cause"] == "R08" and out["before_90_days"] == 1, err
    ref = out["ref"]
    code, out, _ = run_json(capsys, "remediation", "list", "--status", "open")
    assert [i["ref"] for i in out] == [ref]
    code, out, _ = run_json(capsys, "remediation", "sweep", "--now", "2026-12-16T10:00:00+08:00")
    assert [e["level"] for e in out["escalations"]] == [1, 2]  # 6 days late: levels 1 and 2, once each
    code, out, _ = run_json(capsys, "remediation", "sweep", "--now", "2026-12-16T11:00:00+08:00")
    assert out["fired"] == 0
    code, _, err = run_json(capsys, "remediation", "close", ref, "--now", "2026-12-16T12:00:00+08:00")
    assert code == 2 and "evidence（整改佐证）" in err
    code, out, err = run_json(capsys, "remediation", "close", ref, "--evidence", "告知话术已更新",
                              "--now", "2026-12-16T12:00:00+08:00")
    assert code == 0 and out["status"] == "closed" and out["escalated_level"] == 2, err
    code, out, _ = run_json(capsys, "remediation", "show", ref)
    assert out["evidence"] == "告知话术已更新"
    code, out, _ = run_json(capsys, "audit", "verify", "--full")
    assert code == 0 and out["ok"] is True
