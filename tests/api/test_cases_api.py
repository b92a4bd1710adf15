"""Reading and acting on cases over the API: timeline, Art. 19 content, 409 with both states,
masking and the audited unmasked view, supervisors' scope, escalations."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.escalation import run_escalation
from models.audit import AuditEvent
from models.audit_chain import verify
from models.sqlutil import table_of
from tests.api.support import account, bearer, routed_case

AUDIT = table_of(AuditEvent)
RESPONSE = {"verified": "经核实，年费系按合同收取", "basis": "《信用卡领用合约》第五条", "remedies": "可申请核查、调解、仲裁、诉讼",
            "told_via": "phone", "outcome": "不成立", "not_upheld_reason": "年费系按合同收取"}


def test_handler_acknowledges_and_responds_and_the_timeline_shows_it(client: TestClient, db_engine: Engine,
                                                                    config: Config) -> None:
    """The handler acknowledges then responds with the Art. 19 content; the case's timeline lists both."""
    case = routed_case(db_engine, config)
    token = account(db_engine, config, "h", "handler", person=case["handler"])
    no = case["case_no"]
    r = client.post(f"/api/complaints/{no}/acknowledge", headers=bearer(token))
    assert r.status_code == 200 and r.json()["status"] == "acknowledged", r.text
    r = client.post(f"/api/complaints/{no}/respond", json=RESPONSE, headers=bearer(token))
    assert r.status_code == 200 and r.json()["status"] == "responded", r.text
    detail = client.get(f"/api/complaints/{no}", headers=bearer(token)).json()
    actions = [e["action"] for e in detail["audit"]]
    assert actions == ["received", "routed", "acknowledged", "responded"]
    assert detail["audit"][-1]["actor"] == "h"
    assert verify(db_engine).ok


def test_response_without_art19_content_names_the_field(client: TestClient, db_engine: Engine,
                                                        config: Config) -> None:
    """A response missing 依据和理由 is refused with 422 naming `basis`, and the case stays as it was."""
    case = routed_case(db_engine, config)
    token = account(db_engine, config, "h", "handler", person=case["handler"])
    body = {k: v for k, v in RESPONSE.items() if k != "basis"}
    r = client.post(f"/api/complaints/{case['case_no']}/respond", json=body, headers=bearer(token))
    assert r.status_code == 422 and any(e.startswith("basis:") for e in r.json()["errors"]), r.text
    r = client.post(f"/api/complaints/{case['case_no']}/respond", json={**RESPONSE, "told_at": "2026-11-27T10:00:00"},
                    headers=bearer(token))
    assert r.status_code == 422 and any(e.startswith("told_at:") for e in r.json()["errors"]), r.text
    assert client.get(f"/api/complaints/{case['case_no']}", headers=bearer(token)).json()["status"] == "routed"


def test_illegal_transition_is_409_naming_both_states(client: TestClient, db_engine: Engine, config: Config) -> None:
    """Closing a case that was never responded to is 409 with the current and the asked-for state."""
    case = routed_case(db_engine, config)
    token = account(db_engine, config, "h", "handler", person=case["handler"])
    r = client.post(f"/api/complaints/{case['case_no']}/close", headers=bearer(token))
    assert r.status_code == 409
    body = r.json()
    assert (body["current"], body["target"]) == ("routed", "closed")
    assert body["detail"] == "status（状态）：“已分派”的案件不能转为“已办结”（已分派 → 已办结）"
    assert body["errors"] == [body["detail"]]


