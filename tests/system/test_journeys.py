"""Every role's journey on the running system, with real clients at every edge.

`complaints up` serves the deployments against a real Prefect server and the application on its
own PostgreSQL database; a real SMTP server (aiosmtpd) and robot receivers that check each
service's signature listen on loopback; people use the pages in headless Chromium. The clock is
moved with `complaints escalate --now` and `complaints dispatch --now`, as a rehearsal would.

The tests run in file order and share one story (one case, filed by the desk):
desk → intake by the web's event → handler acknowledges → the sweep fires every level → each
recipient's message arrives (Chinese, masked, a link that opens after login) → the department
head acknowledges from the link → the handler pauses, resumes, extends, responds (the case page
200 at every step) → the decision letter prints → the auditor opens the report from its message.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from sqlalchemy import Engine

from complaints.config import REPO_ROOT, Config, load_config
from domain.deadlines import SHANGHAI
from models.case_views import case_detail
from models.db import session_scope
from models.users import create_user
from tests.support.fake_services import FakeServices
from tests.support.smtp_server import SmtpInbox, start_smtp
from tests.system.conftest import base_env, free_port, fresh_pg, run_cli, spawn, stop, wait_for

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "journey-pass-2026"
DINGTALK_SECRET, FEISHU_SECRET, WEBHOOK_KEY = "dt-journey-secret", "fs-journey-secret", "wh-journey-key"
PHONE = "13912345678"
SHOTS = Path("/tmp/journey-shots")


@dataclass
class Journey:
    """The running system and what the story has learnt so far."""

    engine: Engine
    env: dict[str, str]
    web: str
    config: Config
    inbox: SmtpInbox
    robots: FakeServices
    browser: Any
    case_no: str = ""
    submitted_at: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    escalation_mail: dict[int, list[EmailMessage]] = field(default_factory=dict)

    def cli(self, *args: str) -> Any:
        result = run_cli(list(args), self.env)
        assert result.returncode == 0, f"complaints {' '.join(args)}: {result.stderr[-2000:]}"
        return json.loads(result.stdout) if result.stdout.strip().startswith(("{", "[")) else result.stdout

    def page(self) -> Any:
        return self.browser.new_context(locale="zh-CN").new_page()

    def login(self, page: Any, username: str) -> None:
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")

    def person_email(self, person: str) -> str:
        return next(c.address for c in self.config.org.people[person].contacts if c.channel == "email")

    def mail_to(self, person: str, since: int = 0) -> list[EmailMessage]:
        address = self.person_email(person)
        with self.inbox.lock:
            return [m for m in self.inbox.messages[since:] if address in str(m["X-Envelope-To"])]

    def user(self, username: str, role: str, person: str | None = None) -> None:
        with session_scope(self.engine) as s:
            create_user(s, username=username, role=role, password=PASSWORD, config=self.config,
                        now=datetime.now(UTC), person_id=person)

    def shot(self, page: Any, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def expect_case_page(self, page: Any) -> None:
        """The case page answered and shows the case (no error page)."""
        assert page.locator("#case-no").count() == 1, page.content()[:2000]
        assert page.inner_text("#case-no") == self.case_no


def _text(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _link(text: str) -> str:
    found = re.search(r"https?://\S+", text)
    assert found, text
    return found.group(0)


@pytest.fixture(scope="module")
def journey(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: apt-get install -y chromium chromium-driver")
    engine, url = fresh_pg("complaints_journey")
    home = tmp_path_factory.mktemp("journey-home")
    inbox = SmtpInbox()
    smtp = start_smtp(inbox)
    robots = FakeServices(wecom_keys={"cpo-robot-key"}, dingtalk_secrets={"li-ming-robot": DINGTALK_SECRET},
                          feishu_secrets={"card-feishu-bot": FEISHU_SECRET}, webhook_key=WEBHOOK_KEY.encode()).start()
    web_port = free_port()
    web = f"http://127.0.0.1:{web_port}"
    env = base_env(prefect_api, url, home)
    env.update({
        "COMPLAINTS_SMTP_HOST": "127.0.0.1", "COMPLAINTS_SMTP_PORT": str(inbox.port), "COMPLAINTS_SMTP_SECURITY": "none",
        "COMPLAINTS_WECOM_BASE_URL": robots.url, "COMPLAINTS_DINGTALK_BASE_URL": robots.url,
        "COMPLAINTS_FEISHU_BASE_URL": robots.url, "COMPLAINTS_DINGTALK_SECRET": DINGTALK_SECRET,
        "COMPLAINTS_FEISHU_SECRET": FEISHU_SECRET, "COMPLAINTS_WEBHOOK_KEY": WEBHOOK_KEY,
        "COMPLAINTS_PUBLIC_URL": web,
    })
    log = home / "up.log"
    # intake's safety net every hour: only the web's event can route the desk's complaint in time
    proc = spawn(["up", "--poll-seconds", "1", "--web-port", str(web_port), "--interval", "intake=3600",
                  "--interval", "dispatch=3600", "--interval", "escalation=3600"], env, log)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            with get_client(sync_client=True) as client:
                wait_for(lambda: len(client.read_deployments()) >= 4 or proc.poll() is not None, 90,
                         "the runner to register its deployments")
            assert proc.poll() is None, log.read_text()[-3000:]
            wait_for(lambda: _answers(f"{web}/login"), 60, "the web pages")
            time.sleep(2)  # the triggers' automations are created with the deployments
            yield Journey(engine, env, web, load_config(REPO_ROOT / "config"), inbox, robots, browser)
        finally:
            browser.close()
            stop(proc)
            smtp.stop()
            robots.stop()
            engine.dispose()


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# --------------------------------------------------------------------------------------------- desk


def test_desk_files_in_the_browser_and_the_web_event_routes_it(journey: Journey) -> None:
    """The desk's form gives a case number and deadlines at once; intake runs from the web's event."""
    j = journey
    j.user("desk1", "desk")
    page = j.page()
    page.goto(f"{j.web}/desk/new")
    j.login(page, "desk1")
    page.wait_for_url(f"{j.web}/desk/new")
    page.fill("#complainant_name", "刘桂兰")
    page.fill("#complainant_phone", PHONE)
    page.select_option("#category", label="银行卡")
    page.select_option("#cause", label="定价收费")
    page.fill("#request", "退还信用卡年费 200 元")
    page.fill("#facts", "开卡时未告知年费，账单扣收年费 200 元。")
    j.submitted_at = datetime.now(UTC)
    page.click("button.primary")
    page.wait_for_url(f"{j.web}/desk/receipt/**")
    j.case_no = page.inner_text("#case-no")
    assert j.case_no.startswith("DL-")
    assert "前" in page.inner_text("#due-at")
    j.shot(page, "01-desk-receipt")

    def routed() -> bool:
        with session_scope(j.engine) as s:
            d = case_detail(s, j.case_no)
        if d and d["status"] == "routed":
            j.detail = dict(d)
            return True
        return False

    wait_for(routed, 60, "the desk's complaint to be routed (the safety net is an hour away)")
    assert j.detail["handler"] in ("chen.jing", "chu.wei")  # 信用卡部 handles 银行卡
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["intake"])), limit=50)
    started = [r for r in runs if r.created and r.created >= j.submitted_at - timedelta(seconds=1)]
    assert any(r.created_by is not None and r.created_by.type == "AUTOMATION" for r in started), \
        [(r.name, r.created_by, r.state_name) for r in runs]


# --------------------------------------------------------------------------------------------- handler


def test_handler_gets_the_routed_message_and_acknowledges_from_its_link(journey: Journey) -> None:
    """The handler's e-mail (delivered by the dispatch the routed event started) is Chinese and masked,
    and its link opens the case after login; the handler acknowledges there."""
    j = journey
    handler = j.detail["handler"]
    j.user(handler, "handler", handler)
    wait_for(lambda: bool(j.mail_to(handler)), 60, "the routed message to reach the handler")
    mail = j.mail_to(handler)[0]
    text = _text(mail)
    assert j.case_no in str(mail["Subject"]) and "投诉" in str(mail["Subject"])
    assert "刘*" in text and "刘桂兰" not in text and PHONE not in text
    link = _link(text)
    assert link == f"{j.web}/cases/{j.case_no}"
    page = j.page()
    page.goto(link)
    j.login(page, handler)
    page.wait_for_url(link)
    j.expect_case_page(page)
    page.click("#act-acknowledge")
    page.wait_for_url(f"{link}?done=acknowledge")
    assert page.inner_text("#case-status") == "已确认"
    j.shot(page, "02-handler-acknowledged")


# --------------------------------------------------------------------------------------------- escalation


def _at(day: datetime, days: int, hour: int = 10) -> str:
    return (day + timedelta(days=days)).replace(hour=hour, minute=0, second=0).isoformat()


def test_the_clock_moves_and_each_level_reaches_its_recipients(journey: Journey) -> None:
    """escalate --now fires L0…L3 once each; dispatch --now delivers each to the real SMTP server and
    robots; every message names the level in Chinese, tells the truth about the deadline, is masked
    and links to the case."""
    j = journey
    due = j.detail["due_at"].astimezone(SHANGHAI)
    chain = {m["level"]: m["person"] for m in j.detail["chain"]}
    # L0 three working days before the deadline (23:59:59 local), L1 one day before, L2 at it, L3 two
    # days after; each step is after its level's moment and before the next one's
    steps = [  # (when, level fired, who must hear, what the deadline wording may say)
        (_at(due, -2), 0, [chain["handler"]], ("距答复期限还有",)),
        (_at(due, 0), 1, [chain["department_head"]], ("今日到期", "距答复期限还有 0 天")),
        ((due + timedelta(minutes=1)).isoformat(), 2, [chain["cp_office"], chain["deputy"]], ("已逾期",)),
        (_at(due, 3), 3, [chain["president"]], ("已逾期",)),
    ]
    for when, level, people, wording in steps:
        before = len(j.inbox.messages)
        out = j.cli("escalate", "--now", when)
        assert out["per_level"].get(f"L{level}") == 1, (when, out)
        j.cli("dispatch", "--now", when)
        for person in people:
            mails = [m for m in j.mail_to(person, before) if j.case_no in str(m["Subject"])]
            assert len(mails) == 1, (level, person, [str(m["Subject"]) for m in j.inbox.messages[before:]])
            text = _text(mails[0])
            assert "督办" in str(mails[0]["Subject"]) or "升级" in str(mails[0]["Subject"]), mails[0]["Subject"]
            assert any(w in text for w in wording), (level, text)
            assert "刘*" in text and "刘桂兰" not in text and PHONE not in text
            assert _link(text) == f"{j.web}/cases/{j.case_no}"
            j.escalation_mail.setdefault(level, []).append(mails[0])
        again = j.cli("escalate", "--now", when)
        assert again["fired"] == 0, again  # once per level
    # the 消保办 head also has a WeCom robot, the card department head a Feishu robot: both signed and checked
    texts = [r.text for r in j.robots.received if j.case_no in r.text]
    assert any(r.service == "wecom" for r in j.robots.received if j.case_no in r.text), texts
    assert any(r.service == "feishu" for r in j.robots.received if j.case_no in r.text), texts
    assert all("刘桂兰" not in t and PHONE not in t for t in texts)
    assert j.cli("outbox", "--dead") == []  # nothing dead-lettered on the way


def test_department_head_opens_the_link_and_acknowledges(journey: Journey) -> None:
    """The department head follows the L1 message's link, logs in and acknowledges the escalation."""
    j = journey
    head = next(m["person"] for m in j.detail["chain"] if m["level"] == "department_head")
    j.user(head, "supervisor", head)
    link = _link(_text(j.escalation_mail[1][0]))
    page = j.page()
    page.goto(link)
    j.login(page, head)
    page.wait_for_url(link)
    j.expect_case_page(page)
    page.locator("form[action$='/escalations/1/acknowledge'] button").click()
    page.wait_for_url(f"{link}?done=escalation")
    j.expect_case_page(page)
    assert "已完成：确认督办" in page.inner_text("body")
    assert j.config.org.people[head].name in page.inner_text("#escalations")  # who acknowledged, by name
    with session_scope(j.engine) as s:
        d = case_detail(s, j.case_no)
    assert d is not None
    level1 = next(e for e in d["escalations"] if e["level"] == 1)
    assert level1["acknowledged_by"] == head
    j.shot(page, "03-supervisor-acknowledged")


