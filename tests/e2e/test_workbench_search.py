"""A real browser (headless Chromium) searches from the header's box for a two-character Chinese term,
gets the matching cases (masked) and opens one; the page of the case follows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from api.app import create_app, serving
from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.intake import run_intake
from models.db import session_scope
from models.submission import submit
from models.users import create_user
from tests.e2e.support import ARGS, CHROMIUM, PASSWORD, login
from tests.factories import complaint

playwright = pytest.importorskip("playwright.sync_api")


def test_search_from_the_header_and_open_the_case(engine: Engine, config: Config) -> None:
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: apt-get install -y chromium chromium-driver")
    now = datetime.now(UTC)
    facts = ["银行以断卡为由限制了我的账户", "年费扣收有误", "断卡后无法收款"]
    results = submit(engine, [complaint(category="支付结算", facts=f, received_at=now.isoformat()) for f in facts],
                     config=config, calendar=WorkingCalendar(), now=now)
    run_intake(engine, config)
    with session_scope(engine) as s:
        create_user(s, username="h1", role="handler", password=PASSWORD, config=config, now=now, person_id="yang.xue")
    wanted = {results[0].case_no, results[2].case_no}
    with serving(create_app(config, engine)) as base, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.goto(f"{base}/queue")
        login(page, "h1")
        page.wait_for_url(f"{base}/queue")
        page.fill("header .search-box input[name=q]", "断卡")
        page.press("header .search-box input[name=q]", "Enter")
        page.wait_for_url(f"{base}/search?q=*")
        links = page.locator("#results a[href^='/cases/']")
        assert {links.nth(i).inner_text() for i in range(links.count())} == wanted
        assert "张*" in page.inner_text("#results") and "张三" not in page.inner_text("#results")
        page.click(f"#results a[href='/cases/{results[2].case_no}']")
        page.wait_for_url(f"{base}/cases/{results[2].case_no}")
        assert "断卡后无法收款" in page.inner_text("#case-facts")
        browser.close()
