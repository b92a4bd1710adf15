"""The workbench through the real FastAPI app (SQLite and PostgreSQL): upload on the case page (multipart
with the session's CSRF token) and through the API, downloads refused for always-masked roles and
audited for the others, notes and contacts masked in masked views, transfer (消保办) and return to
triage, read-only after close, export CSV / XLSX masked and formula-safe, bulk actions per case."""

from __future__ import annotations

import io
import re
import warnings
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select

from complaints.config import Config
from models.audit import AuditEvent
from models.case_views import CaseDetail
from models.complaint import Complaint
from models.db import session_scope
from models.sqlutil import table_of
from models.users import create_user
from tests.api.support import PASSWORD, account, bearer, routed_case

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

AUDIT = table_of(AuditEvent)
COMPLAINT = table_of(Complaint)
PDF = b"%PDF-1.4\n" + b"evidence " * 200


@pytest.fixture(autouse=True)
def _evidence_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLAINTS_EVIDENCE_DIR", str(tmp_path / "evidence"))


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


class Browser:
    def __init__(self, app: FastAPI, engine: Engine, config: Config, username: str, role: str,
                 person: str | None = None) -> None:
        from datetime import UTC, datetime

        with session_scope(engine) as s:
            create_user(s, username=username, role=role, password=PASSWORD, config=config, now=datetime.now(UTC),
                        person_id=person, branch="dl" if role in ("desk", "supervisor") else None)
        self.client = TestClient(app, base_url="http://127.0.0.1")
        login = self.client.get("/login")
        r = self.client.post("/login", data={"username": username, "password": PASSWORD, "csrf": _csrf(login.text),
                                             "next": "/"}, follow_redirects=False)
        assert r.status_code == 303, r.text
        self.csrf = _csrf(self.client.get("/overdue").text)

    def get(self, path: str) -> Any:
        return self.client.get(path, follow_redirects=False)

    def post(self, path: str, data: dict[str, Any] | None = None, files: Any = None) -> Any:
        return self.client.post(path, data={"csrf": self.csrf, **(data or {})}, files=files, follow_redirects=False)


@pytest.fixture
def case(db_engine: Engine, config: Config) -> CaseDetail:
    return routed_case(db_engine, config, complainant={"name": "张三", "phone": "13812345678"})


def _actions(engine: Engine, case_no: str) -> list[tuple[str, Any, str]]:
    with session_scope(engine) as s:
        return [(a, after, d) for a, after, d in s.execute(
            select(AUDIT.c.action, AUDIT.c.after, AUDIT.c.detail).where(AUDIT.c.case_no == case_no)
            .order_by(AUDIT.c.seq))]


def test_upload_download_and_masked_roles(app: FastAPI, db_engine: Engine, config: Config,
                                          case: dict[str, Any]) -> None:
    no = case["case_no"]
    handler = Browser(app, db_engine, config, "u-h", "handler", case["handler"])
    page = handler.get(f"/cases/{no}")
    assert page.status_code == 200 and 'id="form-upload"' in page.text and 'enctype="multipart/form-data"' in page.text
    r = handler.client.post(f"/cases/{no}/files", data={"description": "通话录音"},
                            files={"file": ("录音.pdf", PDF, "application/pdf")}, follow_redirects=False)
    assert r.status_code == 403  # no CSRF token: refused, nothing stored
    r = handler.post(f"/cases/{no}/files", {"description": "通话录音"}, files={"file": ("录音.pdf", PDF, "application/pdf")})
    assert r.status_code == 303 and "done=" in r.headers["location"], r.text[:2000]
    page = handler.get(r.headers["location"])
    assert "已完成：上传证据文件" in _text(page.text) and "录音.pdf" in page.text
    link = re.search(r'href="(/cases/[^"]+/files/(\d+))"', page.text)
    assert link
    got = handler.get(link.group(1))
    assert got.status_code == 200 and got.content == PDF
    assert "attachment;" in got.headers["content-disposition"] and got.headers["cache-control"] == "no-store"
    events = _actions(db_engine, no)
    assert [a for a, _, _ in events].count("evidence_attached") == 1
    viewed = [(after, d) for a, after, d in events if a == "viewed_personal_data"]
    assert viewed and viewed[-1][0]["file_id"] == int(link.group(2)) and "downloaded" in viewed[-1][1]

    auditor = Browser(app, db_engine, config, "u-aud", "auditor")
    refused = auditor.get(link.group(1))
    assert refused.status_code == 403 and "不能下载" in _text(refused.text)
    apage = auditor.get(f"/cases/{no}")
    assert "录音.pdf（含个人信息，本角色不能下载）" in _text(apage.text) and link.group(1) not in apage.text
    assert 'id="form-upload"' not in apage.text  # read-only role
    token = account(db_engine, config, "api-desk", "desk", branch="dl")
    assert TestClient(app).get(f"/api/complaints/{no}/files/{link.group(2)}", headers=bearer(token)).status_code == 403

    bad = handler.post(f"/cases/{no}/files", files={"file": ("run.exe", b"MZ\x90", "application/octet-stream")})
    assert bad.status_code == 422 and "不在允许的类型之中" in _text(bad.text)


