"""A real browser (headless Chromium via Playwright) against the app served by uvicorn on loopback:
the desk files a complaint through the form and gets its case number; the handler logs in,
acknowledges and responds; complaint text holding <script> and <img onerror> renders inert."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from api.app import create_app, serving
from complaints.config import Config
from flows.intake import run_intake
from models.case_views import case_detail
from models.db import make_engine, session_scope
from models.users import create_user

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "counter-pass-1"
SCRIPT = '<script>window.__xss = 1; alert("xss")</script>'
IMG = '<img src="x" onerror="window.__xss = 2; alert(2)">'

playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def engine(tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    path = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, path)
    eng = make_engine(f"sqlite:///{path}")
    yield eng
    eng.dispose()


def _user(engine: Engine, config: Config, name: str, role: str, person: str | None = None) -> None:
    with session_scope(engine) as s:
        create_user(s, username=name, role=role, password=PASSWORD, config=config, now=datetime.now(UTC),
                    person_id=person, branch="dl" if role == "desk" else None)


def _login(page: object, base: str, name: str) -> None:
    page.fill("input[name=username]", name)  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]


def test_desk_files_handler_acknowledges_and_responds(engine: Engine, config: Config) -> None:
    """Form → case number on screen → the handler acknowledges and responds; hostile text stays text."""
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: apt-get install -y chromium chromium-driver")
    _user(engine, config, "desk1", "desk")
    dialogs: list[str] = []
    with serving(create_app(config, engine)) as base, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()

        def on_dialog(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.goto(f"{base}/desk/new")
        assert "/login" in page.url
        _login(page, base, "desk1")
        page.wait_for_url(f"{base}/desk/new")
        page.fill("#complainant_name", "张三")
        page.fill("#complainant_phone", "13812345678")
        page.select_option("#category", label="银行卡")
        page.select_option("#cause", label="定价收费")
        page.fill("#request", f"退还年费 {SCRIPT}")
        page.fill("#facts", f"账单扣收年费 200 元。{IMG}")
        page.click("button.primary")
        page.wait_for_url(f"{base}/desk/receipt/**")
        case_no = page.inner_text("#case-no")
        assert case_no.startswith("DL-")
        assert "前" in page.inner_text("#due-at")

        run_intake(engine, config)
        with session_scope(engine) as s:
            detail = case_detail(s, case_no)
        assert detail is not None and detail["handler"]
        _user(engine, config, "handler1", "handler", person=detail["handler"])

        page.click("header .who button")  # 退出
        page.wait_for_url(f"{base}/login")
        page.goto(f"{base}/cases/{case_no}")
        _login(page, base, "handler1")
        page.wait_for_url(f"{base}/cases/{case_no}")
        assert SCRIPT in page.inner_text("#case-request")
        assert IMG in page.inner_text("#case-facts")
        assert page.locator("#case-facts img").count() == 0
        assert page.evaluate("window.__xss") is None

        page.click("#act-acknowledge")
        page.wait_for_url(f"{base}/cases/{case_no}?done=acknowledge")
        assert page.inner_text("#case-status") == "已确认"
        page.fill("#form-respond textarea[name=verified]", "经核实，年费按合约收取")
        page.fill("#form-respond textarea[name=basis]", "《信用卡领用合约》第五条")
        page.select_option("#form-respond select[name=told_via]", "phone")
        page.click("#act-respond")
        page.wait_for_url(f"{base}/cases/{case_no}?done=respond")
        assert page.inner_text("#case-status") == "已答复"
        assert "答复" in page.inner_text("#timeline")
        assert page.evaluate("window.__xss") is None
        browser.close()
    assert dialogs == []
