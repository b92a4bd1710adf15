"""Bad input never gets a 500: body and JSON limits, a busy database, per-client idempotency keys,
the backdating window, action times, CSV cells, no-store and out-of-scope cases (SQLite and PostgreSQL).

The app here runs on the shipped config (30-day backdating window) with the clock injected."""

from __future__ import annotations

import csv
import io
import json
import socket
import sqlite3
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine, event, func, select, text

from api.app import create_app, serving
from api.limits import json_problems
from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.deadlines import SHANGHAI
from domain.report import Table
from domain.statistics import safe_cell as csv_cell
from flows.intake import run_intake
from flows.weekly_report import build_weekly_report
from models.audit import AuditEvent
from models.complaint import Complaint
from models.db import make_engine, session_scope
from models.sqlutil import table_of
from models.submission import submit, validate_items
from notifications.report_render import table_csv
from services import unit_of_work
from tests.api.support import PASSWORD, account, bearer
from tests.factories import complaint, complaint_data

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

C = table_of(Complaint)
AUDIT = table_of(AuditEvent)
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # factories receive at 2026-11-26 09:30 +08:00
CAL = WorkingCalendar()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    monkeypatch.setattr(unit_of_work, "utcnow", lambda: NOW)
    return NOW


@pytest.fixture
def hard(db_engine: Engine, config: Config, clock: datetime) -> Iterator[TestClient]:
    with TestClient(create_app(config, db_engine), base_url="http://127.0.0.1") as c:
        yield c


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(C)).scalar_one())


def _post(client: TestClient, token: str, body: bytes, path: str = "/api/complaints",
          ctype: str = "application/json") -> Any:
    return client.post(path, content=body, headers={**bearer(token), "Content-Type": ctype})


# ---------------------------------------------------------------- malformed bodies


def test_each_malformed_body_is_a_4xx_naming_its_limit(hard: TestClient, db_engine: Engine, config: Config) -> None:
    """Deep objects, deep arrays, a 5000-digit integer and a non-UTF-8 body: 422 in Chinese naming
    the limit, nothing stored; also on an action endpoint whose body FastAPI parses itself."""
    token = account(db_engine, config, "desk1", "desk", branch="dl")
    cases = {
        b'{"a":' * 600 + b"1" + b"}" * 600: "嵌套层数不能超过 32 层",
        b"[" * 900 + b"]" * 900: "嵌套层数不能超过 32 层",
        json.dumps(complaint_data()).encode()[:-1] + b', "group_size": ' + b"9" * 5000 + b"}": "整数不能超过 20 位数字",
        b'{"request": "\xff\xfe"}': "不是 UTF-8 编码",
    }
    for body, named in cases.items():
        r = _post(hard, token, body)
        assert r.status_code == 422, (body[:40], r.status_code, r.text[:300])
        problem = r.json()
        assert named in " ".join(problem["errors"]) and "请求正文" in problem["errors"][0], problem
    # Content-Type text/plain does not get the JSON parser past the guard either.
    assert _post(hard, token, b"[" * 900 + b"]" * 900, ctype="text/plain").status_code == 422
    deep = b'{"verified":' * 700 + b'"x"' + b"}" * 700
    r = _post(hard, token, deep, path="/api/complaints/DL-2026-000001/respond")
    assert r.status_code == 422 and "嵌套层数" in r.text
    assert _count(db_engine) == 0


def test_guard_scans_linearly_without_recursing() -> None:
    """The scanner ignores brackets and digits inside strings, fractions and exponents, and counts
    a negative integer's digits; a million brackets are refused, not a RecursionError."""
    assert json_problems(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"' + b"9" * 40 + b'"}') == []
    assert json_problems(b"[1." + b"1" * 40 + b", 1e" + b"0" * 30 + b", " + b"9" * 20 + b"]") == []
    assert "21 位" in json_problems(b"[-" + b"1" * 21 + b"]")[0]
    assert "524288 层" in json_problems(b"[" * 2**19 + b"]" * 2**19)[0]