# --------------------------------------------------------------------------------------------- handler again


def test_handler_pauses_resumes_extends_and_responds_with_the_page_working_throughout(journey: Journey) -> None:
    """Each action through the case page's forms; the page answers 200 after every one."""
    j = journey
    handler = j.detail["handler"]
    page = j.page()
    case_url = f"{j.web}/cases/{j.case_no}"
    page.goto(case_url)
    j.login(page, handler)
    page.wait_for_url(case_url)

    def act(action: str, fill: Callable[[Any], object]) -> None:
        form = page.locator(f"form[action$='/act/{action}']")
        details = form.locator("xpath=ancestor::details")
        if details.count():
            details.first.evaluate("d => d.open = true")
        fill(form)
        with page.expect_navigation():
            form.locator("button[type=submit]").click()
        j.expect_case_page(page)
        assert page.locator("#action-error").count() == 0, page.inner_text("#action-error")
        j.shot(page, f"04-handler-{action}")

    act("pause", lambda f: (f.locator("select[name=reason]").select_option(index=0),
                           f.locator("input[name=evidence]").fill("JD-2026-001")))
    assert page.locator("#case-paused").count() == 1
    act("resume", lambda f: None)
    lead = j.config.escalation.complaint_lead(j.config.org, "dl")
    act("extend", lambda f: (f.locator("select[name=to]").select_option("complex"),
                            f.locator("input[name=approver]").fill(str(lead)),
                            f.locator("textarea[name=reason]").fill("需调取开卡录音核实告知情况")))
    act("respond", lambda f: (f.locator("textarea[name=verified]").fill("经核实，开卡时未充分提示年费收取条件。"),
                             f.locator("textarea[name=basis]").fill("依据本行信用卡章程第十二条，退还年费 200 元。"),
                             f.locator("select[name=told_via]").select_option("phone"),
                             f.locator("select[name=outcome]").select_option("partly_upheld"),
                             f.locator("textarea[name=not_upheld_reason]").fill("年费按章程收取，未充分提示部分予以纠正"),
                             f.locator("select[name=redress_type]").select_option("refund"),
                             f.locator("input[name=redress_amount]").fill("200.00")))
    assert page.inner_text("#case-status") == "已答复"
    assert "经核实" in page.inner_text("#case-response")


