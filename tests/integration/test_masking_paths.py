"""Personal data written into free text never leaves unmasked, on SQLite and PostgreSQL.

One complaint whose facts, request and vulnerable note hold a corpus of formats (names after
kinship words, phones with dots, spaces, +86 and full-width digits, e-mail, a spaced card and ID
number, a street address) goes through the real producers: submit, intake, escalation sweeps,
dispatch to the loopback SMTP server and the fake robots, and a real weekly report. The masked
case view, every outbox context, every delivered e-mail and robot post, the report's content,
HTML and CSV files, and the Prefect event payloads are then searched for each raw value.
"""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

import flows.events
from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.org import Contact, OrgChart
from flows.escalation import run_escalation
from flows.intake import run_intake
from flows.weekly_report import build_weekly_report
from models.case_views import case_detail
from models.db import session_scope
from models.outbox import OutboxMessage
from models.sqlutil import table_of
from models.submission import submit
from notifications.dispatch import dispatch_once
from notifications.settings import build_channels
from tests.factories import complaint
from tests.support.fake_services import FakeServices
from tests.support.notify import services_fixture, settings_for  # noqa: F401 - the `services` fixture
from tests.support.smtp_server import SmtpInbox, start_smtp

CAL = WorkingCalendar()
OUT = table_of(OutboxMessage)
RECEIVED = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # in 2026-W47
REPORT_NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)

COMPLAINANT, AGENT = "刘桂兰", "王建国"
REQUEST = ("投诉人刘桂兰（代理人王建国）要求退还 200 元年费。儿子赵小明电话138.1234.5678、"
           "1 3 8 1 2 3 4 5 6 0 1、+86 139-8765-4321、１３７１１１１２２２２，邮箱 liu.guilan@example.com。")
FACTS = ("2026-11-20 10:30，桂兰持卡6222 0212 3456 7890 123办理业务，身份证110105 19491231 002X，"
         "住大连市中山区人民路45号3栋2单元1502室；女儿：孙丽在场。案件编号 DL-2026-000123 供参考。")
NOTE = "老人刘桂兰，联系电话 138 1234 5678"
# Each raw value, as it reads once separators are dropped and full-width characters folded.
RAW = ("刘桂兰", "桂兰", "王建国", "建国", "赵小明", "小明", "孙丽", "13812345678", "13812345601", "8613987654321",
       "13711112222", "liu.guilan", "6222021234567890123", "11010519491231002X", "人民路45号", "3栋2单元1502室")
_DROPPED = str.maketrans("", "", " \u3000\u00a0-.·()\t\n")


def folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_DROPPED)


def assert_masked(where: str, text: str) -> None:
    flat = folded(text)
    for raw in RAW:
        assert folded(raw) not in flat, f"{raw} unmasked in {where}"


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _reachable(config: Config, services: FakeServices) -> Config:
    """The shipped org chart with every person on e-mail and every robot at the loopback services."""
    people = {
        pid: dataclasses.replace(p, contacts=(
            Contact("email", f"{pid}@bank.example"), Contact("wecom", "wecom-key"),
            Contact("dingtalk", "dingtalk-token"), Contact("feishu", "feishu-token"),
            Contact("webhook", services.webhook_url(pid))))
        for pid, p in config.org.people.items()
    }
    return dataclasses.replace(config, org=OrgChart(branches=config.org.branches, people=people))


@pytest.fixture(name="inbox")
def inbox_fixture() -> Any:
    box = SmtpInbox()
    controller = start_smtp(box)
    yield box
    controller.stop()


