"""The JSON of each case action and of an escalation acknowledgement, over the API and the CLI:
the same keys in the same order as when the commands returned dicts (issue 13, typed results).

Every result here comes from the real command run on a real case (SQLite and PostgreSQL); the
only thing written by hand is the list of keys each action answered with before the change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.escalation import run_escalation
from tests.api.support import Clock, account, bearer, install_clock, routed_case
from tests.clirun import run_json
from tests.integration.test_escalation import at, make_case

# The keys (in order) each action's JSON had while the commands returned dict[str, Any].
BEFORE: dict[str, list[str]] = {
    "assign": ["case_no", "status", "handler", "previous_handler"],
    "acknowledge": ["case_no", "status", "previous_status", "acknowledged_at"],
    "pause": ["case_no", "paused_at", "reason", "tier", "clock_started_at", "paused_days", "regulatory_due_at"],
    "resume": ["case_no", "resumed_at", "tier", "clock_started_at", "paused_days", "regulatory_due_at"],
    "new-facts": ["case_no", "tier", "clock_started_at", "paused_days", "regulatory_due_at"],
    "extend": ["case_no", "tier", "clock_started_at", "paused_days", "regulatory_due_at", "previous_due_at"],
    "respond": ["case_no", "status", "previous_status", "responded_at", "outcome", "redress_type", "redress_amount",
                "timely", "callback_due_at"],
    "review": ["case_no", "status", "previous_status", "review_due_at", "owner_name", "owner_org"],
    "close": ["case_no", "status", "previous_status", "closed_at", "root_cause", "root_cause_name", "root_cause_jrt"],
    "reopen": ["case_no", "status", "previous_status"],
    "withdraw": ["case_no", "status", "previous_status", "closed_at"],
    "ack-escalation": ["case_no", "level", "acknowledged_at", "acknowledged_by", "already"],
}

RESPONSE = {"verified": "经核实，年费系按合同收取", "basis": "《信用卡领用合约》第五条", "remedies": "可申请核查、调解、仲裁、诉讼",
            "told_via": "phone", "outcome": "不成立", "not_upheld_reason": "年费系按合同收取"}


def _steps(other: str) -> list[tuple[str, Callable[[str], dict[str, Any]]]]:
    """Every case action once, in an order the lifecycle allows; each body from its instant (ISO 8601)."""
    return [
        ("assign", lambda t: {"handler": other}),
        ("acknowledge", lambda t: {}),
        ("pause", lambda t: {"reason": "鉴定", "evidence": "JD-1", "at": t}),
        ("resume", lambda t: {"at": t}),
        ("new-facts", lambda t: {"at": t}),
        ("extend", lambda t: {"to": "complex", "approver": "li.ming", "reason": "需调取外部机构交易记录",
                              "customer_told_at": t, "customer_told_via": "phone"}),
        ("respond", lambda t: {**RESPONSE, "told_at": t}),
        ("review", lambda t: {"requested_at": t}),
        ("close", lambda t: {"root_cause": "R02"}),
        ("reopen", lambda t: {"reason": "投诉人补充了新的扣费凭证"}),
        ("withdraw", lambda t: {"at": t}),
    ]


def _other(handler: str) -> str:
    return "chu.wei" if handler == "chen.jing" else "chen.jing"


def test_api_action_json_keeps_its_keys(client: TestClient, db_engine: Engine, config: Config,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each action over the API, then an escalation acknowledged: the keys each answered with before."""
    case = routed_case(db_engine, config, category="银行卡")
    clock = Clock(case["received_at"] + timedelta(minutes=1))
    install_clock(monkeypatch, clock)
    token = bearer(account(db_engine, config, "s", "supervisor", person="feng.yu"))
    no = case["case_no"]
    shapes: dict[str, list[str]] = {}
    assert case["handler"]
    for action, body in _steps(_other(case["handler"])):
        clock.advance(hours=1)
        r = client.post(f"/api/complaints/{no}/{action}", json=body(clock.now.isoformat()), headers=token)
        assert r.status_code == 200, (action, r.text)
        assert r.json()["case_no"] == no
        shapes[action] = list(r.json())

    late = routed_case(db_engine, config, category="银行卡")
    run_escalation(db_engine, config, now=late["due_at"] + timedelta(days=2), calendar=WorkingCalendar())
    clock.now = late["due_at"] + timedelta(days=2, hours=1)
    level = client.get("/api/escalations/mine", headers=token).json()[0]["level"]
    r = client.post(f"/api/complaints/{late['case_no']}/escalations/{level}/acknowledge", headers=token)
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "feng.yu", r.text
    shapes["ack-escalation"] = list(r.json())
    assert shapes == BEFORE


def _flags(action: str, body: dict[str, Any]) -> list[str]:
    names = {"handler": "to"} if action == "assign" else {}
    return [a for k, v in body.items() for a in (f"--{names.get(k, k).replace('_', '-')}", str(v))]


def test_cli_action_json_keeps_its_keys(cli_db: Engine, config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    """The same actions through the CLI print the same keys as the API answers with."""
    case_no = make_case(cli_db, config, category="银行卡")
    code, shown, _ = run_json(capsys, "show", case_no)
    assert code == 0
    when: datetime = at("2026-11-26 10:30")
    shapes: dict[str, list[str]] = {}
    for action, body in _steps(_other(shown["handler"])):
        when += timedelta(hours=1)
        t = when.isoformat()
        code, out, err = run_json(capsys, action, case_no, *_flags(action, body(t)), "--now", t)
        assert code == 0 and out["case_no"] == case_no, (action, err)
        shapes[action] = list(out)

    late = make_case(cli_db, config, category="银行卡")
    code, out, _ = run_json(capsys, "escalate", "--now", "2026-11-28T08:00:00+08:00")
    assert code == 0 and out["per_level"] == {"L1": 1}
    code, out, err = run_json(capsys, "ack-escalation", late, "--level", "1", "--by", "feng.yu",
                              "--now", "2026-11-28T09:00:00+08:00")
    assert code == 0 and out["acknowledged_by"] == "feng.yu", err
    shapes["ack-escalation"] = list(out)
    assert shapes == BEFORE
