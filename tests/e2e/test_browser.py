"""A real browser (headless Chromium via Playwright) against the app served by uvicorn on loopback:
the desk files a complaint through the form and gets its case number; the handler logs in,
acknowledges and responds; complaint text holding <script> and <img onerror> renders inert."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from api.app import create_app, serving
from complaints.config import Config
from flows.intake import run_intake
from models.case_views import case_detail
from models.db import session_scope
from models.users import create_user
from tests.e2e.support import ARGS, CHROMIUM, PASSWORD, login

SCRIPT = '<script>window.__xss = 1; alert("xss")</script>'
IMG = '<img src="x" onerror="window.__xss = 2; alert(2)">'

playwright = pytest.importorskip("playwright.sync_api")


def _user(engine: Engine, config: Config, name: str, role: str, person: str | None = None) -> None:
    with session_scope(engine) as s:
        create_user(s, username=name, role=role, password=PASSWORD, config=config, now=datetime.now(UTC),
                    person_id=person, branch="dl" if role == "desk" else None)


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
        login(page, "desk1")
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
        login(page, "handler1")
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
        page.select_option("#form-respond select[name=outcome]", "upheld")
        page.click("#act-respond")
        page.wait_for_url(f"{base}/cases/{case_no}?done=respond")
        assert page.inner_text("#case-status") == "已答复"
        assert "答复" in page.inner_text("#timeline")
        assert page.evaluate("window.__xss") is None
        browser.close()
    assert dialogs == []


def test_paused_extended_case_and_letter_render_in_chromium(engine: Engine, config: Config,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler pauses and extends a case in Chromium (the case page once was a 500 after a pause),
    then responds and prints the 处理决定书; screenshots go to /tmp/shots for a person to look at."""
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: apt-get install -y chromium chromium-driver")
    from api import deps, pages, service
    from domain.calendar import WorkingCalendar
    from domain.deadlines import SHANGHAI
    from models.submission import submit
    from tests.factories import complaint

    now = datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI)
    from services import unit_of_work

    monkeypatch.setattr(unit_of_work, "utcnow", lambda: now)  # the web's clock (services/unit_of_work.py)
    for module in (deps, service, pages):  # where older code read it
        if hasattr(module, "utcnow"):
            monkeypatch.setattr(module, "utcnow", lambda: now)
    result = submit(engine, [complaint(vulnerable=True, vulnerable_note="老年客户，需电话回访", outlet="dl-zs",
                                       respondent="信用卡中心客服专员")],
                    config=config, calendar=WorkingCalendar(), now=now)[0]
    run_intake(engine, config, now=now)
    with session_scope(engine) as s:
        detail = case_detail(s, result.case_no)
    assert detail is not None and detail["handler"]
    case_no = detail["case_no"]
    _user(engine, config, "handler2", "handler", person=detail["handler"])
    shots = Path("/tmp/shots")
    shots.mkdir(parents=True, exist_ok=True)
    with serving(create_app(config, engine)) as base, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{base}/cases/{case_no}")
        login(page, "handler2")
        page.wait_for_url(f"{base}/cases/{case_no}")
        page.click("summary:has-text('暂停计时')")
        page.select_option("form[action$='/act/pause'] select[name=reason]", "鉴定")
        page.fill("form[action$='/act/pause'] input[name=evidence]", "JD-2026-018")
        page.click("form[action$='/act/pause'] button[type=submit]")
        page.wait_for_url(f"{base}/cases/{case_no}?done=pause")
        assert "计时已暂停" in page.inner_text("#case-paused")
        page.click("summary:has-text('延期')")
        page.select_option("form[action$='/act/extend'] select[name=to]", "complex")
        page.fill("form[action$='/act/extend'] input[name=approver]", "li.ming")
        page.fill("form[action$='/act/extend'] textarea[name=reason]", "需调取外部机构交易记录")
        page.select_option("form[action$='/act/extend'] select[name=customer_told_via]", "phone")
        page.click("form[action$='/act/extend'] button[type=submit]")
        page.wait_for_url(f"{base}/cases/{case_no}?done=extend")
        due = page.inner_text("#case-due")
        assert "复杂（延至 30 日）" in due and "计时已暂停" in due
        assert "特殊群体客户" in page.inner_text("#case-vulnerable")
        assert page.inner_text("#case-outlet") == "中山支行"
        timeline = page.inner_text("#timeline")
        assert "暂停计时" in timeline and "延期" in timeline and "李明" in timeline
        page.screenshot(path=str(shots / "case_paused_extended.png"), full_page=True)

        page.click("summary:has-text('恢复计时')")
        page.click("form[action$='/act/resume'] button[type=submit]")
        page.wait_for_url(f"{base}/cases/{case_no}?done=resume")
        page.fill("#form-respond textarea[name=verified]", "经核实，年费按《信用卡领用合约》收取，我行未按约定提前短信提醒。")
        page.fill("#form-respond textarea[name=basis]", "《信用卡领用合约》第五条；我行服务价格公示。经协商，同意退还本年度年费 200 元。")
        page.select_option("#form-respond select[name=told_via]", "written")
        page.select_option("#form-respond select[name=outcome]", "partly_upheld")
        page.fill("#form-respond textarea[name=not_upheld_reason]", "年费按合约收取，但我行未按约定提前提醒。")
        page.select_option("#form-respond select[name=redress_type]", "refund")
        page.fill("#form-respond input[name=redress_amount]", "200.00")
        page.click("#act-respond")
        page.wait_for_url(f"{base}/cases/{case_no}?done=respond")
        assert "经核实" in page.inner_text("#case-response")
        assert page.inner_text("#gov-outcome") == "部分成立"
        assert page.inner_text("#gov-redress") == "退还费用 200.00 元"
        assert page.inner_text("#gov-timely").startswith("及时")
        assert "待回访" in page.inner_text("#callbacks")
        page.screenshot(path=str(shots / "case_responded.png"), full_page=True)
        page.click("#letter-link")
        page.wait_for_url(f"{base}/cases/{case_no}/letter")
        assert page.inner_text("#letter-case-no") == case_no
        assert page.inner_text("#letter-name") == "张三"
        assert "某银行辽宁省分行消费者权益保护部" in page.inner_text("#letter-review")
        assert "书面" in page.inner_text("#letter-told")
        assert "部分成立" in page.inner_text("#letter-outcome")
        assert "退还费用 人民币 200.00 元" in page.inner_text("#letter-redress")
        page.screenshot(path=str(shots / "letter.png"), full_page=True)
        page.emulate_media(media="print")
        assert page.locator("header.top").is_hidden() and page.locator("#print").is_hidden()
        page.screenshot(path=str(shots / "letter_print.png"), full_page=True)
        page.pdf(path=str(shots / "letter.pdf"), format="A4")
        browser.close()
