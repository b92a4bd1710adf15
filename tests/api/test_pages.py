"""The web pages as people use them: every case action through the real form routes (with the
session's CSRF token), and after each one the case page opened by every role that may see it;
the response and the printable 处理决定书; Chinese error pages; the desk form keeping its input;
the 消保办's dead letters from a real dispatch. The clock is injected (api.deps/service/pages)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from html import unescape
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select

from api import page_data
from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.deadlines import SHANGHAI
from flows.intake import run_intake
from models.audit import AuditEvent
from models.case_views import CaseDetail, case_detail
from models.complaint import Complaint
from models.db import session_scope
from models.sqlutil import table_of
from models.submission import submit
from models.users import create_user
from notifications.dispatch import dispatch_once
from tests.api.support import PASSWORD, Clock, install_clock
from tests.factories import complaint

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
AUDIT = table_of(AuditEvent)
ENGLISH = ("told via", "escalation", "individual", "standard", "Field required", "forbidden", "Value error",
           "Traceback", "undefined")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(T0)
    install_clock(monkeypatch, c)
    return c


def _case(engine: Engine, config: Config, **overrides: Any) -> CaseDetail:
    """A complaint stored by submit and routed by intake, as the desk and the flow do it."""
    result = submit(engine, [complaint(**overrides)], config=config, calendar=WorkingCalendar(), now=T0)[0]
    run_intake(engine, config, now=T0)
    with session_scope(engine) as s:
        detail = case_detail(s, result.case_no, unmask=True)
    assert detail is not None and detail["handler"]
    return detail


def _user(engine: Engine, config: Config, name: str, role: str, person: str | None = None) -> None:
    with session_scope(engine) as s:
        create_user(s, username=name, role=role, password=PASSWORD, config=config, now=T0, person_id=person,
                    branch="dl" if role == "desk" else None)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


class Browser:
    """One person's session: log in through the form, then GET pages and POST forms with CSRF."""

    def __init__(self, app: FastAPI, username: str) -> None:
        self.client = TestClient(app, base_url="http://127.0.0.1")
        self.username = username
        self.login()

    def login(self) -> None:
        """Log in through the form (again after the injected clock outran the 12-hour session)."""
        self.client.cookies.clear()
        login = self.client.get("/login")
        r = self.client.post("/login", data={"username": self.username, "password": PASSWORD,
                                             "csrf": _csrf(login.text), "next": "/"}, follow_redirects=False)
        assert r.status_code == 303, r.text
        self.csrf = _csrf(self.client.get("/queue" if self.username != "u-desk" else "/desk/new").text)

    def get(self, path: str) -> Any:
        return self.client.get(path, follow_redirects=False)

    def post(self, path: str, data: dict[str, Any] | None = None) -> Any:
        return self.client.post(path, data={"csrf": self.csrf, **(data or {})}, follow_redirects=False)

    def act(self, case_no: str, action: str, **data: Any) -> Any:
        r = self.post(f"/cases/{case_no}/act/{action}", data)
        assert r.status_code == 303, (action, r.status_code, r.text[:3000])
        assert r.headers["location"] == f"/cases/{case_no}?done={action}"
        return r


