"""The audit trail: append-only, one row per state change, hash-chained.

Each row stores the hash of the row before it; `hash = sha256(prev_hash + canonical JSON of the
row's content)`. The chain head (last seq and hash) lives in a one-row table that a writer locks,
so concurrent writers append in a single order on PostgreSQL and on SQLite.

Hash version 2 (migration 0007) puts every column in the hash — `complaint_id`, `hash_version` and
`row_hash`, the digest of the complaint row's material columns right after the change the event
records — so events cannot move between cases and a complaint row edited behind the chain's back no
longer matches its last event. Rows written before 0007 keep version 1 and verify with its rule; a
version-1 row after a version-2 row is refused. `audit_event` and `audit_anchor` are append-only
(triggers refuse UPDATE and DELETE on both databases); `audit_head` is updated by every append.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

GENESIS_HASH = "0" * 64


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True)
    at: datetime
    actor: str = Field(max_length=64)
    action: str = Field(max_length=32)
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id", index=True)
    case_no: str | None = Field(default=None, max_length=32)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    detail: str = Field(default="", max_length=512)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    hash_version: int = 1
    row_hash: str | None = Field(default=None, max_length=64)


class AuditHead(SQLModel, table=True):
    """The one row (id=1) holding the chain's last seq and hash; writers lock it."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = Field(default=GENESIS_HASH, max_length=64)


class AuditAnchor(SQLModel, table=True):
    """A signed chain head (seq, hash, time): at a frozen report, on the schedule, or one `audit verify`
    found intact (`verified`, where the next incremental verify starts). Copies of the first two kinds
    live outside the database (the anchor file, report snapshots and messages); append-only."""

    __tablename__ = "audit_anchor"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(index=True)
    hash: str = Field(max_length=64)
    at: datetime
    source: str = Field(max_length=64)
    verified: bool = False
    sig: str | None = Field(default=None, max_length=160)  # HMAC hex (64) or "ed25519:" + 128 hex (0015)
