"""The outbox: one row per notification a state change causes, written in the same transaction.

A row names who gets what (recipient, channel, template kind) and the masked context to render
it with; it never holds unmasked personal data. `dedupe_key` is unique, so a change that is
applied twice (a retried flow) cannot queue the same message twice. Delivery (dispatch) claims
rows with a lease and records each attempt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index
from sqlmodel import Field, SQLModel


class OutboxStatus:
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    message_id: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=32)
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id", index=True)
    case_no: str | None = Field(default=None, max_length=32)
    recipient: str = Field(max_length=64)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=256)
    context: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime
    lease_until: datetime | None = None
    lease_owner: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime
    sent_at: datetime | None = None


class ChannelSend(SQLModel, table=True):
    """One send to an address of a rate-limited channel (a group robot), kept a day: every
    dispatch run counts the robot's window from these rows, so consecutive runs (or a run and the
    one queued behind it) share one quota instead of each using all of it (migration 0016)."""

    __tablename__ = "channel_send"
    __table_args__ = (Index("ix_channel_send_sent_at", "sent_at"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=256)
    sent_at: datetime
