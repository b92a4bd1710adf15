"""Tables for escalation and the case actions around it.

* `escalation`: one row per (complaint, level), by unique constraint: however many sweeps run
  at once, a level fires once (INSERT … ON CONFLICT DO NOTHING; only inserted rows act).
* `escalation_schedule`: the next time something may be due for an open case, indexed, so a
  sweep reads `WHERE next_at <= now` instead of scanning every open case. It is a hint kept
  up to date by every change of deadline or status here; the sweep re-checks the case itself.
* `escalation_state`: small key/value rows: how far new complaints have been scheduled, and
  which local days have had their digest.
* `extension`, `case_response`, `case_review`: what Art. 18, 19 and 20 ask to be recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Escalation(SQLModel, table=True):
    __tablename__ = "escalation"
    __table_args__ = (
        UniqueConstraint("complaint_id", "level", name="uq_escalation_complaint_level"),
        Index("ix_escalation_open", "acknowledged_at", "fired_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id")
    case_no: str = Field(max_length=32)
    level: int
    name: str = Field(max_length=64)
    due_at: datetime
    fired_at: datetime
    reason: str = Field(max_length=200)
    recipients: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = Field(default=None, max_length=64)


class EscalationSchedule(SQLModel, table=True):
    __tablename__ = "escalation_schedule"

    complaint_id: int = Field(primary_key=True, foreign_key="complaint.id")
    next_at: datetime = Field(index=True)
    next_level: int


class EscalationState(SQLModel, table=True):
    __tablename__ = "escalation_state"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=64)


class Extension(SQLModel, table=True):
    """An approved extension of the regulatory deadline (Art. 18)."""

    __tablename__ = "extension"
    __table_args__ = (UniqueConstraint("complaint_id", "to_tier", name="uq_extension_complaint_tier"),)

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id", index=True)
    from_tier: str = Field(max_length=16)
    to_tier: str = Field(max_length=16)
    approver: str = Field(max_length=64)
    approver_org: str | None = Field(default=None, max_length=128)
    approval_ref: str | None = Field(default=None, max_length=128)
    reason: str = Field(sa_type=Text)
    customer_told_at: datetime
    customer_told_via: str = Field(max_length=16)
    previous_due_at: datetime
    new_due_at: datetime
    recorded_at: datetime
    actor: str = Field(max_length=64)


class CaseResponse(SQLModel, table=True):
    """The decision told to the complainant (Art. 19) and the proof of notice (Art. 21)."""

    __tablename__ = "case_response"

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id", index=True)
    verified: str = Field(sa_type=Text)
    basis: str = Field(sa_type=Text)
    remedies: str = Field(sa_type=Text)
    told_via: str = Field(max_length=16)
    told_at: datetime
    recorded_at: datetime
    actor: str = Field(max_length=64)
    proof_file_id: int | None = None  # the evidence file proving the notice (models/workbench.py, migration 0009)


class CaseReview(SQLModel, table=True):
    """A review (核查) by the 上级机构 (Art. 20)."""

    __tablename__ = "case_review"

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id", index=True)
    requested_at: datetime
    due_at: datetime
    owner_name: str = Field(max_length=64)
    owner_org: str = Field(max_length=128)
    recorded_at: datetime
    actor: str = Field(max_length=64)