def test_the_decision_letter_prints(journey: Journey, tmp_path: Path) -> None:
    """The 处理决定书 carries the case number, the three Art. 19 parts and the 上级机构 for 核查, and prints."""
    j = journey
    page = j.page()
    letter = f"{j.web}/cases/{j.case_no}/letter"
    page.goto(letter)
    j.login(page, j.detail["handler"])
    page.wait_for_url(letter)
    text = page.inner_text("body")
    for part in (j.case_no, "核实情况", "依据和理由", "救济途径", j.config.escalation.review.owner_org, "经核实"):
        assert part in text, part
    j.shot(page, "05-letter")
    pdf = tmp_path / "letter.pdf"
    page.pdf(path=str(pdf), format="A4")
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000


# --------------------------------------------------------------------------------------------- auditor


def test_auditor_opens_the_weekly_report_from_its_message(journey: Journey) -> None:
    """The week's report is frozen, its link is sent to the auditors and opens after login."""
    j = journey
    assert j.submitted_at is not None
    local = j.submitted_at.astimezone(SHANGHAI)
    iso = local.isocalendar()
    week = f"{iso.year}-W{iso.week:02d}"
    monday_after = (local - timedelta(days=local.weekday()) + timedelta(days=7)).replace(hour=8, minute=30, second=0)
    before = len(j.inbox.messages)
    j.cli("report", "--week", week, "--direct", "--now", monday_after.isoformat())
    j.cli("dispatch", "--now", monday_after.isoformat())
    j.user("aud1", "auditor", "lin.shen")
    mails = [m for m in j.mail_to("lin.shen", before) if week in str(m["Subject"])]
    assert len(mails) == 1, [str(m["Subject"]) for m in j.inbox.messages[before:]]
    link = _link(_text(mails[0]))
    page = j.page()
    page.goto(link)
    j.login(page, "aud1")
    page.wait_for_url(link)
    assert week in page.inner_text("body")
    assert "刘桂兰" not in page.content() and PHONE not in page.content()
    j.shot(page, "06-auditor-report")
