"""Helpers for the notification tests: a small org whose people receive on the fake services,
typed (masked) contracts for every kind, and channel settings pointing at loopback."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select

from domain.masking import mask_name, mask_text
from domain.org import Contact, OrgChart, Person
from models.db import session_scope
from models.outbox import OutboxMessage
from notifications.contracts import (
    KINDS,
    ChainEntry,
    Contract,
    DigestCase,
    EarlyWarning,
    Escalated,
    EscalationDigest,
    ExtensionApproved,
    ExtensionRequested,
    RemediationOverdue,
    ReportReady,
    ReviewOpened,
    Routed,
    to_plain,
)
from notifications.outbox import OutboxItem, enqueue
from notifications.settings import ChannelSet, ChannelsFile, build_channels
from tests.support.fake_services import FakeServices
from tests.support.smtp_server import SmtpInbox, start_smtp

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
DINGTALK_SECRET = "SECtest-dingtalk-secret"
FEISHU_SECRET = "test-feishu-secret"
WEBHOOK_KEY = "test-webhook-key"

# real-looking personal data that must never reach a receiver unmasked
RAW_NAME = "张三丰"
RAW_PHONE = "13812345678"
RAW_ID = "210202198805125917"
RAW_CARD = "6222020200112233445"
RAW_EMAIL = "zhangsanfeng@example.com"


def routed_contract(case_no: str, *, raw_leak: bool = False) -> Routed:
    """A `routed` contract as intake builds it; `raw_leak` puts unmasked data in free text (to test
    the renderer's second line of masking). Rendering from real producers: test_notify_contracts."""
    request = f"请退还年费。联系电话 {RAW_PHONE}，身份证 {RAW_ID}，卡号 {RAW_CARD}。"
    return Routed(
        case_no=case_no, role="handler", category="银行卡", severity="一般", tags=("媒体关注",),
        triage=False, reasons=(), department="信用卡部", handler="陈静",
        complainant=RAW_NAME if raw_leak else mask_name(RAW_NAME),
        request=request if raw_leak else mask_text(request),
        received_at="2026-11-27 09:00", due_at="2026-12-12 23:59", ack_due_at="2026-11-28 23:59",
        link=f"http://127.0.0.1:8000/cases/{case_no}",
    )


def routed_context(case_no: str, *, raw_leak: bool = False) -> dict[str, Any]:
    """The plain dict the outbox stores for `routed_contract` (for tests that write rows directly)."""
    return to_plain(routed_contract(case_no, raw_leak=raw_leak))


def contracts_for_every_kind(case_no: str, *, raw_leak: bool = False) -> dict[str, Contract]:
    """One contract object per kind, for channel and dispatch tests that need many small messages.

    Typed: a field the contract lacks cannot be written here. What the real producers build is
    rendered in tests/integration/test_notify_contracts.py.
    """
    routed = routed_contract(case_no, raw_leak=raw_leak)
    free, name, link = routed.request, routed.complainant, routed.link
    chain = (ChainEntry("承办部门负责人", "冯宇"), ChainEntry("消保办主任", "赵丽"),
             ChainEntry("分管消保副行长", "李明", True))
    out: dict[str, Contract] = {
        "routed": routed,
        "escalated": Escalated(
            case_no=case_no, level=2, level_title="消保办、分管行长督办", late_by="已逾期 2 天",
            reason=f"客户再次来电 {RAW_PHONE if raw_leak else mask_text(RAW_PHONE)}", category="银行卡",
            severity="重大", department="信用卡部", handler="陈静", complainant=name, outlet="中山支行",
            vulnerable="特殊群体（老年人）", due_at="2026-12-12 23:59", chain=chain, link=link),
        "escalation_digest": EscalationDigest(
            date="2026-12-14", count=1, link="http://127.0.0.1:8000/overdue",
            cases=(DigestCase(case_no, 2, "消保办、分管行长督办", "已逾期 2 天", "2026-12-12 23:59",
                              "2026-12-13 00:00", link),)),
        "extension_requested": ExtensionRequested(
            case_no=case_no, requested_by="陈静", days=15, limit="30 日（复杂投诉）", reason=free,
            current_due_at="2026-12-12 23:59", proposed_due_at="2026-12-27 23:59", link=link),
        "extension_approved": ExtensionApproved(
            case_no=case_no, approved_by="赵丽", approver_org="", limit="30 日（复杂投诉）",
            previous_due_at="2026-12-12 23:59", new_due_at="2026-12-27 23:59", note=free, link=link),
        "review_opened": ReviewOpened(case_no=case_no, requested_at="2026-12-20 10:00", due_at="2027-01-19 23:59",
                                      owner="某银行辽宁省分行消费者权益保护部 刘洋", link=link),
        "report_ready": ReportReady(week="2026-W48", period="2026-11-23 至 2026-11-29", version=1, received=42,
                                    closed=37, overdue=1, link="http://127.0.0.1:8000/reports/2026-W48"),
        "remediation_overdue": RemediationOverdue(
            ref="ZG-2026-00001", level=3, level_title="行长（一把手）督办",
            title=f"信用卡年费扣收前短信提醒（客户 {RAW_PHONE if raw_leak else mask_text(RAW_PHONE)} 反映）",
            late_by="已逾期 10 天", due_at="2026-12-10 23:59", owner="大连分行 信用卡部",
            pattern="收费定价 × 银行卡 × 大连分行", case_no=case_no, chain=chain,
            link="http://127.0.0.1:8000/remediation/ZG-2026-00001"),
        "early_warning": EarlyWarning(
            institution="中山支行", category="银行卡", day="2026-12-14", window="近 2 日", observed=18,
            expected="2.3", jump="约为基线的 7.8 倍（+10.3σ）",
            terms=("信用卡年费（18）", f"联系 {RAW_PHONE if raw_leak else mask_text(RAW_PHONE)}（2）"),
            cases=(case_no,), link="http://127.0.0.1:8000/dashboard?institution=dl-zs"),
    }
    assert set(out) == set(KINDS)
    return out


def org_for(services: FakeServices, people: Sequence[tuple[str, Sequence[str]]]) -> OrgChart:
    """People ("id", channels): e-mail to id@bank.example, robots keyed by channel, webhook by id."""
    addresses = {"email": "{id}@bank.example", "wecom": "wecom-key", "dingtalk": "dingtalk-token",
                 "feishu": "feishu-token", "webhook": services.webhook_url("{id}")}
    return OrgChart(branches={}, people={
        pid: Person(pid, pid, tuple(Contact(ch, addresses[ch].replace("{id}", pid)) for ch in channels))
        for pid, channels in people
    })


def queue(engine: Engine, org: OrgChart, items: Sequence[OutboxItem], now: datetime = T0) -> int:
    with session_scope(engine) as session:
        return enqueue(session, items, org=org, now=now)


def rows(engine: Engine) -> list[OutboxMessage]:
    with session_scope(engine) as session:
        return list(session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())  # type: ignore[arg-type]


def settings_for(services: FakeServices, smtp_port: int, **top: Any) -> ChannelsFile:
    data: dict[str, Any] = {
        "retry": {"max_attempts": 3, "base_delay_seconds": 10, "max_delay_seconds": 600, "jitter": 0.2},
        "http_timeout_seconds": 0.5,
        "channels": {
            # the robots' 0.5 s is for their timeout tests (a 0.8 s slow reply); the in-process
            # aiosmtpd can take longer than that to answer DATA on a loaded machine, and a reply
            # lost after DATA is an honest second copy (test_notify_channels), not what these test
            "email": {"host": "127.0.0.1", "port": smtp_port, "sender": "消保办 <complaints@bank.example>",
                      "message_id_domain": "complaints.test", "timeout_seconds": 10},
            "wecom": {"base_url": services.url, "rate_per_minute": 20},
            "dingtalk": {"base_url": services.url, "rate_per_minute": 20, "secret": "env:TEST_DINGTALK_SECRET"},
            "feishu": {"base_url": services.url, "secret": "env:TEST_FEISHU_SECRET"},
            "webhook": {"signing_key": "env:TEST_WEBHOOK_KEY"},
        },
    }
    data.update(top)
    return ChannelsFile.model_validate(data)


@pytest.fixture(name="services")
def services_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServices]:
    """The fake robot APIs and webhook receiver on loopback, with the secrets in the environment."""
    monkeypatch.setenv("TEST_DINGTALK_SECRET", DINGTALK_SECRET)
    monkeypatch.setenv("TEST_FEISHU_SECRET", FEISHU_SECRET)
    monkeypatch.setenv("TEST_WEBHOOK_KEY", WEBHOOK_KEY)
    fake = FakeServices(wecom_keys={"wecom-key"}, dingtalk_secrets={"dingtalk-token": DINGTALK_SECRET},
                        feishu_secrets={"feishu-token": FEISHU_SECRET}, webhook_key=WEBHOOK_KEY.encode(),
                        slow_seconds=0.8).start()
    yield fake
    fake.stop()


@pytest.fixture(name="inbox")
def inbox_fixture() -> Iterator[SmtpInbox]:
    """A plain aiosmtpd server on loopback that keeps every message."""
    box = SmtpInbox()
    controller = start_smtp(box)
    yield box
    controller.stop()


@pytest.fixture(name="channels")
def channels_fixture(services: FakeServices, inbox: SmtpInbox) -> Iterator[ChannelSet]:
    """Every channel pointed at the loopback servers (3 attempts, 10 s base delay, 0.5 s timeout)."""
    with build_channels(settings_for(services, inbox.port)) as cs:
        yield cs
