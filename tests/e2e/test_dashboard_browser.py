"""Chromium (Playwright) against the app on loopback: the 支行行长 opens the 一把手看板, sees the charts,
follows the overdue figure to exactly the overdue cases of the sub-branch, and drills into an overdue 整改."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from api.app import create_app, serving
from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.deadlines import SHANGHAI
from flows.intake import run_intake
from models.db import session_scope
from models.submission import submit
from models.users import create_user
from tests.e2e.support import ARGS, CHROMIUM, PASSWORD, login
from tests.factories import complaint

NOW = datetime(2026, 4, 8, 10, 0, tzinfo=SHANGHAI)

playwright = pytest.importorskip("playwright.sync_api")


def test_the_head_follows_the_overdue_figure_to_its_cases(engine: Engine, config: Config,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """/dashboard after login shows 中山支行 with its charts; 逾期未答复 N links to a list of N overdue cases."""
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: apt-get install -y chromium chromium-driver")
    from services import unit_of_work

    monkeypatch.setattr(unit_of_work, "utcnow", lambda: NOW.astimezone(UTC))
    old = [complaint(received_at=(NOW - timedelta(days=20 + i)).isoformat(), branch="dl-zs") for i in range(3)]
    new = [complaint(received_at=(NOW - timedelta(days=i)).isoformat(), branch="dl-zs", outlet="中山广场网点")
           for i in range(4)]
    other = [complaint(received_at=(NOW - timedelta(days=25)).isoformat(), branch="dl-xg")]
    submit(engine, old + new + other, config=config, calendar=WorkingCalendar(), now=NOW - timedelta(hours=1))
    run_intake(engine, config, now=NOW - timedelta(minutes=30))
    from services import governance
    from services.unit_of_work import Runtime

    with Runtime(config, engine).unit(now=NOW.astimezone(UTC) - timedelta(days=20)) as uow:
        item = governance.add_remediation(uow, title="信用卡年费提示不清，修订告知书", due=(NOW - timedelta(days=10)).date(),
                                          actor="zhao.li", root_cause="R07", category="银行卡", branch="dl-zs",
                                          owner_department="outlet", owner_branch="dl-zs")
    with session_scope(engine) as s:
        create_user(s, username="ma-lei", role="supervisor", password=PASSWORD, config=config, now=NOW,
                    person_id="ma.lei", branch="dl-zs")
    with serving(create_app(config, engine)) as base, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.goto(f"{base}/dashboard")
        login(page, "ma-lei")
        page.wait_for_url(f"{base}/dashboard")
        assert "中山支行" in page.inner_text("h1")
        assert page.locator("svg").count() >= 2
        link = page.locator("a.figure", has_text="逾期未答复")
        shown = int(re.search(r"逾期未答复：(\d+)", link.inner_text())[1])  # type: ignore[index]
        assert shown == 3
        link.click()
        page.wait_for_url(re.compile(r".*/dashboard/cases\?.*overdue=true.*"))
        assert int(page.inner_text("#total")) == 3
        assert page.locator("a[href^='/cases/DL-']").count() == 3
        page.locator("a[href^='/cases/DL-']").first.click()
        page.wait_for_url(re.compile(r".*/cases/DL-.*"))
        page.goto(f"{base}/dashboard")
        overdue = page.locator("a.figure", has_text="整改逾期")
        assert "整改逾期：1" in overdue.inner_text()
        overdue.click()
        page.wait_for_url(re.compile(r".*/dashboard/remediation\?.*"))
        page.click(f"a[href='/remediation/{item['ref']}']")
        page.wait_for_url(f"{base}/remediation/{item['ref']}")
        assert item["ref"] in page.inner_text("main")
        browser.close()