def test_personal_data_masked_by_default_and_unmasked_view_audited(client: TestClient, db_engine: Engine,
                                                                   config: Config) -> None:
    """Masked for everyone by default; the handler may unmask and that view is an audit event; auditors may not."""
    case = routed_case(db_engine, config)
    handler = account(db_engine, config, "h", "handler", person=case["handler"])
    auditor = account(db_engine, config, "a", "auditor", person="lin.shen")
    no = case["case_no"]
    masked = client.get(f"/api/complaints/{no}", headers=bearer(handler)).json()
    assert masked["complainant"]["phone"] == "138****5678" and masked["personal_data"] == "masked"
    assert client.get(f"/api/complaints/{no}?unmask=true", headers=bearer(auditor)).status_code == 403
    assert client.get(f"/api/complaints/{no}", headers=bearer(auditor)).json()["complainant"]["name"] == "张*"
    full = client.get(f"/api/complaints/{no}?unmask=true", headers=bearer(handler)).json()
    assert full["complainant"]["phone"] == "13812345678"
    with db_engine.connect() as conn:
        views = conn.execute(select(AUDIT.c.actor, AUDIT.c.case_no).where(
            AUDIT.c.action == "viewed_personal_data")).all()
    assert [tuple(v) for v in views] == [("h", no)]
    assert verify(db_engine).ok


def test_supervisor_sees_own_branch_not_others(client: TestClient, db_engine: Engine, config: Config) -> None:
    """A sub-branch president sees that sub-branch's case but not a city-branch card case, in the list or by number."""
    city = routed_case(db_engine, config)
    zs = routed_case(db_engine, config, branch="dl-zs", category="人民币储蓄")
    token = account(db_engine, config, "ma", "supervisor", person="ma.lei")
    listed = {c["case_no"] for c in client.get("/api/complaints", headers=bearer(token)).json()}
    assert listed == {zs["case_no"]}
    assert client.get(f"/api/complaints/{city['case_no']}", headers=bearer(token)).status_code == 404  # outside its scope: as if unknown
    assert client.get(f"/api/complaints/{zs['case_no']}", headers=bearer(token)).status_code == 200


def test_escalations_mine_and_acknowledge(client: TestClient, db_engine: Engine, config: Config) -> None:
    """An overdue case escalates to the chain; the head sees it under 'mine' and acknowledges it once."""
    case = routed_case(db_engine, config)
    run_escalation(db_engine, config, now=case["due_at"] + timedelta(days=2), calendar=WorkingCalendar())
    head = account(db_engine, config, "head", "supervisor", person="feng.yu")
    mine = client.get("/api/escalations/mine", headers=bearer(head)).json()
    assert mine and all(e["case_no"] == case["case_no"] for e in mine)
    level = mine[0]["level"]
    r = client.post(f"/api/complaints/{case['case_no']}/escalations/{level}/acknowledge", headers=bearer(head))
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "feng.yu", r.text
    after = client.get("/api/escalations/mine", headers=bearer(head)).json()
    assert level not in [e["level"] for e in after]


def test_supervisor_reassigns_and_a_responded_case_is_reopened(client: TestClient, db_engine: Engine,
                                                               config: Config) -> None:
    """The department head reassigns the case to the other handler; after a response the case is reopened."""
    case = routed_case(db_engine, config, category="银行卡")
    supervisor = account(db_engine, config, "s", "supervisor", person="feng.yu")
    no = case["case_no"]
    other = "chu.wei" if case["handler"] == "chen.jing" else "chen.jing"
    r = client.post(f"/api/complaints/{no}/assign", json={"handler": other}, headers=bearer(supervisor))
    assert r.status_code == 200, r.text
    assert client.get(f"/api/complaints/{no}", headers=bearer(supervisor)).json()["handler"] == other
    r = client.post(f"/api/complaints/{no}/assign", json={"handler": "wu.fang"}, headers=bearer(supervisor))
    assert r.status_code == 422 and r.json()["errors"] == ["handler（承办人）：'wu.fang' 不是部门 'card' 的承办人"], r.text
    r = client.post(f"/api/complaints/{no}/respond", json=RESPONSE, headers=bearer(supervisor))
    assert r.status_code == 200, r.text
    r = client.post(f"/api/complaints/{no}/reopen", json={"reason": "客户不认可答复"}, headers=bearer(supervisor))
    assert r.status_code == 200 and r.json()["status"] == "reopened", r.text
