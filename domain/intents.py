"""What a planner asks the stores to write besides rows: audit events and messages (pure values)."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, NamedTuple, TypeVar

C = TypeVar("C")  # the message kind's contract (notifications.contracts)


class AuditIntent(NamedTuple):
    """An audit event to append (the store gives it its place in the chain)."""

    at: datetime
    actor: str
    action: str
    complaint_id: int | None
    case_no: str | None
    after: dict[str, object]
    detail: str


class MessageIntent(NamedTuple, Generic[C]):
    """One message to queue: its kind, recipient (a person id), de-duplication key and contract
    (the wording, masked). The store turns it into outbox rows, one per contact of the person."""

    kind: str
    recipient: str
    key: str
    context: C
    complaint_id: int | None = None
    case_no: str | None = None
