"""What every channel shares: the message it sends and the error it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Message:
    """One send: a single outbox row or a digest of several for one recipient and channel.

    `message_id` identifies the send (the row's own id, or a digest id derived from its rows'
    ids); `message_ids` lists every outbox row it carries, so a receiver can drop repeats.
    """

    channel: str
    address: str
    recipient: str
    subject: str
    text: str
    message_id: str
    message_ids: tuple[str, ...]
    html: str | None = None
    kind: str = ""
    case_nos: tuple[str, ...] = field(default_factory=tuple)
    links: tuple[str, ...] = field(default_factory=tuple)


class DeliveryError(Exception):
    """A send failed; `retryable` says whether trying again later may succeed."""

    def __init__(self, retryable: bool, detail: str) -> None:
        super().__init__(detail)
        self.retryable = retryable
        self.detail = detail


class Channel(Protocol):
    def send(self, message: Message) -> None: ...