def test_body_limit_is_configurable_and_applies_to_page_forms(db_engine: Engine, config: Config,
                                                              clock: datetime) -> None:
    """A body above the configured limit is 413 naming it, for the API (Problem) and for a page form
    (Chinese error page)."""
    app = create_app(config, db_engine, max_body=4096)
    token = account(db_engine, config, "desk1", "desk", branch="dl")
    with TestClient(app, base_url="http://127.0.0.1") as c:
        r = _post(c, token, b"[" + b"1," * 3000 + b"1]")
        assert r.status_code == 413 and r.json()["detail"] == "请求正文过大：不能超过 4 KiB（4096 字节），未保存任何数据"
        page = c.post("/desk/new", data={"facts": "x" * 5000})
        assert page.status_code == 413 and "不能超过 4 KiB" in page.text and "<html" in page.text
        assert page.headers["cache-control"] == "no-store"
        small = _post(c, token, json.dumps(complaint_data()).encode())
        assert small.status_code == 201, small.text


def _raw_request(base: str, head: str, body_parts: Iterator[bytes]) -> tuple[bytes, int]:
    """Send a request over a socket part by part until the server answers; returns the answer
    and how many body bytes were sent by then."""
    host, port = urlsplit(base).hostname, urlsplit(base).port
    assert host and port
    sent = 0
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head.encode())
        sock.setblocking(False)
        answer = b""
        for part in body_parts:
            try:
                answer += sock.recv(65536)
            except BlockingIOError:
                pass
            if b"\r\n\r\n" in answer:
                break
            try:
                sock.sendall(part)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                break
            sent += len(part)
        sock.setblocking(True)
        sock.settimeout(10)
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < 10:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    return answer, sent


