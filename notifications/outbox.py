"""Queue notifications in the same transaction as the change that causes them.

`OutboxItem` is what a change wants sent; `enqueue` resolves each recipient's channels from the
org chart and inserts one row per (recipient, channel), ignoring any whose `dedupe_key` is
already there, so applying the same change twice never queues a message twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from domain.org import OrgChart
from models.outbox import OutboxMessage, OutboxStatus
from models.sqlutil import insert_ignoring_conflicts, table_of


@dataclass(frozen=True)
class OutboxItem:
    kind: str
    recipient: str  # a person id from the org chart
    key: str  # what makes this message unique for this recipient, e.g. "DL-2026-000001:routed"
    context: dict[str, Any] = field(default_factory=dict)  # masked data only
    complaint_id: int | None = None
    case_no: str | None = None


def rows_for(items: Sequence[OutboxItem], *, org: OrgChart, now: datetime) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for item in items:
        person = org.people.get(item.recipient)
        if person is None:
            continue
        for contact in person.contacts:
            rows.append(
                {
                    "dedupe_key": f"{item.key}:{item.recipient}:{contact.channel}",
                    "message_id": uuid.uuid4().hex,
                    "kind": item.kind,
                    "complaint_id": item.complaint_id,
                    "case_no": item.case_no,
                    "recipient": item.recipient,
                    "channel": contact.channel,
                    "address": contact.address,
                    "context": item.context,
                    "status": OutboxStatus.PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
    return rows


def enqueue(session: Session, items: Sequence[OutboxItem], *, org: OrgChart, now: datetime) -> int:
    """Insert the rows for `items`; returns how many were new."""
    table = table_of(OutboxMessage)
    return insert_ignoring_conflicts(session, table, rows_for(items, org=org, now=now), key="dedupe_key")
