"""POST /api/complaints: the submission contract over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api.app import serving
from complaints.config import Config
from models.audit import AuditEvent
from models.complaint import Complaint
from models.sqlutil import table_of
from tests.api.support import account, bearer
from tests.factories import complaint_data

C = table_of(Complaint)
AUDIT = table_of(AuditEvent)


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(C)).scalar_one())


def test_submit_returns_case_number_and_deadlines(client: TestClient, db_engine: Engine, config: Config) -> None:
    """A valid complaint is stored and answered with 201, its case number and its deadlines in +08:00."""
    token = account(db_engine, config, "desk1", "desk", branch="dl")
    r = client.post("/api/complaints", json=complaint_data(external_ref=None), headers=bearer(token))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["case_no"].startswith("DL-2026-")
    assert body["due_at"].endswith("+08:00") and body["duplicate"] is False
    assert _count(db_engine) == 1


def test_idempotency_key_returns_the_first_result(client: TestClient, db_engine: Engine, config: Config) -> None:
    """The same Idempotency-Key again returns the first case (200, duplicate) and stores nothing new."""
    token = account(db_engine, config, "desk1", "desk", branch="dl")
    data = complaint_data(external_ref=None)
    first = client.post("/api/complaints", json=data, headers={**bearer(token), "Idempotency-Key": "k-1"})
    second = client.post("/api/complaints", json=data, headers={**bearer(token), "Idempotency-Key": "k-1"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["case_no"] == first.json()["case_no"] and second.json()["duplicate"] is True
    assert _count(db_engine) == 1


def test_invalid_complaint_names_each_field_and_stores_nothing(client: TestClient, db_engine: Engine,
                                                                config: Config) -> None:
    """A bad phone, a missing request and an unknown branch are each named in a 422, and nothing is stored."""
    token = account(db_engine, config, "desk1", "desk", branch="dl")
    data = complaint_data(branch="nowhere")
    data["complainant"]["phone"] = "abc"
    del data["request"]
    r = client.post("/api/complaints", json=data, headers=bearer(token))
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert "complainant.phone（投诉人联系电话）：格式不正确，应为 11 位手机号或带区号的固定电话（境外号码以 + 和国家代码开头）" in errors
    assert "request（投诉请求）：必填" in errors
    assert _count(db_engine) == 0
    r = client.post("/api/complaints", json=complaint_data(branch="nowhere"), headers=bearer(token))
    assert r.status_code == 422 and r.json()["errors"][0].startswith("branch（受理机构）：未知的机构代码 'nowhere'")
    with db_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AUDIT)).scalar_one() == 0


def test_anonymous_and_unknown_tokens_are_refused(client: TestClient, db_engine: Engine) -> None:
    """Without a token, or with one that was never issued, the API answers 401 and stores nothing."""
    assert client.post("/api/complaints", json=complaint_data()).status_code == 401
    r = client.post("/api/complaints", json=complaint_data(), headers=bearer("cpt_forged"))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert _count(db_engine) == 0


def test_simultaneous_same_key_store_one_complaint(app: FastAPI, db_engine: Engine, config: Config) -> None:
    """Two requests with the same Idempotency-Key at the same moment store one complaint and return one case."""
    token = account(db_engine, config, "desk1", "desk", branch="dl")
    data = complaint_data(external_ref=None)
    results: list[Any] = [None] * 4
    barrier = threading.Barrier(len(results))
    with serving(app) as base:
        def post(i: int) -> None:
            with httpx.Client(base_url=base, timeout=30) as c:
                barrier.wait()
                results[i] = c.post("/api/complaints", json=data,
                                    headers={**bearer(token), "Idempotency-Key": "same-moment"})
        threads = [threading.Thread(target=post, args=(i,)) for i in range(len(results))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 200, 200, 201], [r.text for r in results]
    assert len({r.json()["case_no"] for r in results}) == 1
    assert _count(db_engine) == 1


def test_nul_character_is_refused_on_both_databases(client: TestClient, db_engine: Engine, config: Config) -> None:
    """A NUL in a body field, the query or the path is a 422 naming where (PostgreSQL cannot store it), never a 500."""
    token = account(db_engine, config, "desk1", "desk", branch="dl")
    r = client.post("/api/complaints", json=complaint_data(facts="a\u0000b"), headers=bearer(token))
    assert r.status_code == 422 and r.json()["errors"] == ["facts（事实和理由）：不能含有 NUL 字符（\\x00）"]
    r = client.get("/api/complaints?department=a%00b", headers=bearer(token))
    assert r.status_code == 422 and r.json()["errors"] == ["url（网址）：不能含有 NUL 字符（\\x00）"]
    assert client.get("/api/complaints/DL%00x", headers=bearer(token)).status_code == 422
    assert _count(db_engine) == 0


def test_bad_id_number_is_a_422_in_chinese_naming_the_field(client: TestClient, db_engine: Engine,
                                                            config: Config) -> None:
    """A resident ID number with a wrong check digit, or a 15-digit one, is refused in Chinese; none echoes the number."""
    token = account(db_engine, config, "desk1", "desk", branch="dl")
    for number, message in (("210202198001011234", "校验码不符"), ("210202800101123", "第一代居民身份证")):
        data = complaint_data()
        data["complainant"]["id_number"] = number
        r = client.post("/api/complaints", json=data, headers=bearer(token))
        assert r.status_code == 422
        body = r.json()
        assert set(body) >= {"detail", "errors"}
        [error] = body["errors"]
        assert error.startswith("complainant.id_number（投诉人证件号码）：") and message in error
        assert number not in r.text
    assert _count(db_engine) == 0


def test_id_type_is_stored_by_code_or_chinese_name(client: TestClient, db_engine: Engine, config: Config) -> None:
    """id_type given as 护照 is stored as its code; an ID number without a type is a 居民身份证."""
    token = account(db_engine, config, "desk1", "desk", branch="dl")
    data = complaint_data(external_ref=None,
                          agent={"name": "李律师", "id_type": "护照", "id_number": "e12345678", "authorization": "委托书 1 份"})
    r = client.post("/api/complaints", json=data, headers=bearer(token))
    assert r.status_code == 201, r.text
    with db_engine.connect() as conn:
        row = conn.execute(select(C.c.complainant_id_type, C.c.agent_id_type, C.c.agent_id_number)).one()
    assert tuple(row) == ("resident_id", "passport", "E12345678")
