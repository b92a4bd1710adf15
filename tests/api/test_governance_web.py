"""投诉治理 through the pages and the JSON API (docs/governance.md): the respond form's outcome (refused
without it), the call-back form (不满意 → reopen in one step), the 待回访 list, 整改 from a case (opened,
refused without evidence, closed), and the JSON routes with their permissions."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from complaints.config import Config
from tests.api.support import Clock, account, bearer, routed_case
from tests.api.test_pages import _text, clock, people  # noqa: F401 - the fixtures, shared

ANSWER = {"verified": "经核实，年费按领用合约收取", "basis": "《信用卡领用合约》第五条",
          "remedies": "可向上级机构申请核查，或申请调解、仲裁、诉讼", "told_via": "phone"}


def test_outcome_callback_and_remediation_through_the_pages(people: dict[str, Any], clock: Clock) -> None:  # noqa: F811
    case_no = people["case"]["case_no"]
    handler, sup, auditor = people["handler"], people["supervisor"], people["auditor"]
    sup.act(case_no, "assign", handler=people["other"])  # the handler's browser is the new handler's
    r = handler.post(f"/cases/{case_no}/act/respond", ANSWER)
    assert r.status_code == 422 and "outcome（投诉是否成立）：必填" in _text(r.text)
    r = handler.post(f"/cases/{case_no}/act/respond", {**ANSWER, "outcome": "成立", "redress_type": "赔偿",
                                                       "redress_amount": "88.888"})
    assert r.status_code == 422 and "redress-amount（补偿金额）：88.888 超过两位小数" in _text(r.text)
    clock.advance(hours=2)
    handler.act(case_no, "respond", **ANSWER, outcome="成立", redress_type="赔偿", redress_amount="88.80")
    page = _text(handler.get(f"/cases/{case_no}").text)
    assert "投诉是否成立 成立" in page and "赔偿 88.80 元" in page and "待回访" in page
    listed = handler.get("/callbacks")
    assert listed.status_code == 200 and case_no in listed.text

    clock.advance(days=1)
    r = handler.post(f"/cases/{case_no}/callback", {"result": "reached", "satisfaction": "dissatisfied",
                                                    "then": "reopen", "reason": "客户认为赔偿金额不足"})
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{case_no}?done=callback", r.text
    page = _text(handler.get(f"/cases/{case_no}").text)
    assert "已重开" in page and "不满意" in page and "已重新处理" in page
    assert "回访（第 1 次）：已回访，不满意，转重新处理" in page
    assert case_no not in handler.get("/callbacks").text

    clock.advance(hours=1)
    handler.act(case_no, "respond", **ANSWER, outcome="部分成立", not_upheld_reason="赔偿按实际损失计算")
    clock.advance(hours=1)
    r = handler.post(f"/cases/{case_no}/act/close", {})
    assert r.status_code == 422 and "root-cause（投诉根因）：必填" in _text(r.text)
    handler.act(case_no, "close", root_cause="员工行为")
    r = handler.post("/remediation", {"title": "x", "due": "2026-12-31", "from_case": case_no})
    assert r.status_code == 403

    r = sup.post("/remediation", {"title": "加强开卡时年费条款告知", "due": "2026-12-31", "from_case": case_no})
    assert r.status_code == 303, r.text
    ref = r.headers["location"].split("/")[-1].split("?")[0]
    assert re.fullmatch(r"ZG-2026-\d{5}", ref)
    item = _text(sup.get(f"/remediation/{ref}").text)
    assert "员工行为 × 银行卡 × 大连分行" in item and "整改中" in item and "发起前 90 日" in item
    r = sup.post(f"/remediation/{ref}/close", {"evidence": ""})
    assert r.status_code == 422 and "evidence（整改佐证）：整改须有佐证材料" in _text(r.text)
    r = sup.post(f"/remediation/{ref}/close", {"evidence": "培训记录 PX-2026-12"})
    assert r.status_code == 303
    item = _text(auditor.get(f"/remediation/{ref}").text)
    assert "已销号" in item and "培训记录 PX-2026-12" in item
    assert ref in auditor.get("/remediation").text
    assert ref in _text(sup.get(f"/cases/{case_no}").text)


def test_the_json_api(app: FastAPI, db_engine: Engine, config: Config) -> None:
    from fastapi.testclient import TestClient

    case = routed_case(db_engine, config)
    no = case["case_no"]
    handler = account(db_engine, config, "h", "handler", person=case["handler"])
    cpo = account(db_engine, config, "c", "cpo", person="zhao.li")
    with TestClient(app, base_url="http://127.0.0.1") as client:
        r = client.post(f"/api/complaints/{no}/respond", json={**ANSWER, "outcome": "partly_upheld",
                                                                "not_upheld_reason": "部分按合约",
                                                                "redress_type": "refund", "redress_amount": 50},
                        headers=bearer(handler))
        assert r.status_code == 200 and r.json()["redress_amount"] == "50.00" and r.json()["timely"] is True, r.text
        r = client.post(f"/api/complaints/{no}/callback", json={"result": "reached"}, headers=bearer(handler))
        assert r.status_code == 422 and r.json()["errors"][0].startswith("satisfaction（满意度）："), r.text
        pending = client.get("/api/callbacks", headers=bearer(cpo)).json()
        assert [p["case_no"] for p in pending] == [no]
        other = account(db_engine, config, "h2", "handler", person="wu.fang")  # not this case's handler
        assert [p["case_no"] for p in client.get("/api/callbacks", headers=bearer(handler)).json()] == [no]
        assert client.get("/api/callbacks", headers=bearer(other)).json() == []
        r = client.post(f"/api/complaints/{no}/callback", json={"result": "reached", "satisfaction": "满意"},
                        headers=bearer(handler))
        assert r.status_code == 200 and r.json()["callback"]["satisfaction"] == "satisfied", r.text
        due = r.json()["callback"]["due_at"]
        rates = client.get("/api/governance/callback-rates", params={"start": "2026-01-01T00:00:00+08:00",
                                                                      "end": "2027-12-31T00:00:00+08:00"},
                           headers=bearer(cpo)).json()
        assert rates == [{"branch": "dl", "due": 1, "reached": 1, "unreachable": 0, "pending": 0, "satisfied": 1,
                          "basic": 0, "dissatisfied": 0, "callback_rate": 1.0, "satisfaction_rate": 1.0}], due
        r = client.get("/api/governance/callback-rates", params={"start": "0001-01-01T00:00:00+00:01",
                                                                  "end": "2000-01-01T00:00:00Z"}, headers=bearer(cpo))
        assert r.status_code == 422 and r.json()["errors"] == [
            "start（起始时间）：0001-01-01T00:00:00+00:01 不在 1970 至 2999 年之间"], r.text
        r = client.post(f"/api/complaints/{no}/close", json={"root_cause": "C07"}, headers=bearer(handler))
        assert r.status_code == 422 and r.json()["errors"][0].startswith("root-cause（投诉根因）：'C07' 不是可选值之一")
        r = client.post(f"/api/complaints/{no}/close", json={"root_cause": "R02"}, headers=bearer(handler))
        assert r.status_code == 200 and r.json()["root_cause_jrt"] == "C07", r.text
        body = {"title": "年费规则复核", "due": "2030-12-31", "root_cause": "收费定价", "category": "B03",
                "branch": "dl", "owner_department": "card"}
        assert client.post("/api/remediation", json=body, headers=bearer(handler)).status_code == 403
        r = client.post("/api/remediation", json=body, headers=bearer(cpo))
        assert r.status_code == 201 and r.json()["source"] == "pattern", r.text
        ref = r.json()["ref"]
        shown = client.get(f"/api/remediation/{ref}", headers=bearer(cpo)).json()
        assert shown["before_90_days"] == 1 and shown["pattern"] == "收费定价 × 银行卡 × 大连分行"
        r = client.post(f"/api/remediation/{ref}/close", json={}, headers=bearer(cpo))
        assert r.status_code == 422 and r.json()["errors"][0].startswith("evidence（整改佐证）")
        r = client.post(f"/api/remediation/{ref}/close", json={"evidence": "制度修订 2026-88 号"}, headers=bearer(cpo))
        assert r.status_code == 200 and r.json()["status"] == "closed"
        assert [i["ref"] for i in client.get("/api/remediation", params={"status": "closed"},
                                             headers=bearer(cpo)).json()] == [ref]