def test_api_upload_list_and_download(app: FastAPI, db_engine: Engine, config: Config, case: dict[str, Any]) -> None:
    no = case["case_no"]
    token = account(db_engine, config, "api-h", "handler", person=case["handler"])
    client = TestClient(app)
    r = client.post(f"/api/complaints/{no}/files", headers=bearer(token),
                    files={"file": ("receipt.png", b"\x89PNG\r\n\x1a\n" + b"x" * 2_000_000, "image/png")})
    assert r.status_code == 201, r.text  # 2 MB: over the 1 MiB body limit of other requests
    body = r.json()
    listed = client.get(f"/api/complaints/{no}/files", headers=bearer(token)).json()
    assert [f["sha256"] for f in listed] == [body["sha256"]]
    got = client.get(f"/api/complaints/{no}/files/{body['file_id']}", headers=bearer(token))
    assert got.status_code == 200 and got.content.startswith(b"\x89PNG")
    r = client.post(f"/api/complaints/{no}/notes", headers=bearer(token), json={"text": "张三要求回电13812345678"})
    assert r.status_code == 201, r.text
    masked = client.get(f"/api/complaints/{no}/notes", headers=bearer(token)).json()
    assert "张三" not in masked[0]["text"] and "138****5678" in masked[0]["text"]
    plain = client.get(f"/api/complaints/{no}/notes?unmask=true", headers=bearer(token)).json()
    assert plain[0]["text"].startswith("张三")
    auditor = account(db_engine, config, "api-aud", "auditor")
    assert client.get(f"/api/complaints/{no}/notes?unmask=true", headers=bearer(auditor)).status_code == 403
    r = client.post(f"/api/complaints/{no}/contacts", headers=bearer(token),
                    json={"channel": "fax", "outcome": "reached", "summary": "x"})
    assert r.status_code == 422


def test_notes_and_contacts_masked_on_the_page(app: FastAPI, db_engine: Engine, config: Config,
                                               case: dict[str, Any]) -> None:
    no = case["case_no"]
    handler = Browser(app, db_engine, config, "u-h", "handler", case["handler"])
    assert handler.post(f"/cases/{no}/notes", {"text": "张三称手机13812345678可联系"}).status_code == 303
    r = handler.post(f"/cases/{no}/contacts", {"channel": "phone", "outcome": "notified",
                                                 "summary": "电话告知张三处理决定", "at": ""})
    assert r.status_code == 303, r.text[:2000]
    masked = _text(handler.get(f"/cases/{no}").text)
    assert "13812345678" not in masked and "张三称" not in masked and "张*称手机138****5678" in masked
    assert "电话告知张*处理决定" in masked and "已告知处理决定" in masked
    unmasked = _text(handler.get(f"/cases/{no}?unmask=true").text)
    assert "张三称手机13812345678" in unmasked
    auditor = Browser(app, db_engine, config, "u-aud", "auditor")
    atext = _text(auditor.get(f"/cases/{no}").text)
    assert "13812345678" not in atext and "张三" not in atext
    empty = handler.post(f"/cases/{no}/notes", {"text": "  "})
    assert empty.status_code == 422 and "须填写备注内容" in _text(empty.text)


def test_transfer_by_the_cp_office_and_return_by_the_handler(app: FastAPI, db_engine: Engine, config: Config,
                                                              case: dict[str, Any]) -> None:
    no = case["case_no"]
    handler = Browser(app, db_engine, config, "u-h", "handler", case["handler"])
    assert handler.post(f"/cases/{no}/transfer", {"to": "retail", "reason": "x"}).status_code == 403
    assert 'id="form-return"' in handler.get(f"/cases/{no}").text
    r = handler.post(f"/cases/{no}/return", {"reason": "借记卡业务，误派"})
    assert r.status_code == 303, r.text[:2000]
    assert r.headers["location"].startswith("/queue?done=")  # no longer the handler's case: back to the queue
    assert handler.get(f"/cases/{no}").status_code == 404
    assert handler.get(r.headers["location"]).status_code == 200
    cpo = Browser(app, db_engine, config, "u-cpo", "cpo", "zhao.li")
    page = cpo.get(f"/cases/{no}")
    assert 'id="form-transfer"' in page.text and 'id="form-return"' not in page.text  # already in triage
    r = cpo.post(f"/cases/{no}/transfer", {"to": "retail", "reason": "分拣：个人金融部", "handler": "wu.fang"})
    assert r.status_code == 303, r.text[:2000]
    with session_scope(db_engine) as s:
        row = s.execute(select(COMPLAINT).where(COMPLAINT.c.case_no == no)).one()
    assert (row.department, row.handler, row.regulatory_due_at) == ("retail", "wu.fang", case["due_at"])
    timeline = _text(cpo.get(f"/cases/{no}").text)
    assert "退回消保办分拣：card → cpo（由部门负责人指派）" in timeline
    assert f"转办：cpo → retail（承办人 {config.org.people['wu.fang'].name}）" in timeline
    bad = cpo.post(f"/cases/{no}/transfer", {"to": "nowhere", "reason": "x"})
    assert bad.status_code == 422 and "没有部门" in _text(bad.text)


