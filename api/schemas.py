"""Request and response bodies of the HTTP API (the OpenAPI schema is built from these).

Datetimes go out with their Asia/Shanghai offset (+08:00); incoming instants must carry an
offset (a naive one is refused with 422 naming the field).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Line = Annotated[str, Field(min_length=1, max_length=200)]
Para = Annotated[str, Field(min_length=1, max_length=5000)]


class Problem(BaseModel):
    """Every refusal: what went wrong, each bad field named, and for 409 both lifecycle states."""

    detail: str
    errors: list[str] = []
    current: str | None = None
    target: str | None = None


class SubmitOut(BaseModel):
    case_no: str
    status: str
    received_at: datetime
    due_at: datetime
    ack_due_at: datetime
    duplicate: bool


class CaseSummary(BaseModel):
    case_no: str
    status: str
    source: str
    channel: str | None
    category: str | None
    cause: str | None
    severity: str
    tags: list[str]
    triage: bool
    branch: str
    department: str | None
    handler: str | None
    complainant: str
    received_at: datetime
    due_at: datetime  # the regulatory deadline now: an open pause counts up to now
    ack_due_at: datetime
    paused: bool = False  # the clock is paused (鉴定/检测/评估/调解) with no resume yet
    paused_since: datetime | None = None
    tier: str | None = None
    vulnerable: bool = False
    status_name: str | None = None  # the Chinese names people read, beside the codes
    source_name: str | None = None
    severity_name: str | None = None
    channel_name: str | None = None
    category_name: str | None = None
    cause_name: str | None = None
    tier_name: str | None = None


class ReviewOut(BaseModel):
    """A review (核查) by the 上级机构 (Art. 20): when asked, due when, and who owns it."""

    requested_at: datetime
    due_at: datetime
    owner_name: str
    owner_org: str
    owner: str
    recorded_at: datetime


class AuditOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str


class CaseDetail(BaseModel):
    """One case with its timeline; personal data masked unless `personal_data` says unmasked."""

    model_config = ConfigDict(extra="allow")

    case_no: str
    status: str
    severity: str
    branch: str
    department: str | None
    handler: str | None
    complainant: dict[str, Any]
    agent: dict[str, Any] | None
    request: str
    facts: str
    received_at: datetime
    due_at: datetime  # the regulatory deadline now: an open pause counts up to now
    ack_due_at: datetime
    paused: bool = False
    paused_since: datetime | None = None
    paused_days: int = 0  # calendar days added back, the open pause included
    pause_reason: str | None = None
    review: ReviewOut | None = None
    review_due_at: datetime | None = None
    review_owner: str | None = None
    vulnerable: bool = False
    vulnerable_note: str | None = None
    outlet: str | None = None
    respondent: str | None = None
    chain: list[dict[str, Any]]
    personal_data: Literal["masked", "unmasked"]
    audit: list[AuditOut]
    escalations: list[dict[str, Any]]


class ActionOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    case_no: str


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NoBody(_Body):
    pass


class AssignIn(_Body):
    handler: Line  # a person id from the org chart


class PauseIn(_Body):
    reason: Literal["鉴定", "检测", "评估", "调解"]
    evidence: Line
    at: AwareDatetime | None = None
    evidence_file_id: Annotated[int | None, Field(ge=1, description="one of the case's evidence files")] = None


class AtIn(_Body):
    at: AwareDatetime | None = None


class NewFactsIn(_Body):
    at: AwareDatetime


class ExtendIn(_Body):
    to: Literal["complex", "special"]
    approver: Line
    approver_org: Line | None = None
    approval_ref: Line | None = None
    reason: Para
    customer_told_at: AwareDatetime
    customer_told_via: Literal["written", "sms", "email", "phone"]


class RespondIn(_Body):
    """The decision (Art. 19) and how and when the complainant was told (Art. 21)."""

    verified: Para  # 核实情况
    basis: Para  # 依据和理由
    remedies: Para  # 救济途径
    told_via: Literal["written", "sms", "email", "phone"]
    told_at: AwareDatetime | None = None
    # The outcome (docs/governance.md): required — a response without it is refused (422) naming the field.
    outcome: Annotated[str | None, Field(max_length=16, description="投诉是否成立：成立 / 部分成立 / 不成立 "
                                                                   "(or upheld / partly_upheld / not_upheld); required")] = None
    not_upheld_reason: Annotated[str | None, Field(max_length=2000, description="不成立理由 (required when 不成立)")] = None
    redress_type: Annotated[str | None, Field(max_length=16, description="补偿方式：退还费用 / 赔偿 / 减免 / 更正 / 致歉 / 其他")] = None
    redress_amount: Annotated[Decimal | str | None, Field(description="补偿金额 (CNY, at most two decimals, e.g. \"200.00\")")] = None
    proof_file_id: Annotated[int | None, Field(ge=1, description="the proof of notice: one of the case's evidence files")] = None


class CloseIn(_Body):
    """Closing needs the root cause (溯源): a code of config/root_causes.yaml or its Chinese name."""

    root_cause: Annotated[str | None, Field(max_length=32, description="投诉根因：code (R01 …) or name (收费定价 …); required")] = None


class ReviewIn(_Body):
    requested_at: AwareDatetime


class ReopenIn(_Body):
    reason: Para


class EscalationOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    case_no: str
    level: int
    name: str
    reason: str
    due_at: datetime
    fired_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class ReportListItem(BaseModel):
    week: str
    version: int
    generated_at: datetime
    sha256: str
    input_rows: int


class ReportOut(ReportListItem):
    content: dict[str, Any]


class ReportVerifyOut(BaseModel):
    week: str
    ok: bool
    version: int | None
    stored_sha256: str | None
    recomputed_sha256: str | None
    problems: list[str]


class AuditVerifyOut(BaseModel):
    ok: bool
    checked: int
    head_seq: int
    broken_seq: int | None
    broken_id: int | None
    problem: str | None
    from_seq: int = 0
    anchors_checked: int = 0
    broken_anchor: str | None = None
    rows_checked: int | None = None
    broken_case: str | None = None
    unsigned_anchors: int = 0
    files_checked: int | None = None  # evidence files re-hashed (None: the check did not run, the chain failed first)
    files_skipped: int | None = None  # recorded before the verified anchor the walk started from: not re-hashed


class Me(BaseModel):
    username: str
    display_name: str
    role: str
    person_id: str | None
    branch: str | None
