"""The workbench over HTTP (SQLite and PostgreSQL; cases by the real submit and intake; the app's
clock injected): the API's cursors and filters (old parameters still work), search by words and by
phone for the always-masked auditor, my queue, saved views; the pages /queue, /cases, /search."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.deadlines import SHANGHAI
from flows.intake import run_intake
from models.db import session_scope
from models.submission import submit
from models.users import create_user
from services import workbench_queue as wq
from tests.api.support import PASSWORD, account, bearer
from tests.factories import complaint

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def cases(app: FastAPI, db_engine: Engine, config: Config) -> list[str]:
    app.state.ctx.clock = lambda: T0  # the app's own clock: deadlines as of T0
    items = [complaint(category="支付结算", facts="账户被冻结" if i % 4 == 0 else "转账失败",
                       complainant={"name": "李四", "phone": f"1390000{i:04d}"}) for i in range(57)]
    results = submit(db_engine, items, config=config, calendar=WorkingCalendar(), now=T0)
    run_intake(db_engine, config, now=T0)
    return [r.case_no for r in results]


def _all(client: TestClient, token: str, path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    url: str | None = path
    while url:
        r = client.get(url, headers=bearer(token))
        assert r.status_code == 200, r.text
        out += r.json()
        nxt = r.headers.get("X-Next-Cursor")
        url = f"{path}&cursor={nxt}" if nxt else None
    return out


def test_api_pages_with_cursors_and_keeps_the_old_parameters(client: TestClient, db_engine: Engine,
                                                             config: Config, cases: list[str]) -> None:
    token = account(db_engine, config, "h1", "handler", person="yang.xue")
    got = _all(client, token, "/api/complaints?limit=10&status=routed")
    assert sorted(c["case_no"] for c in got) == sorted(cases)
    r = client.get("/api/complaints?limit=10", headers=bearer(token))
    assert r.headers["X-Total-Count"] == "57" and len(r.json()) == 10
    assert client.get("/api/complaints?overdue=true", headers=bearer(token)).json() == []
    assert len(client.get("/api/complaints?due_within_days=365&limit=1000", headers=bearer(token)).json()) == 57
    page = client.get("/api/cases?open=true&limit=50", headers=bearer(token)).json()
    assert page["count"] == 57 and page["sort"] == "due" and page["next_cursor"]
    bad = client.get("/api/complaints?cursor=xyz", headers=bearer(token))
    assert bad.status_code == 422 and "cursor（翻页位置）" in bad.text
    wrong = client.get("/api/complaints?severity=huge&received_from=yesterday", headers=bearer(token))
    assert wrong.status_code == 422 and "severity（严重程度）" in wrong.text and "received_from（收到时间起）" in wrong.text


def test_api_search_masked_for_the_auditor_and_my_queue(client: TestClient, db_engine: Engine, config: Config,
                                                        cases: list[str]) -> None:
    auditor = account(db_engine, config, "a1", "auditor", person="lin.shen")
    r = client.get("/api/search?phone=139-0000-0005", headers=bearer(auditor))
    assert r.status_code == 200, r.text
    (hit,) = r.json()["items"]
    assert hit["case_no"] == cases[5] and hit["complainant"] == "李*" and "13900000005" not in r.text
    frozen = client.get("/api/search?q=冻结&limit=200", headers=bearer(auditor)).json()["items"]
    assert {c["case_no"] for c in frozen} == set(cases[::4])
    assert client.get("/api/search", headers=bearer(auditor)).status_code == 422
    other = account(db_engine, config, "h2", "handler", person="chen.jing")
    assert client.get("/api/search?q=冻结", headers=bearer(other)).json()["items"] == []
    handler = account(db_engine, config, "h1", "handler", person="yang.xue")
    q = client.get("/api/queue", headers=bearer(handler)).json()
    assert q["open"]["count"] == 57 and len(q["open"]["items"]) == 50 and q["overdue"]["count"] == 0
    assert q["escalated"]["count"] == 0
    saved = client.post("/api/views", json={"name": "冻结的", "query": "q=冻结&open=true"}, headers=bearer(handler))
    assert saved.status_code == 200, saved.text
    names = [v["name"] for v in client.get("/api/views", headers=bearer(handler)).json()]
    assert names == ["我的逾期", "本周新收", "待分拣", "冻结的"]
    bad = client.post("/api/views", json={"name": "我的逾期", "query": "x=1"}, headers=bearer(handler))
    assert bad.status_code == 422 and "name（视图名称）" in bad.text and "x（x）" in bad.text


def _login(app: FastAPI, db_engine: Engine, config: Config, name: str, role: str, person: str) -> TestClient:
    with session_scope(db_engine) as s:
        create_user(s, username=name, role=role, password=PASSWORD, config=config, now=T0, person_id=person)
    c = TestClient(app, base_url="http://127.0.0.1")
    form = c.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf
    r = c.post("/login", data={"username": name, "password": PASSWORD, "csrf": csrf.group(1), "next": "/"},
               follow_redirects=False)
    assert r.status_code == 303
    return c


@pytest.fixture
def browser(app: FastAPI, db_engine: Engine, config: Config, cases: list[str]) -> Iterator[TestClient]:
    c = _login(app, db_engine, config, "web-h", "handler", "yang.xue")
    yield c
    c.close()


def test_queue_page_counts_and_pages_every_open_case(browser: TestClient, cases: list[str]) -> None:
    html = browser.get("/queue").text
    section = html[html.index('id="q-open"'):]
    assert '<span class="count">57</span>' in section
    first = set(re.findall(r'href="/cases/(DL-[\d-]+)"', section))
    nxt = re.search(r'href="([^"]*open_cursor=[^"]+)"', section)
    assert nxt and len(first) == 50
    rest_html = browser.get(nxt.group(1).replace("&amp;", "&")).text
    rest = set(re.findall(r'href="/cases/(DL-[\d-]+)"', rest_html[rest_html.index('id="q-open"'):]))
    assert first | rest == set(cases) and not first & rest


def test_a_list_past_the_count_cap_says_more(browser: TestClient, client: TestClient, db_engine: Engine,
                                             config: Config, cases: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Lists count up to COUNT_CAP (10,000) and then say "more than": the page shows 50+, the API
    says count_capped and X-Total-Count-Capped."""
    monkeypatch.setattr(wq, "COUNT_CAP", 50)
    page = browser.get("/cases?open=true&sort=due").text
    assert 'id="total" title="超过 50 件' in page and '>50+</span>' in page
    token = account(db_engine, config, "h9", "handler", person="yang.xue")
    body = client.get("/api/cases?open=true", headers=bearer(token)).json()
    assert (body["count"], body["count_capped"]) == (50, True)
    r = client.get("/api/complaints?limit=10", headers=bearer(token))
    assert r.headers["X-Total-Count"] == "50" and r.headers["X-Total-Count-Capped"] == "true"
    monkeypatch.setattr(wq, "COUNT_CAP", 57)
    assert client.get("/api/cases?open=true", headers=bearer(token)).json()["count_capped"] is False


def test_search_and_list_pages_and_a_saved_view(browser: TestClient, cases: list[str]) -> None:
    html = browser.get("/search?q=冻结").text
    assert set(re.findall(r'href="/cases/(DL-[\d-]+)"', html)) == set(cases[::4])
    assert "13900000004" not in html
    short = browser.get("/search?q=冻")
    assert short.status_code == 422 and "q（搜索词）：每个搜索词至少 2 个字" in short.text
    page = browser.get("/cases?open=true&sort=due").text
    assert 'id="total">57<' in page and 'id="next-page"' in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    r = browser.post("/views", data={"csrf": csrf.group(1), "name": "我的冻结", "query": "q=冻结"},
                     follow_redirects=False)
    assert r.status_code == 303
    view = browser.get(r.headers["location"]).text
    assert "我的冻结" in view and set(re.findall(r'href="/cases/(DL-[\d-]+)"', view)) == set(cases[::4])
    assert "我的逾期" in browser.get("/cases?view=我的逾期").text