def test_read_only_after_close(app: FastAPI, db_engine: Engine, config: Config, case: dict[str, Any]) -> None:
    no = case["case_no"]
    handler = Browser(app, db_engine, config, "u-h", "handler", case["handler"])
    assert handler.post(f"/cases/{no}/act/withdraw", {}).status_code == 303
    page = handler.get(f"/cases/{no}")
    assert 'id="form-note"' not in page.text and 'id="form-upload"' not in page.text
    r = handler.post(f"/cases/{no}/notes", {"text": "补充"})
    assert r.status_code == 409 and "已结案只读" in _text(r.text)


def test_export_csv_and_xlsx_masked_formula_safe_and_audited(app: FastAPI, db_engine: Engine, config: Config) -> None:
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    routed_case(db_engine, config, complainant={"name": "=CMD|' /C calc'!A0", "phone": "13812345678"})
    routed_case(db_engine, config, complainant={"name": "李四", "phone": "13912345678"})
    auditor = Browser(app, db_engine, config, "u-aud", "auditor")
    listing = auditor.get("/overdue")
    assert 'id="export-csv"' in listing.text
    csv = auditor.get("/export?format=csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    text = csv.content.decode("utf-8-sig")
    assert "李四" not in text and "李*" in text and "calc" not in text and ",'=****" in text
    assert "信用卡部" in text and ",=" not in text
    xlsx = auditor.get("/export?format=xlsx&status=routed")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    values = [c.value for r in sheet.iter_rows() for c in r]
    assert "李四" not in values and "李*" in values and all(c.data_type != "f" for r in sheet.iter_rows() for c in r)
    assert not any(isinstance(v, str) and v.startswith("=") for v in values)
    with session_scope(db_engine) as s:
        exported = [r.after for r in s.execute(select(AUDIT.c.after).where(AUDIT.c.action == "exported")
                                               .order_by(AUDIT.c.seq))]
    assert [e["format"] for e in exported] == ["csv", "xlsx"] and exported[0]["count"] == 2
    assert exported[1]["filters"]["status"] == "routed"
    assert auditor.get("/export?format=pdf").status_code == 422
    listing = auditor.get("/cases?department=retail")  # the list page's own filter goes into its export links
    assert 'href="/export?department=retail&amp;format=csv"' in listing.text
    only = auditor.get("/export?department=retail&format=csv").content.decode("utf-8-sig").strip().splitlines()
    assert len(only) == 1 and only[0].startswith("受理编号")  # both cases are 信用卡部's
    bad = auditor.get("/export?format=csv&colour=red")
    assert bad.status_code == 422 and "colour" in _text(bad.text)
    by_phone = auditor.get("/export?format=csv&phone=13912345678").content.decode("utf-8-sig").splitlines()
    assert len(by_phone) == 2 and "李*" in by_phone[1]  # found by the keyed hash, shown masked
    with session_scope(db_engine) as s:
        last = s.execute(select(AUDIT.c.after).where(AUDIT.c.action == "exported").order_by(AUDIT.c.seq.desc())
                         .limit(1)).scalar_one()
    assert last["filters"]["phone"] == "139****5678"  # the trail keeps no phone number


def test_bulk_transfer_reports_each_case(app: FastAPI, db_engine: Engine, config: Config) -> None:
    a, b = routed_case(db_engine, config), routed_case(db_engine, config)
    cpo = Browser(app, db_engine, config, "u-cpo", "cpo", "zhao.li")
    r = cpo.client.post("/bulk", data={"csrf": cpo.csrf, "action": "transfer", "department": "retail",
                                       "reason": "批量转办", "case_no": [a["case_no"], "DL-2099-999999", b["case_no"]],
                                       "back": "/overdue"})
    assert r.status_code == 200, r.text[:2000]
    text = _text(r.text)
    assert "批量转办：2 件成功，1 件未办理" in text and "没有案件 'DL-2099-999999'" in text
    with session_scope(db_engine) as s:
        departments = {d for (d,) in s.execute(select(COMPLAINT.c.department))}
    assert departments == {"retail"}
    handler = Browser(app, db_engine, config, "u-h", "handler", a["handler"])
    r = handler.client.post("/bulk", data={"csrf": handler.csrf, "action": "transfer", "department": "card",
                                           "reason": "x", "case_no": [a["case_no"]]}, follow_redirects=False)
    assert r.status_code == 403


def test_api_bulk_acknowledges_escalations_and_assigns(app: FastAPI, db_engine: Engine, config: Config) -> None:
    from datetime import timedelta

    from domain.calendar import WorkingCalendar
    from flows.escalation import run_escalation

    a, b = routed_case(db_engine, config, category="银行卡"), routed_case(db_engine, config, category="银行卡")
    run_escalation(db_engine, config, now=a["due_at"] + timedelta(days=2), calendar=WorkingCalendar())
    head = account(db_engine, config, "head", "supervisor", person="feng.yu")
    client = TestClient(app)
    nos = [a["case_no"], b["case_no"]]
    mine = {e["case_no"] for e in client.get("/api/escalations/mine", headers=bearer(head)).json()}
    assert set(nos) <= mine
    r = client.post("/api/bulk/acknowledge-escalations", headers=bearer(head),
                    json={"case_nos": [*nos, "DL-2099-000001"]})
    assert r.status_code == 200, r.text
    results = {x["case_no"]: x for x in r.json()}
    assert all(results[n]["ok"] for n in nos)
    assert not results["DL-2099-000001"]["ok"] and "没有案件" in results["DL-2099-000001"]["message"]
    again = client.post("/api/bulk/acknowledge-escalations", headers=bearer(head), json={"case_nos": nos[:1]}).json()
    assert not again[0]["ok"] and "没有发给您的未确认督办" in again[0]["message"]
    left = {e["case_no"] for e in client.get("/api/escalations/mine", headers=bearer(head)).json()}
    assert not set(nos) & left
    other = {n: ("chu.wei" if c["handler"] == "chen.jing" else "chen.jing") for n, c in zip(nos, (a, b), strict=True)}
    r = client.post("/api/bulk/assign", headers=bearer(head), json={"case_nos": nos, "handler": "chu.wei"})
    got = {x["case_no"]: x for x in r.json()}
    for n in nos:  # one of them may already be chu.wei's: refused for that case alone
        assert got[n]["ok"] == (other[n] == "chu.wei"), got[n]
    with session_scope(db_engine) as s:
        handlers = {h for (h,) in s.execute(select(COMPLAINT.c.handler).where(COMPLAINT.c.case_no.in_(nos)))}
    assert handlers == {"chu.wei"}


def test_a_pause_and_a_response_point_to_an_evidence_file(app: FastAPI, db_engine: Engine, config: Config,
                                                          case: dict[str, Any]) -> None:
    from models.complaint import ClockEventRow
    from models.escalation import CaseResponse

    no = case["case_no"]
    handler = Browser(app, db_engine, config, "u-h", "handler", case["handler"])
    r = handler.post(f"/cases/{no}/files", files={"file": ("鉴定报告.pdf", PDF, "application/pdf")})
    assert r.status_code == 303
    page = handler.get(f"/cases/{no}").text
    file_id = re.search(r'<select name="evidence_file_id"><option value="">（无）</option><option value="(\d+)">', page)
    assert file_id and 'name="proof_file_id"' in page
    r = handler.post(f"/cases/{no}/act/pause", {"reason": "鉴定", "evidence": "JD-2026-1", "evidence_file_id": file_id.group(1)})
    assert r.status_code == 303, r.text[:2000]
    r = handler.post(f"/cases/{no}/act/resume", {})
    assert r.status_code == 303, r.text[:2000]
    token = account(db_engine, config, "api-h", "handler", person=case["handler"])
    body = {"verified": "已核实", "basis": "合同第五条", "remedies": "可申请核查", "told_via": "phone", "outcome": "upheld"}
    client = TestClient(app)
    bad = client.post(f"/api/complaints/{no}/respond", headers=bearer(token), json={**body, "proof_file_id": 999})
    assert bad.status_code == 422 and "没有编号为 999 的证据文件" in bad.text
    ok = client.post(f"/api/complaints/{no}/respond", headers=bearer(token),
                     json={**body, "proof_file_id": int(file_id.group(1))})
    assert ok.status_code == 200, ok.text
    with session_scope(db_engine) as s:
        paused = s.execute(select(table_of(ClockEventRow).c.evidence_file_id)
                           .where(table_of(ClockEventRow).c.kind == "pause")).scalar_one()
        proof = s.execute(select(table_of(CaseResponse).c.proof_file_id)).scalar_one()
    assert paused == proof == int(file_id.group(1))
