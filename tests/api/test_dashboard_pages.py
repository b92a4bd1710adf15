"""The head's dashboard and the statistics pages over HTTP: who sees what, and every figure's link lists
exactly the cases it counts (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import Engine

from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.intake import run_intake
from models.submission import submit
from tests.api.support import account, bearer, install_clock
from tests.factories import complaint

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 4, 8, 10, 0, tzinfo=SH).astimezone(UTC)


def _seed(engine: Engine, config: Config) -> None:
    items = []
    for i in range(24):
        at = datetime(2026, 3, 20, 9, 0, tzinfo=SH) + timedelta(days=i, hours=i % 5)
        items.append(complaint(received_at=at.isoformat(), branch=["dl", "dl-zs", "dl-xg"][i % 3],
                               outlet=["中山广场网点", None][i % 2], category=["银行卡", "个人贷款"][i % 2]))
    submit(engine, [x for x in items if x.received_at and x.received_at < NOW], config=config,
           calendar=WorkingCalendar(), now=NOW - timedelta(hours=1))
    run_intake(engine, config, now=NOW - timedelta(minutes=30))


def _called_back(engine: Engine, config: Config, branch: str) -> None:
    """One case of `branch` responded and its call-back reached, 不满意 (services/governance.py)."""
    from sqlalchemy import select

    from models import case_actions
    from models.complaint import Complaint
    from models.db import session_scope
    from models.sqlutil import table_of
    from services.governance import record_callback
    from services.unit_of_work import Runtime

    c = table_of(Complaint)
    with engine.connect() as conn:
        case_no = conn.execute(select(c.c.case_no).where(c.c.branch == branch).order_by(c.c.id)).scalars().first()
    assert case_no is not None
    told = NOW - timedelta(minutes=20)
    with session_scope(engine) as s:
        case_actions.respond(s, case_no=case_no, verified="已核实", basis="依据合同第五条", remedies="可向金融监管总局投诉",
                             told_via="phone", told_at=told, outcome="upheld", config=config,
                             calendar=WorkingCalendar(), now=told, actor="feng.yu")
    with Runtime(config, engine).unit(now=NOW - timedelta(minutes=10)) as uow:
        record_callback(uow, case_no=case_no, result="reached", satisfaction="不满意", actor="zhao.li")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    install_clock(monkeypatch, lambda: NOW)


def test_the_head_sees_their_institution_and_each_figure_lists_its_cases(client: TestClient, db_engine: Engine,
                                                                           config: Config) -> None:
    """The 支行行长 of 中山支行 opens /dashboard on it; the month's figure and each month of the trend link to a
    list of that many cases; the city branch's board is refused to them."""
    _seed(db_engine, config)
    head = bearer(account(db_engine, config, "ma-lei", "supervisor", person="ma.lei", branch="dl-zs"))
    page = client.get("/dashboard", headers=head)
    assert page.status_code == 200 and "中山支行" in page.text and "<svg" in page.text
    data = client.get("/api/dashboard", headers=head).json()
    assert data["institution"] == "dl-zs"
    month = next(f for f in data["counts"] if f["label"] == "本月受理")
    assert month["value"] > 0
    listed = client.get(month["link"], headers=head)
    assert listed.status_code == 200
    assert int(re.search(r'id="total">(\d+)<', listed.text)[1]) == month["value"]  # type: ignore[index]
    assert len(re.findall(r'href="/cases/DL-', listed.text)) == month["value"]
    cases = client.get("/api" + month["link"], headers=head).json()
    assert cases["total"] == month["value"] == len(cases["cases"])
    assert {tuple(c) for c in cases["cases"]} == {("case_no", "received_at", "status", "status_name", "branch",
                                                   "outlet", "category", "due_at")}  # the keys, in order
    trend = re.findall(r'<a href="([^"]+)">(\d{4}-\d{2})：(\d+)</a>', page.text.split('id="trend"')[1].split("</p>")[0])
    assert [(m, int(n)) for _l, m, n in trend] == [(f["label"], f["value"]) for f in data["trend"]] and len(trend) == 12
    assert {m: int(n) for _l, m, n in trend}["2026-03"] > 0
    for link, _m, n in trend:  # each month of the trend lists its cases
        listed_month = client.get(link.replace("&amp;", "&"), headers=head)
        assert int(re.search(r'id="total">(\d+)<', listed_month.text)[1]) == int(n), link  # type: ignore[index]
    assert client.get(month["link"].replace("dl-zs", "dl"), headers=head).status_code == 403
    assert client.get("/dashboard?institution=dl", headers=head).status_code == 403
    desk = bearer(account(db_engine, config, "desk1", "desk", branch="dl-zs"))
    assert client.get("/dashboard", headers=desk).status_code == 403


