"""Build the channels from config/channels.yaml's settings (settings/channels.py loads and validates the file)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import httpx

from domain.delivery import RateLimit, RetryPolicy
from notifications.channels.base import Channel
from notifications.channels.email import SmtpChannel, SmtpSettings
from notifications.channels.robots import DingTalkRobot, FeishuRobot, SecretFor, WeComRobot
from notifications.channels.webhook import Webhook
from notifications.render import Renderer
from settings.channels import (
    ChannelsFile,
    ChannelsSpec,
    EmailSpec,
    RetrySpec,
    RobotSpec,
    WebhookSpec,
    _ChannelSpec,
    channels_path,
    load_channels,
)
from settings.secrets import SecretRef


@dataclass
class ChannelSet:
    """The channels a dispatcher sends through, with their delivery options and rate state."""

    channels: dict[str, Channel]
    retry: RetryPolicy = RetryPolicy()
    rate_limits: dict[str, RateLimit] = field(default_factory=dict)
    digest: dict[str, bool] = field(default_factory=dict)
    digest_max_items: int = 10
    lease: timedelta = timedelta(minutes=5)
    renderer: Renderer = field(default_factory=Renderer)
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in self.closers:
            close()
        self.closers.clear()

    def __enter__(self) -> ChannelSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _secret_for(spec: RobotSpec) -> SecretFor:
    default = SecretRef(spec.secret) if spec.secret else None
    per_robot = {address: SecretRef(ref) for address, ref in spec.secrets.items()}

    def lookup(address: str) -> SecretRef | None:
        return per_robot.get(address, default)

    return lookup


def build_channels(settings: ChannelsFile, *, client: httpx.Client | None = None) -> ChannelSet:
    """Every channel over one keep-alive httpx.Client (made here unless given) and one SMTP link."""
    own_client = client is None
    http = client or httpx.Client(
        timeout=httpx.Timeout(settings.http_timeout_seconds),
        limits=httpx.Limits(max_keepalive_connections=20, keepalive_expiry=30),
        follow_redirects=False,
    )
    c = settings.channels
    email = SmtpChannel(SmtpSettings(
        host=c.email.host, port=c.email.port, security=c.email.security, username=c.email.username,
        password=SecretRef(c.email.password) if c.email.password else None, sender=c.email.sender,
        timeout=c.email.timeout_seconds or settings.http_timeout_seconds,
        message_id_domain=c.email.message_id_domain,
    ))
    channels: dict[str, Channel] = {
        "email": email,
        "wecom": WeComRobot(http, base_url=c.wecom.base_url),
        "dingtalk": DingTalkRobot(http, base_url=c.dingtalk.base_url, secret_for=_secret_for(c.dingtalk)),
        "feishu": FeishuRobot(http, base_url=c.feishu.base_url, secret_for=_secret_for(c.feishu)),
        "webhook": Webhook(http, signing_key=SecretRef(c.webhook.signing_key) if c.webhook.signing_key else None),
    }
    specs: dict[str, _ChannelSpec] = {"email": c.email, "wecom": c.wecom, "dingtalk": c.dingtalk,
                                      "feishu": c.feishu, "webhook": c.webhook}
    closers: list[Callable[[], None]] = [email.close]
    if own_client:
        closers.append(http.close)
    r = settings.retry
    return ChannelSet(
        channels=channels,
        retry=RetryPolicy(max_attempts=r.max_attempts, base_delay=timedelta(seconds=r.base_delay_seconds),
                          max_delay=timedelta(seconds=r.max_delay_seconds), jitter=r.jitter),
        rate_limits={name: RateLimit(s.rate_per_minute) for name, s in specs.items() if s.rate_per_minute},
        digest={name: s.digest for name, s in specs.items()},
        digest_max_items=settings.digest_max_items,
        lease=timedelta(seconds=settings.lease_seconds),
        closers=closers,
    )


__all__ = ["ChannelSet", "ChannelsFile", "ChannelsSpec", "EmailSpec", "RetrySpec", "RobotSpec", "WebhookSpec",
           "build_channels", "channels_path", "load_channels"]
