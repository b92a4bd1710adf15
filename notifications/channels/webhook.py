"""A generic JSON webhook, signed with HMAC-SHA256 so the receiver can trust it.

Headers: `X-Complaints-Message-Id` (also in the body as `message_id`, with every outbox row id in
`message_ids`), `X-Complaints-Timestamp` (Unix seconds) and `X-Complaints-Signature:
sha256=<hex HMAC-SHA256(key, "<timestamp>.<body>")>`. The outbox `address` is the URL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable

import httpx

from notifications.channels.base import Message
from notifications.channels.http import post_json
from settings.secrets import SecretRef


def webhook_signature(key: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class Webhook:
    def __init__(self, client: httpx.Client, *, signing_key: SecretRef | None,
                 clock: Callable[[], float] = time.time) -> None:
        self.client, self.signing_key, self.clock = client, signing_key, clock

    def send(self, message: Message) -> None:
        payload = {
            "message_id": message.message_id,
            "message_ids": list(message.message_ids),
            "kind": message.kind,
            "recipient": message.recipient,
            "case_nos": list(message.case_nos),
            "subject": message.subject,
            "text": message.text,
            "links": list(message.links),
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"X-Complaints-Message-Id": message.message_id}
        if self.signing_key is not None:
            timestamp = str(int(self.clock()))
            headers["X-Complaints-Timestamp"] = timestamp
            headers["X-Complaints-Signature"] = webhook_signature(self.signing_key.get().encode(), timestamp, body)
        post_json(self.client, message.address, content=body, headers=headers)