def test_free_text_pii_is_masked_on_every_path(db_engine: Engine, config: Config, services: FakeServices,
                                               inbox: SmtpInbox, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Case view, outbox, e-mail, robots, report content/HTML/CSV and events carry no raw personal data."""
    emitted: list[dict[str, Any]] = []
    monkeypatch.setattr(flows.events, "api_configured", lambda: True)
    monkeypatch.setattr(flows.events, "emit_event", lambda **kw: emitted.append(kw))
    config = _reachable(config, services)

    item = complaint(
        received_at=RECEIVED.isoformat(), tags=["public_opinion"], vulnerable=True, vulnerable_note=NOTE,
        complainant={"name": COMPLAINANT, "phone": "13812345678", "email": "liu.guilan@example.com",
                     "address": "大连市中山区人民路45号3栋2单元1502室"},
        agent={"name": AGENT, "phone": "13987654321", "authorization": "委托书 2026-001"},
        request=REQUEST, facts=FACTS,
    )
    (result,) = submit(db_engine, [item], config=config, calendar=CAL, now=RECEIVED)
    case_no = result.case_no
    run_intake(db_engine, config, now=RECEIVED + timedelta(minutes=5))
    fired = sum(run_escalation(db_engine, config, now=RECEIVED + timedelta(days=d), calendar=CAL).fired
                for d in (2, 10, 14, 16, 20))
    assert fired >= 2
    report = build_weekly_report(db_engine, config, "2026-W47", REPORT_NOW, output_dir=tmp_path)
    flows.events.emit("complaint.responded", case_no=case_no, payload={"response": REQUEST, "n": 1})

    # the masked case view (what the auditor's "always masked" page and the API show)
    with session_scope(db_engine) as s:
        detail = case_detail(s, case_no, now=REPORT_NOW)
    assert detail is not None
    assert_masked("case_detail", _dump(detail))
    assert "刘**" in detail["request"] and "赵**" in detail["request"] and "138.****.5678" in detail["request"]
    assert "200 元" in detail["request"] and "2026-11-20 10:30" in detail["facts"]
    assert "DL-2026-000123" in detail["facts"] and "人民路**号" in detail["facts"]

    # every outbox context, as stored
    with db_engine.connect() as conn:
        contexts = [(k, c) for k, c in conn.execute(select(OUT.c.kind, OUT.c.context))]
    assert {"routed", "escalated", "report_ready"} <= {k for k, _ in contexts}
    for kind, context in contexts:
        assert_masked(f"outbox {kind}", _dump(context))
    routed = next(c for k, c in contexts if k == "routed")
    assert routed["complainant"] == "刘**" and "王**" in routed["request"] and routed["handler"]

    # delivered: e-mail (text and HTML) and robot posts
    with build_channels(settings_for(services, inbox.port)) as channels:
        at = RECEIVED + timedelta(days=21)  # after the last sweep queued its messages
        for _ in range(100):  # robots allow 20 a minute; digests wait for their window
            dispatch_once(db_engine, channels=channels, now=at, batch_size=200, owner="t")
            with db_engine.connect() as conn:
                statuses = {s for (s,) in conn.execute(select(OUT.c.status))}
            if statuses == {"sent"}:
                break
            at += timedelta(minutes=10)
    assert statuses == {"sent"}, statuses
    assert inbox.messages and services.received
    for mail in inbox.messages:
        for part in ("plain", "html"):
            body = mail.get_body((part,))
            assert body is not None
            assert_masked(f"e-mail {part}", str(mail["Subject"]) + body.get_content())
    for post in services.received:
        assert_masked(f"{post.service} post", post.text + _dump(post.body))
    assert any("刘**" in post.text for post in services.received)

    # the weekly report: content (snapshot), report.html, sensitive.csv and every other file
    assert_masked("report content", _dump(report.content.as_dict()))
    files = sorted(report.output_dir.iterdir())
    assert {"report.html", "sensitive.csv", "content.json"} <= {f.name for f in files}
    for f in files:
        assert_masked(f.name, f.read_text(encoding="utf-8-sig"))
    sensitive = (report.output_dir / "sensitive.csv").read_text(encoding="utf-8-sig")
    assert case_no in sensitive and "投诉人刘**" in sensitive

    # Prefect event payloads (the emitter is the real flows.events.emit; only the client is replaced)
    assert emitted
    for event in emitted:
        assert_masked(f"event {event['event']}", _dump(event["payload"]))
    assert any("刘**" in _dump(e["payload"]) for e in emitted)
