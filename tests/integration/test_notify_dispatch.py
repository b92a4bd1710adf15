"""Outbox delivery end to end against real loopback servers, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from models.outbox import OutboxStatus
from notifications.channels.base import Channel, Message
from notifications.dispatch import dispatch_all, dispatch_once
from notifications.outbox import OutboxItem
from notifications.settings import ChannelSet, build_channels
from tests.support.fake_services import FakeServices
from tests.support.notify import (  # noqa: F401 - fixtures
    RAW_CARD,
    RAW_ID,
    RAW_PHONE,
    T0,
    channels_fixture,
    contracts_for_every_kind,
    inbox_fixture,
    org_for,
    queue,
    routed_contract,
    rows,
    services_fixture,
    settings_for,
)
from tests.support.smtp_server import SmtpInbox

ALL = ("email", "wecom", "dingtalk", "feishu", "webhook")


def _routed(case_no: str, person: str, *, raw_leak: bool = False) -> OutboxItem:
    return OutboxItem("routed", person, f"{case_no}:routed", routed_contract(case_no, raw_leak=raw_leak),
                      None, case_no)


def test_every_channel_receives_masked_message_with_its_id(
    db_engine: Engine, services: FakeServices, inbox: SmtpInbox, channels: ChannelSet
) -> None:
    """One routed row per channel is delivered once to each, masked, carrying the row's message id."""
    org = org_for(services, [("chen.jing", ALL)])
    queue(db_engine, org, [_routed("DL-2026-000001", "chen.jing", raw_leak=True)])
    assert len(rows(db_engine)) == 5
    result = dispatch_once(db_engine, channels=channels, now=T0, batch_size=50, owner="t")
    assert (result.claimed, result.sent, result.retried, result.dead) == (5, 5, 0, 0)
    by_channel = {r.channel: r for r in rows(db_engine)}
    assert all(r.status == OutboxStatus.SENT and r.attempts == 1 and r.lease_owner is None
               for r in by_channel.values())
    for service in ("wecom", "dingtalk", "feishu", "webhook"):
        assert services.ids(service) == {by_channel[service].message_id: 1}
    assert inbox.message_ids() == [by_channel["email"].message_id]
    mail = inbox.messages[0]
    assert mail["To"] == "chen.jing@bank.example"
    assert "DL-2026-000001" in str(mail["Subject"])
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    received = [r.text for r in services.received] + [text, html]
    for body in received:
        assert "张*" in body and "138****5678" in body
        for raw in (RAW_PHONE, RAW_ID, RAW_CARD, "张三丰"):
            assert raw not in body
    webhook = next(r for r in services.received if r.service == "webhook")
    assert webhook.headers["X-Complaints-Message-Id"] == by_channel["webhook"].message_id


@pytest.mark.parametrize(
    ("channel", "fault", "error"),
    [
        ("webhook", "500", "HTTP 500"),
        ("webhook", "timeout", "timeout"),
        ("wecom", "errcode", "errcode=45009"),
        ("feishu", "errcode", "code=9499"),
        ("dingtalk", "429", "HTTP 429"),
        ("email", "451 4.3.0 mailbox busy", "SMTP 451"),
        ("webhook", "refused", "connection failed"),
    ],
)
def test_failure_is_retried_with_backoff_then_dead_lettered(
    db_engine: Engine, services: FakeServices, inbox: SmtpInbox, channels: ChannelSet,
    channel: str, fault: str, error: str,
) -> None:
    """A failing send is retried after growing, jittered delays, and dead after max_attempts with the last error."""
    org = org_for(services, [("p1", [channel])])
    if fault == "refused":
        services.stop()  # nothing listens on that port any more
    elif channel == "email":
        inbox.outage = fault
    else:
        services.outage[channel] = fault
    queue(db_engine, org, [_routed("DL-2026-000002", "p1")])
    now, delays = T0, []
    for attempt in (1, 2, 3):
        result = dispatch_once(db_engine, channels=channels, now=now, batch_size=10, owner="t", rand=lambda: 0.5)
        assert result.claimed == 1
        [row] = rows(db_engine)
        assert row.attempts == attempt and error in (row.last_error or "")
        if attempt < 3:
            assert row.status == OutboxStatus.PENDING
            delays.append(row.next_attempt_at - now)
            # not due before its time
            assert dispatch_once(db_engine, channels=channels, now=now + timedelta(seconds=1), batch_size=10,
                                 owner="t").claimed == 0
            now = row.next_attempt_at
    assert row.status == OutboxStatus.DEAD
    assert delays == [timedelta(seconds=10), timedelta(seconds=20)]
    assert services.received == [] and inbox.messages == []