def _text(html: str) -> str:
    """The page's visible text (tags dropped), to assert on what a person reads."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _local(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


@pytest.fixture
def people(app: FastAPI, db_engine: Engine, config: Config, clock: Clock) -> Iterator[dict[str, Any]]:
    case = _case(db_engine, config, vulnerable=True, vulnerable_note="八十岁老人，听力不好",
                 outlet="dl-zs", respondent="信用卡中心客服专员")
    assert case["department_branch"] and case["department"]
    found = config.org.find_department(case["department_branch"], case["department"])
    assert found is not None
    other = next(h for h in found[1].handlers if h != case["handler"])
    _user(db_engine, config, "u-handler", "handler", person=other)
    _user(db_engine, config, "u-supervisor", "supervisor", person="feng.yu")
    _user(db_engine, config, "u-cpo", "cpo", person="zhao.li")
    _user(db_engine, config, "u-auditor", "auditor", person="lin.shen")
    browsers = {role: Browser(app, f"u-{role}") for role in ("handler", "supervisor", "cpo", "auditor")}
    clock.browsers.extend(browsers.values())
    yield {"case": case, "other": other, **browsers}
    for b in browsers.values():
        b.client.close()


def test_every_action_through_the_web_then_every_role_opens_the_case(
        people: dict[str, Any], clock: Clock, config: Config, db_engine: Engine) -> None:
    """Each case action posted through the page's form; after each, the case page is 200 for every role
    that may see it, in Chinese, carrying what the action changed (the old page was a 500 after a pause)."""
    case_no = people["case"]["case_no"]
    handler, supervisor = people["handler"], people["supervisor"]
    other_name = config.org.people[people["other"]].name
    viewers = ["supervisor", "cpo", "auditor"]

    def check(*expected: str, absent: tuple[str, ...] = ()) -> str:
        text = ""
        for role in viewers:
            r = people[role].get(f"/cases/{case_no}")
            assert r.status_code == 200, (role, r.status_code, r.text[:3000])
            text = _text(r.text)
            for e in expected:
                assert e in text, (role, e, text[:4000])
            for a in absent + ENGLISH:
                assert a not in text, (role, a, text[:4000])
        return text

    text = check("特殊群体客户", "八十岁老人", "中山支行", "信用卡中心客服专员", "一般（15 日）")
    assert "个人" in text and "登记受理" in text
    due0 = people["case"]["due_at"]

    supervisor.act(case_no, "assign", handler=people["other"])
    viewers.insert(0, "handler")  # the new handler sees the case from now on
    check("指派承办人", other_name)

    handler.act(case_no, "acknowledge")
    check("已确认", "确认受理")

    clock.advance(hours=1)
    handler.act(case_no, "pause", reason="鉴定", evidence="JD-2026-001", at="2026-11-26T11:00")
    check("暂停计时", "鉴定", "JD-2026-001", "计时已暂停")
    clock.advance(days=2)  # the open pause counts: the deadline shown moves with it
    text = check("计时已暂停", _local(due0 + timedelta(days=2)))

    clock.advance(days=1)
    handler.act(case_no, "resume")
    text = check("恢复计时", "已计入暂停 3 日", _local(due0 + timedelta(days=3)), absent=("计时已暂停",))

    clock.advance(hours=2)
    handler.act(case_no, "new-facts", at=clock.now.strftime("%Y-%m-%dT%H:%M"))
    check("收到新的事实或理由，重新计时")

    told = clock.now.strftime("%Y-%m-%dT%H:%M")
    handler.act(case_no, "extend", to="complex", approver="li.ming", reason="需调取外部机构交易记录",
                customer_told_via="phone", customer_told_at=told)
    check("复杂（延至 30 日）", "批准人 李明", "以电话方式告知投诉人", "需调取外部机构交易记录")

    handler.act(case_no, "extend", to="special", approver="张总", approver_org="某银行辽宁省分行",
                approval_ref="辽银复〔2026〕12号", reason="涉及司法鉴定", customer_told_via="written",
                customer_told_at=told)
    check("特殊（延至 60 日）", "某银行辽宁省分行", "辽银复〔2026〕12号", "以书面方式告知投诉人")

    clock.advance(days=1)
    handler.act(case_no, "respond", verified="经核实，年费按领用合约收取，但未提前短信提醒",
                basis="《信用卡领用合约》第五条；我行收费公示", remedies="可向上级机构申请核查，或申请调解、仲裁、诉讼",
                told_via="phone", outcome="部分成立", not_upheld_reason="年费按合约收取，但未提前提醒",
                redress_type="退还费用", redress_amount="200.00")
    text = check("已答复", "处理决定（已答复投诉人）", "经核实，年费按领用合约收取", "《信用卡领用合约》第五条",
                 "可向上级机构申请核查", "打印处理决定书", _local(clock.now), "投诉是否成立", "部分成立",
                 "退还费用 200.00 元", "答复是否及时", "及时", "待回访")
    assert "告知方式：电话" in text

    for role in viewers:
        r = people[role].get(f"/cases/{case_no}/letter")
        assert r.status_code == 200, (role, r.text[:2000])
        letter = re.sub(r"\s", "", _text(r.text))  # the letter's words, spacing dropped
        for e in ("某银行大连分行", "消费投诉处理决定书", case_no, "2026年11月26日", "经核实，年费按领用合约收取",
                  "《信用卡领用合约》第五条", "某银行辽宁省分行消费者权益保护部", "30日内", "调解", "仲裁", "诉讼",
                  "以电话方式告知投诉人", clock.now.strftime("%Y年%m月%d日"), "您的投诉部分成立",
                  "退还费用人民币200.00元"):
            assert e in letter, (role, e, letter)
        assert '<link rel="stylesheet" href="/static/app.css">' in r.text and 'id="print"' in r.text
        # the letter goes to the customer: the full name for roles that may unmask, masked for the auditor
        assert ("张三" in letter) is (role != "auditor"), (role, letter)
        assert "张*" in letter or role != "auditor"
    with session_scope(db_engine) as s:
        views = s.execute(select(AUDIT.c.actor, AUDIT.c.detail).where(AUDIT.c.case_no == case_no,
                                                                      AUDIT.c.action == "viewed_personal_data")).all()
    assert {a for a, _ in views} == {"u-handler", "u-supervisor", "u-cpo"}
    assert all("letter" in d for _, d in views)
    check("查看完整个人信息（打印处理决定书，已记入审计）")

    clock.advance(days=2)
    handler.act(case_no, "review", requested_at=clock.now.strftime("%Y-%m-%dT%H:%M"))
    check("核查中", "核查期限", "刘洋", "某银行辽宁省分行消费者权益保护部", _local(clock.now + timedelta(days=30))[:10],
          "投诉人申请核查")

    handler.act(case_no, "close", root_cause="R02")
    check("已办结", "办结", "投诉根因（溯源）", "收费定价（R02，JR/T 0169：定价收费）")

    handler.act(case_no, "reopen", reason="投诉人补充了新的扣费凭证")
    check("已重开", "重新处理", "投诉人补充了新的扣费凭证")

    handler.act(case_no, "withdraw")
    check("已撤诉", "投诉人撤回投诉，当日终止处理")


def test_refused_actions_and_letters_are_chinese(people: dict[str, Any], clock: Clock) -> None:
    """A wrong approver, a bad time, a lifecycle refusal and a letter before the response: Chinese, field named."""
    case_no = people["case"]["case_no"]
    sup = people["supervisor"]
    r = sup.post(f"/cases/{case_no}/act/extend", {"to": "complex", "approver": "wang.jun", "reason": "复杂",
                                                   "customer_told_via": "phone",
                                                   "customer_told_at": "2026-11-26T10:00"})
    assert r.status_code == 422
    assert "approver（批准人）：30 日延期须由本行投诉处理工作负责人 李明（li.ming）批准，不是 'wang.jun'" in unescape(_text(r.text))
    r = sup.post(f"/cases/{case_no}/act/pause", {"reason": "鉴定", "evidence": "", "at": "not a time"})
    assert r.status_code == 422 and "输入有误" in _text(r.text)
    r = sup.post(f"/cases/{case_no}/act/close")
    assert r.status_code == 409
    assert "status（状态）：“已分派”的案件不能转为“已办结”（已分派 → 已办结）" in _text(r.text)
    r = sup.get(f"/cases/{case_no}/letter")
    assert r.status_code == 409
    text = _text(r.text)
    assert "尚未答复" in text and "当前状态不允许此操作（409）" in text
    for english in ENGLISH:
        assert english not in text


def test_error_pages_are_chinese_for_every_status(app: FastAPI, people: dict[str, Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """401 (an API token gone), 403, 404, 405, 409, 422, 500: each a Chinese page for a browser."""
    case_no = people["case"]["case_no"]
    auditor, sup = people["auditor"], people["supervisor"]
    seen: dict[int, str] = {}
    r = auditor.get("/desk/new")
    seen[403] = r.text
    r = auditor.post(f"/cases/{case_no}/act/acknowledge")
    assert r.status_code == 403
    r = sup.get("/cases/DL-2099-999999")
    seen[404] = r.text
    r = sup.get("/no/such/page")
    assert r.status_code == 404 and "未找到" in r.text
    r = sup.client.put(f"/cases/{case_no}")
    seen[405] = r.text
    assert r.status_code == 405
    r = sup.get(f"/cases/{case_no}/letter")
    seen[409] = r.text
    r = sup.get(f"/cases/{case_no}?unmask=maybe")
    seen[422] = r.text
    assert r.status_code == 422
    r = sup.client.post(f"/cases/{case_no}/act/acknowledge", data={"csrf": "wrong"}, follow_redirects=False)
    assert r.status_code == 403 and "页面已过期，请刷新后重试" in _text(r.text)

    def boom(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr(page_data, "case_extras", boom)
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as c:
        c.cookies.update(sup.client.cookies)
        r = c.get(f"/cases/{case_no}")
    assert r.status_code == 500
    seen[500] = r.text
    titles = {403: "无权访问", 404: "未找到", 405: "不支持的请求方式", 409: "当前状态不允许此操作", 422: "输入有误",
              500: "系统出错"}
    for status, html in seen.items():
        text = _text(html)
        assert f"{titles[status]}（{status}）" in text, (status, text)
        for english in ENGLISH + ("database went away", "Method Not Allowed", "Not Found", "Input should"):
            assert english not in text, (status, english, text)
    assert "显示完整个人信息：须为 true 或 false" in _text(seen[422])
    assert "审计" in _text(seen[403])  # the role named in Chinese


def test_desk_form_keeps_every_field_and_tag_on_error(app: FastAPI, db_engine: Engine, config: Config,
                                                      clock: Clock) -> None:
    """A refused form comes back with every ticked tag and typed value, and the validator's messages above it."""
    _user(db_engine, config, "u-desk", "desk")
    desk = Browser(app, "u-desk")
    form_page = desk.get("/desk/new")
    key = re.search(r'name="form_key" value="([^"]+)"', form_page.text)
    assert key
    data: Any = {"form_key": key.group(1), "complainant_type": "company", "complainant_name": "大连某某贸易有限公司",
                 "complainant_phone": "", "request": "退还手续费", "facts": "对公账户被多扣手续费",
                 "tags": ["public_opinion", "regulatory"], "vulnerable": "on", "vulnerable_note": "法定代表人年迈",
                 "outlet": "中山支行营业部", "respondent": "柜员甲", "category": "B01", "group_size": "3"}
    r = desk.client.post("/desk/new", data={"csrf": desk.csrf, **data}, follow_redirects=False)
    assert r.status_code == 422, r.text[:2000]
    html = r.text
    assert 'id="form-errors"' in html
    errors = re.findall(r"<li>(.*?)</li>", html.split('id="form-errors"')[1].split("</ul>")[0])
    assert errors and all(e.strip() for e in errors)
    for tag in ("public_opinion", "regulatory"):
        assert re.search(rf'value="{tag}" checked', html), tag
    assert not re.search(r'value="judicial" checked', html)
    assert re.search(r'name="vulnerable" checked', html)
    assert 'value="company" selected' in html
    for value in ("大连某某贸易有限公司", "对公账户被多扣手续费", "法定代表人年迈", "中山支行营业部", "柜员甲", "退还手续费"):
        assert value in html, value
    assert 'value="B01" selected' in html and 'value="3"' in html
    desk.client.close()


