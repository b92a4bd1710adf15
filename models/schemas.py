"""What a submission looks like (the JSON contract of `complaints submit` and the API).

Validation names each bad field; the rules follow NFRA Art. 13 (who complains, contact,
request, facts) and Art. 14 (agents). Values for source, severity and tags accept the English
value or the Chinese name. JR/T 0169 channel / category / cause are taken as given (our code or
the standard's Chinese name): an unknown value does not fail the submission, it sends the case
to the 消保办 triage queue at intake (never dropped).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.taxonomy import (
    SEVERITY_NAMES,
    SOURCE_NAMES,
    TAG_NAMES,
    SensitiveTag,
    Severity,
    Source,
    parse_enum,
)

Text = Annotated[str, Field(min_length=1, max_length=10_000)]
Short = Annotated[str, Field(min_length=1, max_length=128)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ComplainantIn(_In):
    type: Literal["individual", "company"] = "individual"
    name: Short
    phone: Annotated[str, Field(pattern=r"^\+?[0-9][0-9\- ]{5,20}$")] | None = None
    id_number: Annotated[str, Field(pattern=r"^[0-9A-Za-z]{6,32}$")] | None = None
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=128)] | None = None
    address: Annotated[str, Field(max_length=256)] | None = None
    credit_code: Annotated[str, Field(pattern=r"^[0-9A-Z]{18}$")] | None = None  # 统一社会信用代码
    legal_representative: Annotated[str, Field(max_length=64)] | None = None

    @model_validator(mode="after")
    def _needs_contact(self) -> ComplainantIn:
        if not (self.phone or self.email or self.address):
            raise ValueError("complainant needs a contact: phone, email or address (NFRA Art. 13)")
        return self


class AgentIn(_In):
    name: Short
    phone: Annotated[str, Field(pattern=r"^\+?[0-9][0-9\- ]{5,20}$")] | None = None
    id_number: Annotated[str, Field(pattern=r"^[0-9A-Za-z]{6,32}$")] | None = None
    authorization: Annotated[str, Field(min_length=1, max_length=256)]  # 授权委托书 reference (Art. 14)


class ComplaintIn(_In):
    """One complaint as the desk, a file or the API submits it."""

    external_ref: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    received_at: AwareDatetime | None = None
    source: Source = Source.DESK
    channel: Annotated[str, Field(max_length=64)] | None = None
    category: Annotated[str, Field(max_length=64)] | None = None
    cause: Annotated[str, Field(max_length=64)] | None = None
    severity: Severity | None = None
    group_size: Annotated[int, Field(ge=1, le=100_000)] = 1
    tags: list[SensitiveTag] = []
    vulnerable: bool = False
    vulnerable_note: Annotated[str, Field(max_length=128)] | None = None
    branch: Annotated[str, Field(min_length=1, max_length=32)] | None = None
    outlet: Annotated[str, Field(max_length=64)] | None = None
    complainant: ComplainantIn
    agent: AgentIn | None = None
    respondent: Annotated[str, Field(max_length=256)] | None = None
    request: Text
    facts: Text

    @field_validator("received_at")
    @classmethod
    def _stdlib_offset(cls, v: datetime | None) -> datetime | None:
        # Same instant and offset, but with the standard library's fixed-offset tzinfo: pydantic's
        # own tzinfo answers utcoffset() in Python, and deadlines call it many times per case.
        if v is None or type(v.tzinfo) is timezone:
            return v
        offset = v.utcoffset()
        return v if offset is None else v.replace(tzinfo=timezone(offset))

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, v: Any) -> Any:
        return _named(Source, SOURCE_NAMES, v)

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, v: Any) -> Any:
        return _named(Severity, SEVERITY_NAMES, v)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [_named(SensitiveTag, TAG_NAMES, t) for t in v]
        return v


def _named(enum_cls: Any, names: Any, v: Any) -> Any:
    if isinstance(v, str):
        parsed = parse_enum(enum_cls, names, v)
        if parsed is not None:
            return parsed
    return v  # let the enum validation produce the error with the allowed values


@dataclass(slots=True)
class SubmitResult:
    """What a submission returns per item (built by `submit` from its own typed values: a plain
    dataclass, as validating them again cost more than storing them in bench_intake.py)."""

    case_no: str
    status: str
    received_at: datetime
    due_at: datetime
    ack_due_at: datetime
    duplicate: bool = False

    def model_dump(self) -> dict[str, Any]:
        return {"case_no": self.case_no, "status": self.status, "received_at": self.received_at,
                "due_at": self.due_at, "ack_due_at": self.ack_due_at, "duplicate": self.duplicate}