def test_each_alert_on_the_dashboard_links_to_the_cases_it_counted(client: TestClient, db_engine: Engine, config: Config,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A spike of 银行卡 at 中山支行's 中山广场网点 raised by the early-warning run: the page shows its alerts (the
    outlet, the sub-branch), each a link to a list of as many cases as the alert counted."""
    import random

    from services import analytics
    from services.unit_of_work import Runtime

    rng, cal, day0, items = random.Random(3), WorkingCalendar(), datetime(2026, 3, 1, tzinfo=SH).date(), []
    for k in range(130):
        d = day0 + timedelta(days=k)
        n = (rng.choice([0, 1, 1, 2]) if cal.is_working_day(d) else rng.choice([0, 0, 1])) if k < 128 else 9
        items += [complaint(received_at=datetime(d.year, d.month, d.day, 9 + j % 8, tzinfo=SH).isoformat(),
                            branch="dl-zs", category="银行卡", outlet="中山广场网点") for j in range(n)]
    end = datetime(2026, 7, 9, 8, 0, tzinfo=SH).astimezone(UTC)
    submit(db_engine, items, config=config, calendar=cal, now=end - timedelta(hours=2))
    run_intake(db_engine, config, now=end - timedelta(hours=1))
    with Runtime(config, db_engine).unit(now=end) as uow:
        raised = [a for a in analytics.early_warning(uow) if a.institution == "dl-zs"]
    assert {a.outlet for a in raised} == {"", "中山广场网点"}
    install_clock(monkeypatch, lambda: end)
    head = bearer(account(db_engine, config, "ma-lei", "supervisor", person="ma.lei", branch="dl-zs"))
    page = client.get("/dashboard", headers=head)
    shown = re.findall(r'<li><a href="([^"]+)">[^<]*近 (\d) 日 (\d+) 件</a>', page.text.split('id="alerts"')[1])
    assert sorted(int(n) for _l, _w, n in shown) == sorted(a.observed for a in raised)
    for link, _w, n in shown:
        listed = client.get(link.replace("&amp;", "&"), headers=head)
        assert int(re.search(r'id="total">(\d+)<', listed.text)[1]) == int(n), link  # type: ignore[index]


def test_the_city_head_sees_the_sub_branches_and_statistics_drill_to_case_numbers(client: TestClient, db_engine: Engine,
                                                                                 config: Config) -> None:
    """The 行长 sees each sub-branch; March is frozen by the 消保办, its cells list their cases, CSV and XLSX download."""
    _seed(db_engine, config)
    head = bearer(account(db_engine, config, "wang-jun", "supervisor", person="wang.jun", branch="dl"))
    _called_back(db_engine, config, "dl-zs")
    board = client.get("/api/dashboard", headers=head).json()
    assert {c["note"] for c in board["children"]} == {"dl-zs", "dl-xg", "dl-jz"}
    rates = {c["note"]: (c["callback_rate"], c["satisfaction_rate"]) for c in board["children"]}
    assert rates == {"dl-zs": (1.0, 0.0), "dl-xg": (None, None), "dl-jz": (None, None)}  # one reached, 不满意
    assert list(board["children"][0])[-3:] == ["callback_rate", "satisfaction_rate", "callback_note"]
    page = client.get("/dashboard", headers=head).text.split("下辖机构")[1].split("</section>")[0]
    assert "本年回访率 100.0% · 满意度 0.0%" in page and "已回访 1 / 已结束 1" in page
    assert "本年回访率 — · 满意度 —" in page
    assert client.get("/dashboard?institution=dl-xg", headers=head).status_code == 200
    cpo = bearer(account(db_engine, config, "zhao", "cpo", person="zhao.li", branch="dl"))
    frozen = client.post("/api/stats/2026-03/freeze", headers=cpo, json={})
    assert frozen.status_code == 200 and frozen.json()["version"] == 1
    assert client.post("/api/stats/2026-03/freeze", headers=head, json={}).status_code == 403
    page = client.get("/stats/2026-03", headers=head)
    assert page.status_code == 200 and "冻结版本 v1" in page.text
    total = frozen.json()["total"]
    cell = client.get("/api/stats/2026-03/cases?dimension=branch&value=dl-zs", headers=head).json()
    assert cell["total"] == frozen.json()["branch"]["dl-zs"] and cell["total"] <= total
    listed = client.get("/stats/2026-03/cases?dimension=branch&value=dl-zs", headers=head)
    assert len(re.findall(r'href="/cases/DL-', listed.text)) == cell["total"]
    csv = client.get("/stats/2026-03/download?format=csv", headers=head)
    rows = list(__import__("csv").reader(csv.text.lstrip("\ufeff").splitlines()))
    assert csv.status_code == 200 and rows[0][-2:] == ["件数", "受理编号"]
    assert sum(int(r[-2]) for r in rows[1:]) == total
    xlsx = client.get("/stats/2026-03/download?format=xlsx", headers=head)
    wb = load_workbook(io.BytesIO(xlsx.content))
    assert wb["汇总"]["B3"].value == total
    bad = client.get("/api/stats/2026-13", headers=head)
    assert bad.status_code == 422 and "统计月份" in bad.text