def test_desk_form_takes_the_id_type_and_checks_a_resident_id(app: FastAPI, db_engine: Engine, config: Config,
                                                              clock: Clock) -> None:
    """证件类型 on the form: a passport number is stored with its type; a resident ID with a wrong check digit
    comes back as a Chinese error naming 证件号码, with the chosen type still selected."""
    _user(db_engine, config, "u-desk", "desk")
    desk = Browser(app, "u-desk")

    def post(id_type: str, id_number: str) -> Any:
        form = desk.get("/desk/new").text
        assert 'name="complainant_id_type"' in form and "护照" in form
        key = re.search(r'name="form_key" value="([^"]+)"', form)
        assert key
        data = {"form_key": key.group(1), "complainant_type": "individual", "complainant_name": "John Smith",
                "complainant_phone": "13812345678", "complainant_id_type": id_type, "complainant_id_number": id_number,
                "request": "退还年费", "facts": "账单扣收年费 200 元。", "category": "B03"}
        return desk.client.post("/desk/new", data={"csrf": desk.csrf, **data}, follow_redirects=False)

    bad = post("resident_id", "210202198001011239")
    assert bad.status_code == 422
    assert "证件号码" in _text(bad.text) and "校验" in _text(bad.text)
    assert 'value="resident_id" selected' in bad.text
    ok = post("passport", "E12345678")
    assert ok.status_code == 303, ok.text[:2000]
    case_no = ok.headers["location"].rsplit("/", 1)[1]
    with session_scope(db_engine) as s:
        row = s.execute(select(table_of(Complaint)).where(table_of(Complaint).c.case_no == case_no)).one()
    assert row.complainant_id_type == "passport" and row.complainant_id_number == "E12345678"
    with session_scope(db_engine) as s:
        shown = case_detail(s, case_no)
    assert shown is not None and shown["complainant"]["id_type"] == "passport"  # show / API / case page
    desk.client.close()


