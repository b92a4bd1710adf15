"""config/channels.yaml: the delivery channels' settings (SMTP, robots, webhook, retry, batch sizes),
validated with errors naming file, line and field. Loaded at start-up by `load_config` (so a bad file
fails there, not at the first dispatch); notifications/settings.py builds the channels from it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from settings.secrets import SecretRef
from settings.source import config_dir, read_yaml, validate_yaml


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
    # a relay that scans what it takes may answer DATA slowly; unset: http_timeout_seconds
    timeout_seconds: float | None = Field(default=None, gt=0)

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


def channels_path(directory: Path | None = None) -> Path:
    """COMPLAINTS_CHANNELS, else channels.yaml in `directory` (default: the configuration directory)."""
    return Path(os.environ.get("COMPLAINTS_CHANNELS") or (directory or config_dir()) / "channels.yaml")


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