@pytest.mark.parametrize("status", ["400", "404"])
def test_client_errors_other_than_429_are_not_retried(
    db_engine: Engine, services: FakeServices, channels: ChannelSet, status: str
) -> None:
    """An HTTP 4xx other than 429 dead-letters the row on the first attempt."""
    org = org_for(services, [("p1", ["webhook"])])
    services.outage["webhook"] = status
    queue(db_engine, org, [_routed("DL-2026-000003", "p1")])
    result = dispatch_once(db_engine, channels=channels, now=T0, batch_size=10, owner="t")
    [row] = rows(db_engine)
    assert (result.dead, row.status, row.attempts) == (1, OutboxStatus.DEAD, 1)
    assert f"HTTP {status}" in (row.last_error or "")


def test_outage_ends_and_everything_pending_is_delivered_once(
    db_engine: Engine, services: FakeServices, inbox: SmtpInbox, channels: ChannelSet
) -> None:
    """During an outage nothing is lost; when it ends every row is delivered exactly once."""
    people = [(f"p{i}", ALL) for i in range(6)]
    org = org_for(services, people)
    items = [_routed(f"DL-2026-{i:06d}", pid) for i, (pid, _) in enumerate(people)]
    queue(db_engine, org, items)
    for service in ("wecom", "dingtalk", "feishu", "webhook"):
        services.outage[service] = "503"
    inbox.outage = "421 4.3.2 service not available"
    first = dispatch_all(db_engine, channels=channels, batch_size=8, owner="t", clock=lambda: T0)
    assert first.sent == 0 and first.dead == 0
    services.outage.clear()
    inbox.outage = None
    later = T0 + timedelta(minutes=10)
    second = dispatch_all(db_engine, channels=channels, batch_size=8, owner="t", clock=lambda: later)
    assert second.dead == 0
    assert all(r.status == OutboxStatus.SENT for r in rows(db_engine))
    # robots carry one row per person each; the robots are shared, so several people's rows may
    # have been digested per robot only if they share a recipient (they do not here)
    expected = {r.message_id for r in rows(db_engine) if r.channel != "email"}
    assert set(services.ids()) == expected and services.duplicates() == {}
    assert sorted(inbox.message_ids()) == sorted(r.message_id for r in rows(db_engine) if r.channel == "email")