def test_cpo_page_lists_dead_letters_from_a_real_dispatch(
        app: FastAPI, people: dict[str, Any], db_engine: Engine, config: Config,
        channels_for_failure: Callable[[], Any]) -> None:
    """Routed messages that every channel refuses end dead after dispatch; the 消保办 page shows how many and
    which (kind in Chinese, case link, recipient, channel, error, attempts); the handler's page does not."""
    with channels_for_failure() as channels:
        for _ in range(3):
            dispatch_once(db_engine, channels=channels, now=T0 + timedelta(days=1), batch_size=500, owner="t")
    with session_scope(db_engine) as s:
        from notifications.outbox import dead_letters

        dead = dead_letters(s)
    assert dead
    r = people["cpo"].get("/queue")
    assert r.status_code == 200
    text = _text(r.text)
    assert f"通知发送失败（死信） {len(dead)}" in text
    assert "分派通知" in text and f'href="/cases/{people["case"]["case_no"]}"' in r.text
    assert dead[0]["last_error"] in r.text or dead[0]["last_error"][:40] in r.text
    assert "电子邮件" in text or "企业微信" in text or "飞书" in text
    assert str(dead[0]["attempts"]) in text
    for role in ("handler", "supervisor", "auditor"):
        assert 'id="dead-letters"' not in people[role].get("/queue").text


@pytest.fixture
def channels_for_failure(monkeypatch: pytest.MonkeyPatch) -> Callable[[], Any]:
    """The configured channels pointed at a loopback port nothing listens on, one attempt each."""
    import socket
    from contextlib import contextmanager

    from notifications.settings import build_channels, load_channels

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    base = f"http://127.0.0.1:{port}"
    for name in ("WECOM", "DINGTALK", "FEISHU"):
        monkeypatch.setenv(f"COMPLAINTS_{name}_BASE_URL", base)
    monkeypatch.setenv("COMPLAINTS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("COMPLAINTS_SMTP_PORT", str(port))

    @contextmanager
    def make() -> Iterator[Any]:
        settings = load_channels()
        settings = settings.model_copy(update={"retry": settings.retry.model_copy(update={"max_attempts": 1})})
        with build_channels(settings) as cs:
            yield cs

    return make
