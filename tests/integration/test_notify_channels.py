"""Each channel against a real loopback server: SMTP security modes and login, signed robots and webhook."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from notifications.channels.base import DeliveryError, Message
from notifications.channels.email import SmtpChannel, SmtpSettings
from notifications.channels.robots import DingTalkRobot, FeishuRobot
from notifications.channels.webhook import Webhook
from notifications.secrets import SecretRef
from notifications.settings import load_channels
from tests.support.fake_services import FakeServices
from tests.support.notify import DINGTALK_SECRET, FEISHU_SECRET, services_fixture  # noqa: F401 - fixture
from tests.support.smtp_server import SmtpInbox, start_smtp
from tests.support.tls import client_context, make_certificate, server_context


def _message(channel: str, address: str, html: str | None = None) -> Message:
    return Message(channel=channel, address=address, recipient="p1", subject="【投诉分派】DL-2026-000001",
                   text="您有一件新投诉。\n消息编号：m1", message_id="m1", message_ids=("m1",), html=html,
                   kind="routed", case_nos=("DL-2026-000001",), links=("http://x/cases/DL-2026-000001",))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A short-timeout keep-alive client."""
    with httpx.Client(timeout=2) as c:
        yield c


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS: it is TLS
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_smtp_over_tls_with_login_delivers_text_and_html(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, security: str
) -> None:
    """STARTTLS and implicit TLS with a login deliver a multipart e-mail with our Message-ID."""
    cert, key = certificate
    inbox = SmtpInbox()
    tls = server_context(cert, key)
    controller = (start_smtp(inbox, tls_context=tls, users={"bot": "s3cret"}) if security == "starttls"
                  else start_smtp(inbox, ssl_context=tls, users={"bot": "s3cret"}))
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret")
    channel = SmtpChannel(SmtpSettings(host="127.0.0.1", port=inbox.port, security=security, username="bot",
                                       password=SecretRef("env:TEST_SMTP_PASSWORD"), sender="消保办 <c@bank.example>",
                                       message_id_domain="complaints.test", ssl_context=client_context(cert)))
    try:
        channel.send(_message("email", "chen.jing@bank.example", html="<p>您有一件新投诉。</p>"))
        channel.send(_message("email", "feng.yu@bank.example"))  # reuses the connection
    finally:
        channel.close()
        controller.stop()
    first = inbox.messages[0]
    assert first["Message-ID"] == "<m1@complaints.test>" and first["To"] == "chen.jing@bank.example"
    assert first.get_body(("html",)) is not None and first.get_body(("plain",)) is not None
    assert len(inbox.messages) == 2