def test_two_dispatchers_at_once_never_send_the_same_row(
    db_engine: Engine, services: FakeServices, channels: ChannelSet
) -> None:
    """Two dispatchers claiming concurrently deliver every row exactly once between them."""
    people = [(f"p{i}", ["webhook"]) for i in range(120)]
    org = org_for(services, people)
    queue(db_engine, org, [_routed(f"DL-2026-{i:06d}", pid) for i, (pid, _) in enumerate(people)])
    totals: dict[str, int] = {}

    def run(owner: str) -> None:
        totals[owner] = dispatch_all(db_engine, channels=channels, batch_size=10, owner=owner,
                                     clock=lambda: T0).sent

    threads = [threading.Thread(target=run, args=(f"d{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(totals.values()) == 120
    assert len(services.ids("webhook")) == 120 and services.duplicates() == {}
    assert all(r.status == OutboxStatus.SENT for r in rows(db_engine))


class _CrashAfterSend:
    """Sends for real, then dies as a killed process would, before the outcome is recorded."""

    def __init__(self, real: Channel) -> None:
        self.real = real

    def send(self, message: Message) -> None:
        self.real.send(message)
        raise KeyboardInterrupt


def test_crash_between_send_and_record_gives_at_most_one_duplicate_with_same_id(
    db_engine: Engine, services: FakeServices, channels: ChannelSet
) -> None:
    """A dispatcher dying after a send leaves the row leased; after the lease it is sent once more, same id."""
    org = org_for(services, [("p1", ["webhook"])])
    queue(db_engine, org, [_routed("DL-2026-000009", "p1")])
    real = channels.channels["webhook"]
    channels.channels["webhook"] = _CrashAfterSend(real)
    with pytest.raises(KeyboardInterrupt):
        dispatch_once(db_engine, channels=channels, now=T0, batch_size=10, owner="crashed")
    channels.channels["webhook"] = real
    [row] = rows(db_engine)
    assert row.status == OutboxStatus.PENDING and row.lease_owner == "crashed"
    # another dispatcher while the lease holds: nothing to take
    assert dispatch_once(db_engine, channels=channels, now=T0 + timedelta(minutes=1), batch_size=10,
                         owner="other").claimed == 0
    after = T0 + channels.lease + timedelta(seconds=1)
    assert dispatch_once(db_engine, channels=channels, now=after, batch_size=10, owner="other").sent == 1
    assert services.ids("webhook") == {row.message_id: 2}  # one duplicate, droppable by its id
    assert dispatch_once(db_engine, channels=channels, now=after + timedelta(hours=1), batch_size=10,
                         owner="third").claimed == 0


def test_robot_rate_limit_defers_the_rest_without_using_attempts(
    db_engine: Engine, services: FakeServices, channels: ChannelSet
) -> None:
    """More than 20 messages a minute to one WeCom robot: 20 go now, the rest a minute later."""
    people = [(f"p{i}", ["wecom"]) for i in range(25)]  # 25 people, one group robot
    queue(db_engine, org_for(services, people),
          [_routed(f"DL-2026-{i:06d}", pid) for i, (pid, _) in enumerate(people)])
    first = dispatch_once(db_engine, channels=channels, now=T0, batch_size=100, owner="t")
    assert (first.sent, first.deferred) == (20, 5)
    waiting = [r for r in rows(db_engine) if r.status == OutboxStatus.PENDING]
    assert {r.attempts for r in waiting} == {0}
    assert {r.next_attempt_at for r in waiting} == {T0 + timedelta(minutes=1)}
    assert dispatch_once(db_engine, channels=channels, now=T0 + timedelta(seconds=30), batch_size=100,
                         owner="t").claimed == 0
    assert dispatch_once(db_engine, channels=channels, now=T0 + timedelta(minutes=1), batch_size=100,
                         owner="t").sent == 5
    assert len(services.ids("wecom")) == 25 and services.duplicates() == {}


def test_robot_rate_limit_is_one_quota_for_consecutive_runs(
    db_engine: Engine, services: FakeServices, inbox: SmtpInbox, channels: ChannelSet
) -> None:
    """Two dispatch runs within one minute (each its own ChannelSet, as each flow run builds one)
    share the robot's 20 a minute: the second sends nothing until the first's sends leave the
    window, instead of a second 20 that the robot would refuse (WeCom 45009)."""
    people = [(f"p{i}", ["wecom"]) for i in range(40)]
    org = org_for(services, people)
    queue(db_engine, org, [_routed(f"DL-2026-{i:06d}", pid) for i, (pid, _) in enumerate(people[:25])])
    first = dispatch_all(db_engine, channels=channels, batch_size=100, owner="run-1", clock=lambda: T0)
    assert (first.sent, first.deferred) == (20, 5)
    later = T0 + timedelta(seconds=30)
    queue(db_engine, org, [_routed(f"DL-2026-{i:06d}", pid) for i, (pid, _) in enumerate(people) if i >= 25],
          now=later)
    with build_channels(settings_for(services, inbox.port)) as second_run:
        second = dispatch_all(db_engine, channels=second_run, batch_size=100, owner="run-2", clock=lambda: later)
        assert (second.sent, second.deferred) == (0, 15)
        assert len(services.ids("wecom")) == 20
        waiting = [r for r in rows(db_engine) if r.status == OutboxStatus.PENDING]
        assert {r.attempts for r in waiting} == {0}
        assert min(r.next_attempt_at for r in waiting) == T0 + timedelta(minutes=1)
        freed = T0 + timedelta(minutes=1)
        third = dispatch_all(db_engine, channels=second_run, batch_size=100, owner="run-2", clock=lambda: freed)
    assert third.sent == 20
    assert len(services.ids("wecom")) == 40 and services.duplicates() == {}


def test_messages_due_together_for_one_recipient_become_one_digest(
    db_engine: Engine, services: FakeServices, inbox: SmtpInbox, channels: ChannelSet
) -> None:
    """Three rows due together for one person's e-mail and DingTalk go as one message each, listing all ids."""
    org = org_for(services, [("p1", ["email", "dingtalk"])])
    kinds = contracts_for_every_kind("DL-2026-000010")
    items = [OutboxItem(kind, "p1", f"DL-2026-000010:{kind}", kinds[kind], None, "DL-2026-000010")
             for kind in ("routed", "review_opened", "escalated")]
    queue(db_engine, org, items)
    result = dispatch_once(db_engine, channels=channels, now=T0, batch_size=10, owner="t")
    assert (result.sent, result.messages) == (6, 2)
    ids = {r.message_id for r in rows(db_engine) if r.channel == "dingtalk"}
    [robot] = services.received
    assert set(robot.message_ids) == ids
    [mail] = inbox.messages
    assert set(str(mail["X-Complaints-Message-Ids"]).split()) == {
        r.message_id for r in rows(db_engine) if r.channel == "email"}
    assert "3 条" in str(mail["Subject"])


def test_a_holding_run_sends_what_falls_due_until_its_deadline_and_once_after_it(
    db_engine: Engine, services: FakeServices, inbox: SmtpInbox, channels: ChannelSet
) -> None:
    """A run started by an event holds to `until` (prefect.yaml: 15 s after the event): a message
    queued 3 s in goes at the look right after, one queued as the deadline passes goes in the pass
    after it, one queued after the run ended waits for the next run. The clock is the test's."""
    from datetime import datetime

    from notifications.dispatch import hold_and_dispatch

    org = org_for(services, [("chen.jing", ("email",))])
    queue(db_engine, org, [_routed("DL-2026-000001", "chen.jing")])
    now = [T0]
    sent_at: dict[str, datetime] = {}

    def sleep(seconds: float) -> None:
        now[0] += timedelta(seconds=seconds)
        if now[0] == T0 + timedelta(seconds=3):
            queue(db_engine, org, [_routed("DL-2026-000002", "chen.jing")], now=now[0])
        if now[0] == T0 + timedelta(seconds=15):
            queue(db_engine, org, [_routed("DL-2026-000003", "chen.jing")], now=now[0])

    def on_batch(result: object) -> None:
        for r in rows(db_engine):
            if r.status == OutboxStatus.SENT:
                sent_at.setdefault(str(r.case_no), now[0])

    total = hold_and_dispatch(db_engine, until=T0 + timedelta(seconds=15), channels=channels, batch_size=10,
                              owner="t", clock=lambda: now[0], sleep=sleep, on_batch=on_batch)
    assert total.sent == 3 and now[0] == T0 + timedelta(seconds=15)
    assert sent_at == {"DL-2026-000001": T0, "DL-2026-000002": T0 + timedelta(seconds=3),
                       "DL-2026-000003": T0 + timedelta(seconds=15)}
    queue(db_engine, org, [_routed("DL-2026-000004", "chen.jing")], now=now[0])  # after the run
    assert [r.status for r in rows(db_engine)][-1] == OutboxStatus.PENDING
    assert len(inbox.message_ids()) == len(set(inbox.message_ids())) == 3
