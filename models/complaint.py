"""The complaint: table, and the fields people and machines see.

Personal data (names, phones, ID numbers, addresses) lives in its own `complainant_*` and
`agent_*` columns so that every view can mask it (DESIGN.md decision 8).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Complaint(SQLModel, table=True):
    __tablename__ = "complaint"
    __table_args__ = (
        Index("ix_complaint_status_id", "status", "id"),
        Index("ix_complaint_open_due", "status", "regulatory_due_at"),
        Index("ix_complaint_department_status", "department", "status"),
        # Idempotency keys are the calling client's own (migration 0008).
        # external_ref first, so a client's keys are looked up by the keys (migration 0008)
        UniqueConstraint("external_ref", "submitted_by", name="uq_complaint_submitted_by_external_ref"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_no: str = Field(max_length=32, unique=True)
    external_ref: str | None = Field(default=None, max_length=128)
    # The client whose key external_ref is (the API user; `cli` for the operator's import tool),
    # and the sha256 of what it submitted under that key (a reuse with another body is refused).
    submitted_by: str = Field(default="", max_length=64)
    request_fingerprint: str | None = Field(default=None, max_length=64)

    # Where it came from, and JR/T 0169 (the project's own codes; raw values as submitted).
    source: str = Field(max_length=32)
    channel: str | None = Field(default=None, max_length=16)
    category: str | None = Field(default=None, max_length=16)
    cause: str | None = Field(default=None, max_length=16)
    channel_raw: str | None = Field(default=None, max_length=64)
    category_raw: str | None = Field(default=None, max_length=64)
    cause_raw: str | None = Field(default=None, max_length=64)
    severity: str = Field(default="ordinary", max_length=16)
    severity_requested: str | None = Field(default=None, max_length=16)
    tags: list[str] = Field(default_factory=list, sa_type=JSON)
    vulnerable: bool = False
    vulnerable_note: str | None = Field(default=None, max_length=128)
    group_size: int = 1
    repeat_count: int = 0

    # Complainant (Art. 13) and agent (Art. 14): personal data, masked wherever not needed.
    complainant_type: str = Field(default="individual", max_length=16)
    complainant_name: str = Field(max_length=128)
    complainant_phone: str | None = Field(default=None, max_length=32)
    complainant_id_type: str | None = Field(default=None, max_length=32)  # domain.idcard.IdType
    complainant_id_number: str | None = Field(default=None, max_length=32)
    complainant_email: str | None = Field(default=None, max_length=128)
    complainant_address: str | None = Field(default=None, max_length=256)
    complainant_credit_code: str | None = Field(default=None, max_length=32)
    complainant_legal_rep: str | None = Field(default=None, max_length=64)
    agent_name: str | None = Field(default=None, max_length=128)
    agent_phone: str | None = Field(default=None, max_length=32)
    agent_id_type: str | None = Field(default=None, max_length=32)
    agent_id_number: str | None = Field(default=None, max_length=32)
    agent_authorization: str | None = Field(default=None, max_length=256)

    branch: str = Field(max_length=32)
    outlet: str | None = Field(default=None, max_length=64)
    respondent: str | None = Field(default=None, max_length=256)
    request: str = Field(sa_type=Text)
    facts: str = Field(sa_type=Text)

    # Lifecycle and routing.
    status: str = Field(default="received", max_length=16)
    triage: bool = False
    triage_reasons: list[str] = Field(default_factory=list, sa_type=JSON)
    department: str | None = Field(default=None, max_length=32)
    department_branch: str | None = Field(default=None, max_length=32)
    handler: str | None = Field(default=None, max_length=64)
    chain: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    watchers: list[str] = Field(default_factory=list, sa_type=JSON)

    # Deadlines: regulatory (calendar days) and internal SLA (working days).
    regime: str = Field(default="nfra", max_length=16)
    tier: str = Field(default="standard", max_length=16)
    received_at: datetime
    clock_started_at: datetime
    paused_days: int = 0
    regulatory_due_at: datetime
    ack_due_at: datetime

    routed_at: datetime | None = None
    acknowledged_at: datetime | None = None
    responded_at: datetime | None = None
    closed_at: datetime | None = None
    created_at: datetime
    updated_at: datetime

    # Keyed hashes (HMAC-SHA256, models/search.py) of the phones, ID numbers and a card number, so a
    # case is found by them without scanning personal data (migration 0009, indexed).
    search_phone_key: str | None = Field(default=None, max_length=32)
    search_agent_phone_key: str | None = Field(default=None, max_length=32)
    search_id_key: str | None = Field(default=None, max_length=32)
    search_agent_id_key: str | None = Field(default=None, max_length=32)
    search_card_key: str | None = Field(default=None, max_length=32)


class CaseSequence(SQLModel, table=True):
    """The last case number issued per prefix and year (受理编号 DL-2026-000123)."""

    __tablename__ = "case_sequence"

    prefix: str = Field(primary_key=True, max_length=8)
    year: int = Field(primary_key=True)
    last: int = 0


class ClockEventRow(SQLModel, table=True):
    """A pause, resume or restart of the regulatory clock (Art. 18, 23)."""

    __tablename__ = "clock_event"

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id", index=True)
    kind: str = Field(max_length=16)
    at: datetime
    reason: str = Field(default="", max_length=64)
    evidence_ref: str | None = Field(default=None, max_length=256)
    evidence_file_id: int | None = None  # a pause's evidence as an attached file (migration 0009)
    actor: str = Field(max_length=64)
    created_at: datetime