def test_smtp_wrong_password_is_a_permanent_failure_without_the_password(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused login (535) is not retried, and the error does not contain the password."""
    cert, key = certificate
    inbox = SmtpInbox()
    controller = start_smtp(inbox, tls_context=server_context(cert, key), users={"bot": "right"})
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong-pass-xyz")
    channel = SmtpChannel(SmtpSettings(host="127.0.0.1", port=inbox.port, security="starttls", username="bot",
                                       password=SecretRef("env:TEST_SMTP_PASSWORD"),
                                       ssl_context=client_context(cert)))
    try:
        with pytest.raises(DeliveryError) as caught:
            channel.send(_message("email", "a@bank.example"))
    finally:
        channel.close()
        controller.stop()
    assert caught.value.retryable is False and "535" in caught.value.detail
    assert "wrong-pass-xyz" not in caught.value.detail


def test_smtp_reply_lost_after_data_is_retryable_and_not_sent_again_at_once() -> None:
    """The relay keeps the message but its 250 comes after the client's timeout: the send fails
    retryably (the later attempt carries the same Message-ID) and is not resent on a new
    connection there and then, which gave the recipient two copies."""
    inbox = SmtpInbox(reply_delay=1.5)
    controller = start_smtp(inbox)
    channel = SmtpChannel(SmtpSettings(host="127.0.0.1", port=inbox.port, timeout=0.5,
                                       message_id_domain="complaints.test"))
    try:
        with pytest.raises(DeliveryError) as caught:
            channel.send(_message("email", "a@bank.example"))
        time.sleep(2.0)  # anything resent would have arrived by now
    finally:
        channel.close()
        controller.stop()
    assert caught.value.retryable is True
    assert [m["Message-ID"] for m in inbox.messages] == ["<m1@complaints.test>"]


def test_smtp_connection_the_server_closed_while_idle_is_replaced_before_sending() -> None:
    """A kept-alive connection the relay hung up on (its idle timeout) is found dead by NOOP and
    replaced: the next message goes out in the same call, once."""
    inbox = SmtpInbox()
    controller = start_smtp(inbox, idle_timeout=0.5)
    channel = SmtpChannel(SmtpSettings(host="127.0.0.1", port=inbox.port, message_id_domain="complaints.test"))
    try:
        channel.send(_message("email", "a@bank.example"))
        time.sleep(1.5)  # the server closes the idle connection
        second = _message("email", "b@bank.example")
        channel.send(second)
    finally:
        channel.close()
        controller.stop()
    assert [m["To"] for m in inbox.messages] == ["a@bank.example", "b@bank.example"]


def test_dingtalk_signed_url_is_accepted_and_a_wrong_secret_rejected(
    services: FakeServices, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DingTalk checks timestamp + HMAC-SHA256 sign in the URL; a wrong secret comes back as errcode 310000."""
    monkeypatch.setenv("GOOD", DINGTALK_SECRET)
    monkeypatch.setenv("BAD", "SECnot-the-secret")
    DingTalkRobot(client, base_url=services.url, secret_for=lambda _: SecretRef("env:GOOD")).send(
        _message("dingtalk", "dingtalk-token"))
    assert services.ids("dingtalk") == {"m1": 1}
    with pytest.raises(DeliveryError) as caught:
        DingTalkRobot(client, base_url=services.url, secret_for=lambda _: SecretRef("env:BAD")).send(
            _message("dingtalk", "dingtalk-token"))
    assert "errcode=310000" in caught.value.detail and "SECnot" not in caught.value.detail


def test_feishu_signed_body_is_accepted_and_a_wrong_secret_rejected(
    services: FakeServices, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Feishu checks base64(HMAC-SHA256(key="timestamp\\nsecret", b"")) in the body; a wrong one is code 19021."""
    monkeypatch.setenv("GOOD", FEISHU_SECRET)
    monkeypatch.setenv("BAD", "nope")
    FeishuRobot(client, base_url=services.url, secret_for=lambda _: SecretRef("env:GOOD")).send(
        _message("feishu", "feishu-token"))
    assert services.ids("feishu") == {"m1": 1}
    with pytest.raises(DeliveryError, match="code=19021"):
        FeishuRobot(client, base_url=services.url, secret_for=lambda _: SecretRef("env:BAD")).send(
            _message("feishu", "feishu-token"))


def test_webhook_signature_and_message_id_header(
    services: FakeServices, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook carries the id in header and body and an HMAC the receiver verifies; a wrong key gets 401, not retried."""
    monkeypatch.setenv("GOOD", "test-webhook-key")
    monkeypatch.setenv("BAD", "other-key")
    Webhook(client, signing_key=SecretRef("env:GOOD")).send(_message("webhook", services.webhook_url()))
    [got] = services.received
    assert got.headers["X-Complaints-Message-Id"] == "m1" == got.body["message_id"]
    with pytest.raises(DeliveryError) as caught:
        Webhook(client, signing_key=SecretRef("env:BAD")).send(_message("webhook", services.webhook_url()))
    assert caught.value.retryable is False and "HTTP 401" in caught.value.detail


def test_secrets_are_references_and_env_overrides_base_urls(tmp_path: Path) -> None:
    """A literal secret in channels.yaml is refused; env variables override robot base URLs and the SMTP host."""
    from complaints.config import ConfigError

    bad = tmp_path / "channels.yaml"
    bad.write_text("channels:\n  webhook:\n    signing_key: hunter2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"channels.yaml:3: channels.webhook.signing_key"):
        load_channels(bad, environ={})
    assert "hunter2" not in repr(SecretRef("env:X"))
    good = Path(__file__).resolve().parents[2] / "config" / "channels.yaml"
    settings = load_channels(good, environ={"COMPLAINTS_WECOM_BASE_URL": "http://127.0.0.1:9",
                                            "COMPLAINTS_SMTP_PORT": "2525"})
    assert settings.channels.wecom.base_url == "http://127.0.0.1:9"
    assert settings.channels.email.port == 2525
    assert settings.channels.dingtalk.base_url == "https://oapi.dingtalk.com"
