"""Load config/channels.yaml (validated, errors name file, line and field) and build the channels."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from complaints.config import config_dir, read_yaml, validate_yaml
from domain.delivery import RateLimit, RetryPolicy
from notifications.channels.base import Channel
from notifications.channels.email import SmtpChannel, SmtpSettings
from notifications.channels.robots import DingTalkRobot, FeishuRobot, SecretFor, WeComRobot
from notifications.channels.webhook import Webhook
from notifications.render import Renderer
from notifications.secrets import SecretRef


def _check_ref(value: str | None) -> str | None:
    if value is not None:
        SecretRef(value)  # raises ValueError with a clear message
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrySpec(_Strict):
    max_attempts: int = Field(default=6, ge=1, le=50)
    base_delay_seconds: float = Field(default=30, gt=0)
    max_delay_seconds: float = Field(default=3600, gt=0)
    jitter: float = Field(default=0.2, ge=0, le=1)


class _ChannelSpec(_Strict):
    rate_per_minute: int | None = Field(default=None, ge=1)
    digest: bool = True


class EmailSpec(_ChannelSpec):
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=0, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    password: str | None = None
    sender: str = "complaints@localhost"
    message_id_domain: str = "complaints.local"

    _ref = field_validator("password")(_check_ref)


class RobotSpec(_ChannelSpec):
    base_url: str
    secret: str | None = None
    secrets: dict[str, str] = {}

    _ref = field_validator("secret")(_check_ref)

    @field_validator("secrets")
    @classmethod
    def _refs(cls, value: dict[str, str]) -> dict[str, str]:
        for ref in value.values():
            SecretRef(ref)
        return value


class WebhookSpec(_ChannelSpec):
    signing_key: str | None = None
    digest: bool = False

    _ref = field_validator("signing_key")(_check_ref)


class ChannelsSpec(_Strict):
    email: EmailSpec = EmailSpec()
    wecom: RobotSpec = RobotSpec(base_url="https://qyapi.weixin.qq.com", rate_per_minute=20)
    dingtalk: RobotSpec = RobotSpec(base_url="https://oapi.dingtalk.com", rate_per_minute=20)
    feishu: RobotSpec = RobotSpec(base_url="https://open.feishu.cn")
    webhook: WebhookSpec = WebhookSpec()


class ChannelsFile(_Strict):
    retry: RetrySpec = RetrySpec()
    batch_size: int = Field(default=200, ge=1, le=10_000)
    lease_seconds: float = Field(default=300, gt=0)
    http_timeout_seconds: float = Field(default=10, gt=0)
    digest_max_items: int = Field(default=10, ge=1)
    channels: ChannelsSpec = ChannelsSpec()


_ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "COMPLAINTS_SMTP_HOST": ("email", "host"),
    "COMPLAINTS_SMTP_PORT": ("email", "port"),
    "COMPLAINTS_SMTP_SECURITY": ("email", "security"),
    "COMPLAINTS_SMTP_USERNAME": ("email", "username"),
    "COMPLAINTS_SMTP_FROM": ("email", "sender"),
    "COMPLAINTS_WECOM_BASE_URL": ("wecom", "base_url"),
    "COMPLAINTS_DINGTALK_BASE_URL": ("dingtalk", "base_url"),
    "COMPLAINTS_FEISHU_BASE_URL": ("feishu", "base_url"),
}


def channels_path() -> Path:
    return Path(os.environ.get("COMPLAINTS_CHANNELS") or config_dir() / "channels.yaml")


def load_channels(path: Path | None = None, *, environ: dict[str, str] | None = None) -> ChannelsFile:
    """Read channels.yaml, apply the environment overrides, validate (ConfigError names the line)."""
    src = read_yaml(path or channels_path())
    env = os.environ if environ is None else environ
    data: dict[str, Any] = dict(src.data) if isinstance(src.data, dict) else {}
    channels = dict(data.get("channels") or {})
    for var, (channel, key) in _ENV_OVERRIDES.items():
        if env.get(var):
            channels[channel] = {**(channels.get(channel) or {}), key: env[var]}
    data["channels"] = channels
    src.data = data
    return validate_yaml(ChannelsFile, src)


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
    sent_log: dict[tuple[str, str], list[datetime]] = field(default_factory=dict)  # rate-limit memory
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
        timeout=settings.http_timeout_seconds, message_id_domain=c.email.message_id_domain,
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
