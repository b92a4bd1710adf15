"""Group robots: WeCom (企业微信), DingTalk (钉钉, signed URL) and Feishu / Lark (signed body).

A robot's outbox `address` is its key / access token; the base URL comes from configuration so
tests point it at loopback. A 200 whose body carries an error code is a failed send. Messages go
as plain text (masked values such as 138****5678 would turn into emphasis in markdown).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from notifications.channels.base import DeliveryError, Message
from notifications.channels.http import json_body, post_json
from settings.secrets import SecretRef

WECOM_TEXT_LIMIT = 2048  # bytes, WeCom's limit for text content
SecretFor = Callable[[str], SecretRef | None]


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _truncate_utf8(text: str, limit: int) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode("utf-8", errors="ignore") + "…"


def _check_code(body: dict[str, Any], field: str) -> None:
    code = body.get(field, 0)
    if code not in (0, None):
        message = body.get("errmsg") or body.get("msg") or ""
        raise DeliveryError(True, f"robot error {field}={code}: {str(message)[:200]}")


def dingtalk_sign(timestamp_ms: int, secret: str) -> str:
    """DingTalk: base64(HMAC-SHA256(key=secret, msg="timestamp\\nsecret")), not yet URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(timestamp_s: int, secret: str) -> str:
    """Feishu / Lark: base64(HMAC-SHA256(key="timestamp\\nsecret", msg=b""))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class WeComRobot:
    def __init__(self, client: httpx.Client, *, base_url: str) -> None:
        self.client, self.base_url = client, base_url.rstrip("/")

    def send(self, message: Message) -> None:
        body = {"msgtype": "text", "text": {"content": _truncate_utf8(message.text, WECOM_TEXT_LIMIT)}}
        response = post_json(self.client, f"{self.base_url}/cgi-bin/webhook/send",
                             content=_dumps(body), params={"key": message.address})
        _check_code(json_body(response), "errcode")


class DingTalkRobot:
    def __init__(self, client: httpx.Client, *, base_url: str, secret_for: SecretFor,
                 clock: Callable[[], float] = time.time) -> None:
        self.client, self.base_url = client, base_url.rstrip("/")
        self.secret_for, self.clock = secret_for, clock

    def send(self, message: Message) -> None:
        params = {"access_token": message.address}
        ref = self.secret_for(message.address)
        if ref is not None:
            timestamp = int(self.clock() * 1000)
            # httpx URL-encodes query values, which is the "url-encoded" step of the recipe
            params.update(timestamp=str(timestamp), sign=dingtalk_sign(timestamp, ref.get()))
        body = {"msgtype": "text", "text": {"content": message.text}}
        response = post_json(self.client, f"{self.base_url}/robot/send", content=_dumps(body), params=params)
        _check_code(json_body(response), "errcode")


class FeishuRobot:
    def __init__(self, client: httpx.Client, *, base_url: str, secret_for: SecretFor,
                 clock: Callable[[], float] = time.time) -> None:
        self.client, self.base_url = client, base_url.rstrip("/")
        self.secret_for, self.clock = secret_for, clock

    def send(self, message: Message) -> None:
        body: dict[str, Any] = {"msg_type": "text", "content": {"text": message.text}}
        ref = self.secret_for(message.address)
        if ref is not None:
            timestamp = int(self.clock())
            body.update(timestamp=str(timestamp), sign=feishu_sign(timestamp, ref.get()))
        response = post_json(self.client, f"{self.base_url}/open-apis/bot/v2/hook/{message.address}",
                             content=_dumps(body))
        result = json_body(response)
        _check_code(result, "code")
        _check_code(result, "StatusCode")  # older Feishu responses