def test_50_mb_body_is_413_before_it_is_read(db_engine: Engine, config: Config, clock: datetime) -> None:
    """Over a real server: a declared 50 MB body is answered 413 after 64 KiB were sent, and a
    chunked body without a length is cut off once it passes 1 MiB, long before 50 MB."""
    token = account(db_engine, config, "desk1", "desk", branch="dl")
    with serving(create_app(config, db_engine)) as base:
        head = (f"POST /api/complaints HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n")
        answer, sent = _raw_request(base, head, iter([b"[" + b" " * 65535]))
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert "不能超过 1 MiB".encode() in answer and sent <= 65536
        head = (f"POST /api/complaints HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b" " * 65536
        parts = (b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(800))  # 50 MiB
        answer, sent = _raw_request(base, head, parts)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert sent < 10 * 1024 * 1024, sent
    assert _count(db_engine) == 0


# ---------------------------------------------------------------- a busy database


def test_busy_database_is_503_with_retry_after(db_engine: Engine, config: Config, clock: datetime) -> None:
    """A writer lock held elsewhere (SQLite BEGIN IMMEDIATE; PostgreSQL an exclusive table lock past
    lock_timeout) answers 503 with Retry-After in Chinese, not a bare 500; afterwards it works."""
    token = account(db_engine, config, "desk1", "desk", branch="dl")
    url = db_engine.url.render_as_string(hide_password=False)
    engine = make_engine(url)
    sqlite = engine.dialect.name == "sqlite"

    @event.listens_for(engine, "connect")
    def _short_wait(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=200" if sqlite else "SET lock_timeout = '200ms'")
        cur.close()
        if not sqlite:
            dbapi_conn.commit()

    holder: Any
    if sqlite:
        holder = sqlite3.connect(str(db_engine.url.database), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        holder = db_engine.connect()
        holder.begin()
        holder.execute(text("LOCK TABLE case_sequence IN ACCESS EXCLUSIVE MODE"))
    try:
        with TestClient(create_app(config, engine), base_url="http://127.0.0.1") as c:
            r = c.post("/api/complaints", json=complaint_data(), headers=bearer(token))
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "5" and r.json()["detail"] == "数据库繁忙，本次操作未完成，请 5 秒后重试"
            if sqlite:
                holder.execute("ROLLBACK")
            else:
                holder.rollback()
            assert c.post("/api/complaints", json=complaint_data(), headers=bearer(token)).status_code == 201
    finally:
        holder.close()
        engine.dispose()


# ---------------------------------------------------------------- idempotency keys per client


def test_two_clients_with_one_key_get_two_cases(hard: TestClient, db_engine: Engine, config: Config) -> None:
    """The same Idempotency-Key from two users is two complaints; neither sees the other's case.
    The CLI's imports are a client of their own (`cli`)."""
    a = account(db_engine, config, "desk1", "desk", branch="dl")
    b = account(db_engine, config, "desk2", "desk", branch="dl")
    first = hard.post("/api/complaints", json=complaint_data(external_ref=None),
                      headers={**bearer(a), "Idempotency-Key": "K-1"})
    other = complaint_data(external_ref=None, complainant={"name": "李四", "phone": "13900001111"})
    second = hard.post("/api/complaints", json=other, headers={**bearer(b), "Idempotency-Key": "K-1"})
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert first.json()["case_no"] != second.json()["case_no"] and not second.json()["duplicate"]
    cli = submit(db_engine, [complaint(external_ref="K-1")], config=config, calendar=CAL, now=NOW)[0]
    assert not cli.duplicate and cli.case_no not in (first.json()["case_no"], second.json()["case_no"])
    with db_engine.connect() as conn:
        rows = conn.execute(select(C.c.submitted_by, C.c.complainant_name).where(C.c.external_ref == "K-1")
                            .order_by(C.c.id)).all()
    assert [tuple(r) for r in rows] == [("desk1", "张三"), ("desk2", "李四"), ("cli", "张三")]


def test_same_client_same_key_other_body_is_422(hard: TestClient, db_engine: Engine, config: Config) -> None:
    """The same key with the same body again is the first case (200); with another body 422 naming
    the key (draft-ietf-httpapi-idempotency-key), and nothing new is stored."""
    token = account(db_engine, config, "desk1", "desk", branch="dl")
    data = complaint_data(external_ref=None)
    key = {**bearer(token), "Idempotency-Key": "K-2"}
    first = hard.post("/api/complaints", json=data, headers=key)
    again = hard.post("/api/complaints", json=data, headers=key)
    assert (first.status_code, again.status_code) == (201, 200) and again.json()["case_no"] == first.json()["case_no"]
    changed = hard.post("/api/complaints", json={**data, "request": "另一件事"}, headers=key)
    assert changed.status_code == 422, changed.text
    assert changed.json()["errors"] == ["external_ref（外部编号）：'K-2' 已用于另一件内容不同的投诉；同一幂等键只能重复提交相同的内容"]
    in_body = hard.post("/api/complaints", json={**data, "external_ref": "K-2", "facts": "别的事实"}, headers=bearer(token))
    assert in_body.status_code == 422
    assert _count(db_engine) == 1


# ---------------------------------------------------------------- backdating


def _received(days_back: float) -> str:
    return (NOW - timedelta(days=days_back)).isoformat()


def test_backdating_window_refused_for_desk_approved_by_cpo(hard: TestClient, db_engine: Engine,
                                                            config: Config) -> None:
    """40 days back: the desk is refused naming 接收时间 and the 30-day window, and may not give a
    reason; the 消保办 must give one and then it is stored, the reason in the audit event."""
    desk = account(db_engine, config, "desk1", "desk", branch="dl")
    cpo = account(db_engine, config, "cpo1", "cpo", person="zhao.li")
    old = complaint_data(received_at=_received(40))
    r = hard.post("/api/complaints", json=old, headers=bearer(desk))
    assert r.status_code == 422
    assert r.json()["errors"][0].startswith("received_at（接收时间）：") and "最近 30 天内" in r.json()["errors"][0]
    r = hard.post("/api/complaints", json={**old, "backdate_reason": "纸质来信漏登"}, headers=bearer(desk))
    assert r.status_code == 422 and r.json()["errors"][0].startswith("backdate_reason（补录理由）：只有消保办")
    assert hard.post("/api/complaints", json=old, headers=bearer(cpo)).status_code == 422
    ok = hard.post("/api/complaints", json={**old, "backdate_reason": "纸质来信漏登"}, headers=bearer(cpo))
    assert ok.status_code == 201, ok.text
    assert hard.post("/api/complaints", json=complaint_data(received_at=_received(29)),
                     headers=bearer(desk)).status_code == 201
    with session_scope(db_engine) as s:
        ev = s.execute(select(AUDIT.c.actor, AUDIT.c.detail, AUDIT.c.after)
                       .where(AUDIT.c.case_no == ok.json()["case_no"], AUDIT.c.action == "received")).one()
        created = s.execute(select(C.c.created_at).where(C.c.case_no == ok.json()["case_no"])).scalar_one()
    assert ev.actor == "cpo1" and ev.detail == "补录（经消保办审批）：受理时间早于登记时间 40 天；理由：纸质来信漏登"
    after = ev.after if isinstance(ev.after, dict) else json.loads(ev.after)
    assert after["backdated"]["reason"] == "纸质来信漏登" and after["backdated"]["client"] == "cpo1"
    assert created == NOW  # the registration time is kept beside received_at
    assert _count(db_engine) == 2


def test_cli_may_backdate_and_it_is_recorded(db_engine: Engine, config: Config) -> None:
    """The import tool (no window) stores a receipt 372 days back and the audit event says so."""
    parsed, problems = validate_items(complaint_data(received_at="2025-11-20T10:00:00+08:00"), config=config, now=NOW)
    assert problems == [[]]
    r = submit(db_engine, [p for p in parsed if p], config=config, calendar=CAL, now=NOW)[0]
    assert r.case_no.startswith("DL-2025-")
    with session_scope(db_engine) as s:
        detail = s.execute(select(AUDIT.c.detail).where(AUDIT.c.case_no == r.case_no)).scalar_one()
    assert detail == "补录（命令行导入）：受理时间早于登记时间 372 天"


def test_receipt_before_2000_is_refused_everywhere(hard: TestClient, db_engine: Engine, config: Config) -> None:
    """0001-01-01 and 1999-12-31 are refused by the CLI's validation and by the API, even for the 消保办."""
    cpo = account(db_engine, config, "cpo1", "cpo", person="zhao.li")
    for when in ("0001-01-01T00:00:00+00:00", "1999-12-31T23:59:00+08:00"):
        _, problems = validate_items(complaint_data(received_at=when), config=config, now=NOW)
        assert problems[0] == ["received_at（接收时间）：早于 2000-01-01，不是有效的收到投诉时间"]
        r = hard.post("/api/complaints", json=complaint_data(received_at=when, backdate_reason="历史档案"),
                      headers=bearer(cpo))
        assert r.status_code == 422 and "早于 2000-01-01" in r.text
    assert _count(db_engine) == 0


# ---------------------------------------------------------------- action times


def test_told_at_and_customer_told_at_lie_between_receipt_and_now(hard: TestClient, db_engine: Engine,
                                                                  config: Config) -> None:
    """respond's told_at and extend's customer_told_at before the receipt or in the future are 422 naming the field."""
    result = submit(db_engine, [complaint()], config=config, calendar=CAL, now=NOW)[0]
    run_intake(db_engine, config, now=NOW)
    token = account(db_engine, config, "cpo1", "cpo", person="zhao.li")
    no = result.case_no
    before = (result.received_at - timedelta(hours=1)).isoformat()
    future = (NOW + timedelta(hours=1)).isoformat()
    base = {"verified": "已核实", "basis": "合同第5条", "remedies": "可申请核查、调解、仲裁、诉讼", "told_via": "phone",
            "outcome": "成立"}
    for told in (before, future):
        r = hard.post(f"/api/complaints/{no}/respond", json={**base, "told_at": told}, headers=bearer(token))
        assert r.status_code == 422 and "告知" in r.text, r.text
        ext = {"to": "complex", "approver": "zhao.li", "reason": "复杂", "customer_told_at": told,
               "customer_told_via": "phone"}
        r = hard.post(f"/api/complaints/{no}/extend", json=ext, headers=bearer(token))
        assert r.status_code == 422, r.text
    ok = hard.post(f"/api/complaints/{no}/respond", json={**base, "told_at": NOW.isoformat()}, headers=bearer(token))
    assert ok.status_code == 200, ok.text


# ---------------------------------------------------------------- CSV, no-store, scope


def test_csv_cells_cannot_start_a_formula(hard: TestClient, db_engine: Engine, config: Config, tmp_path: Path) -> None:
    """A sensitive case whose request starts with '=' reaches the report's CSV (download and file) as
    text with a leading '; every formula starter is neutralised, numbers stay numbers."""
    for i, start in enumerate(("=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)")):
        submit(db_engine, [complaint(tags=["舆情"], request=f"{start} 退还年费{i}")], config=config, calendar=CAL,
               now=NOW)
    run_intake(db_engine, config, now=NOW)
    build_weekly_report(db_engine, config, "2026-W48", datetime(2026, 12, 1, 2, tzinfo=UTC), output_dir=tmp_path)
    token = account(db_engine, config, "aud1", "auditor", person="lin.shen")
    r = hard.get("/api/reports/2026-W48/csv/sensitive", headers=bearer(token))
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    summaries = [row[-1] for row in list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))[1:]]
    assert sorted(s[:2] for s in summaries) == ["'+", "'-", "'=", "'@"], summaries
    on_disk = (tmp_path / "2026-W48" / "sensitive.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in on_disk and "\n=" not in on_disk and ",=" not in on_disk
    assert [csv_cell(v) for v in ("\tx", "\rx", "a=b", -3, 1.5, None)] == ["'\tx", "'\rx", "a=b", -3, 1.5, ""]
    assert table_csv(Table("t", "t", ("=a",), ((-1,), ("-1",)))) == "'=a\n-1\n'-1\n"


def test_personal_data_responses_are_no_store(hard: TestClient, db_engine: Engine, config: Config) -> None:
    """Case JSON, case lists, refusals and the login page all carry Cache-Control: no-store."""
    token = account(db_engine, config, "cpo1", "cpo", person="zhao.li")
    no = submit(db_engine, [complaint()], config=config, calendar=CAL, now=NOW)[0].case_no
    for path in (f"/api/complaints/{no}", f"/api/complaints/{no}?unmask=true", "/api/complaints",
                 "/api/complaints/DL-2026-999999", "/login"):
        r = hard.get(path, headers=bearer(token))
        assert r.headers.get("cache-control") == "no-store", (path, r.status_code, r.headers)


def test_out_of_scope_case_is_404_like_an_unknown_one(hard: TestClient, db_engine: Engine, config: Config) -> None:
    """A sub-branch supervisor asking for a city-branch case gets exactly what an unknown number gets."""
    city = submit(db_engine, [complaint()], config=config, calendar=CAL, now=NOW)[0].case_no
    run_intake(db_engine, config, now=NOW)
    token = account(db_engine, config, "ma", "supervisor", person="ma.lei")
    unknown = "DL-2026-999999"
    for tail in ("", "?unmask=true"):
        hidden = hard.get(f"/api/complaints/{city}{tail}", headers=bearer(token))
        missing = hard.get(f"/api/complaints/{unknown}{tail}", headers=bearer(token))
        assert hidden.status_code == missing.status_code == 404
        assert hidden.text.replace(city, unknown) == missing.text


def _browser(app_client: TestClient, db_engine: Engine, config: Config, username: str, role: str,
             person: str | None = None) -> str:
    """Log `username` in through the login form; returns the desk form's CSRF token."""
    account(db_engine, config, username, role, person=person, branch="dl" if role == "desk" else None)
    app_client.cookies.clear()
    login = app_client.get("/login").text
    csrf = login.split('name="csrf" value="')[1].split('"')[0]
    r = app_client.post("/login", data={"username": username, "password": PASSWORD, "csrf": csrf, "next": "/"},
                        follow_redirects=False)
    assert r.status_code == 303, r.text
    return str(app_client.get("/desk/new").text.split('name="csrf" value="')[1].split('"')[0])


def test_desk_form_backdating_needs_the_cpo_and_a_reason(hard: TestClient, db_engine: Engine, config: Config) -> None:
    """On the page: the desk's 40-day-old receipt comes back 422 naming 接收时间; the 消保办 sees the
    补录理由 field, and with a reason the case is registered."""
    old = (NOW - timedelta(days=40)).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
    form = {"complainant_name": "张三", "complainant_phone": "13812345678", "request": "退还年费", "facts": "多扣年费",
            "received_at": old}
    csrf = _browser(hard, db_engine, config, "desk1", "desk")
    assert 'name="backdate_reason"' not in hard.get("/desk/new").text
    r = hard.post("/desk/new", data={"csrf": csrf, **form}, follow_redirects=False)
    assert r.status_code == 422 and "received_at（接收时间）" in r.text and "最近 30 天内" in r.text
    csrf = _browser(hard, db_engine, config, "cpo1", "cpo", person="zhao.li")
    assert 'name="backdate_reason"' in hard.get("/desk/new").text
    r = hard.post("/desk/new", data={"csrf": csrf, **form, "backdate_reason": "纸质来信漏登"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/desk/receipt/DL-2026-"), r.text[:500]
    assert _count(db_engine) == 1
