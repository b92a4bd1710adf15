"""What a submission looks like (the JSON contract of `complaints submit` and the API).

Validation names each bad field by its path and Chinese name, in Chinese
(`complainant.phone（投诉人联系电话）：格式不正确…`, see `validation_problems`); the rules follow NFRA
Art. 13 (who complains, contact, request, facts) and Art. 14 (agents). Values for source,
severity, tags, the complainant's type and id_type (证件类型) accept the English value or the
Chinese name. An ID number is checked for its type (domain/idcard.py: GB 11643 for 居民身份证,
the default type when a number is given). JR/T 0169 channel / category / cause are taken as given (our code or
the standard's Chinese name): an unknown value does not fail the submission, it sends the case
to the 消保办 triage queue at intake (never dropped).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timezone
from functools import lru_cache
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from domain.field_names import ITEM_LABEL, field_label
from domain.idcard import ID_TYPE_NAMES, IdType, id_number_problem
from domain.idcard import normalize as normalize_id
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
Phone = Annotated[str, Field(max_length=32)]
IdNumber = Annotated[str, Field(max_length=32)]

COMPLAINANT_TYPE_NAMES: Mapping[str, str] = {"individual": "个人", "company": "单位"}
_COMPLAINANT_TYPE_ALIASES = {"个人": "individual", "单位": "company", "企业": "company", "公司": "company"}
# 11-digit mobile (+86 optional), a fixed line with its area code (0411-88886666, extension after
# a hyphen), or a number abroad written with its country code (+852 …).
_MOBILE = re.compile(r"(\+?86)?1[3-9][0-9]{9}")
_FIXED = re.compile(r"(\+?86)?0[1-9][0-9]{1,2}[0-9]{7,8}")
_ABROAD = re.compile(r"\+(?!86)[1-9][0-9]{5,17}")
# No receipt before this (case numbers, report weeks and deadlines assume the present era); the
# backdating window (policy.intake.backdate_days) applies on top of it in the web and the API.
EARLIEST_RECEIVED = datetime(2000, 1, 1, tzinfo=UTC)
PHONE_EXPECTED = "格式不正确，应为 11 位手机号或带区号的固定电话（境外号码以 + 和国家代码开头）"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _check_phone(v: str | None) -> str | None:
    if v is None:
        return None
    main, _, ext = v.partition("转")
    digits = re.sub(r"[\s\-()（）]", "", main)
    if ext and not ext.strip().isdigit():
        raise PydanticCustomError("phone", PHONE_EXPECTED)
    if not (_MOBILE.fullmatch(digits) or _FIXED.fullmatch(digits) or _ABROAD.fullmatch(digits)):
        raise PydanticCustomError("phone", PHONE_EXPECTED)
    return v


# Pure and called once per complainant and agent of a bulk submission, where the same few
# numbers recur (bench_intake: 0.75 s of a 10 s submit of 20,000 before this was remembered).
_id_problem = lru_cache(maxsize=8192)(id_number_problem)


def _check_id(id_type: IdType | None, number: str | None) -> tuple[IdType | None, str | None]:
    """The document type (居民身份证 when a number comes without one) and the normalized number."""
    if number is None:
        return None, None  # a type without a number says nothing: dropped
    kind = id_type or IdType.RESIDENT
    normalized = normalize_id(number)
    problem = _id_problem(kind, normalized)
    if problem:
        raise PydanticCustomError("id_number", problem)
    return kind, normalized


class _Person(_In):
    name: Short
    phone: Phone | None = None
    id_type: IdType | None = None
    id_number: IdNumber | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return _check_phone(v)

    @field_validator("id_type", mode="before")
    @classmethod
    def _id_type(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip():
            return None
        return _named(IdType, ID_TYPE_NAMES, v)

    @field_validator("id_number", mode="before")
    @classmethod
    def _blank_id(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None or "id_type" not in info.data:
            return v  # no number, or the type itself was refused (that error names the type)
        return _check_id(info.data["id_type"], v)[1]

    @model_validator(mode="after")
    def _default_id_type(self) -> Self:
        self.id_type = (self.id_type or IdType.RESIDENT) if self.id_number else None
        return self


class ComplainantIn(_Person):
    type: Literal["individual", "company"] = "individual"
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=128)] | None = None
    address: Annotated[str, Field(max_length=256)] | None = None
    credit_code: Annotated[str, Field(pattern=r"^[0-9A-Z]{18}$")] | None = None  # 统一社会信用代码
    legal_representative: Annotated[str, Field(max_length=64)] | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, v: Any) -> Any:
        if isinstance(v, str):
            key = v.strip()
            return _COMPLAINANT_TYPE_ALIASES.get(key, key.lower())
        return v

    @model_validator(mode="after")
    def _needs_contact(self) -> Self:
        if not (self.phone or self.email or self.address):
            raise ValueError("须至少填写一种联系方式：联系电话、电子邮箱或联系地址（消费投诉处理管理办法第十三条）")
        return self


class AgentIn(_Person):
    authorization: Annotated[str, Field(min_length=1, max_length=256)]  # 授权委托书 reference (Art. 14)


class ComplaintIn(_In):
    """One complaint as the desk, a file or the API submits it."""

    external_ref: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    received_at: AwareDatetime | None = None
    # 补录理由: a receipt earlier than the backdating window, approved by the 消保办 who submits it.
    backdate_reason: Annotated[str, Field(min_length=1, max_length=256)] | None = None
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
        if v is not None and v < EARLIEST_RECEIVED:
            raise PydanticCustomError("received_at", "早于 2000-01-01，不是有效的收到投诉时间")
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


# ---------------------------------------------------------------- errors people read

_CHOICES: Mapping[str, Mapping[Any, str]] = {
    "source": SOURCE_NAMES, "severity": SEVERITY_NAMES, "tags": TAG_NAMES, "type": COMPLAINANT_TYPE_NAMES,
    "id_type": ID_TYPE_NAMES,
}
_PATTERN_EXPECTED: Mapping[str, str] = {
    "email": "格式不正确，应为电子邮箱地址，如 name@example.com",
    "credit_code": "格式不正确，应为 18 位数字或大写字母",
}
_TIME_EXAMPLE = "如 2026-11-26T09:30:00+08:00"
_FIXED_MESSAGES: Mapping[str, str] = {
    "missing": "必填",
    "extra_forbidden": "不允许的字段",
    "timezone_aware": f"须带时区（UTC 偏移），{_TIME_EXAMPLE}",
    "int_parsing": "应为整数", "int_type": "应为整数", "int_from_float": "应为整数",
    "bool_parsing": "应为是或否（true / false）", "bool_type": "应为是或否（true / false）",
    "string_type": "应为文字", "list_type": "应为列表（JSON 数组）",
    "model_type": "应为 JSON 对象", "model_attributes_type": "应为 JSON 对象", "dict_type": "应为 JSON 对象",
}


def _message(err: Mapping[str, Any]) -> str:
    """A pydantic error as a Chinese sentence saying what is expected."""
    kind, ctx, loc = err["type"], err.get("ctx") or {}, err["loc"]
    field = next((p for p in reversed(loc) if isinstance(p, str)), "")
    if kind in _FIXED_MESSAGES:
        return _FIXED_MESSAGES[kind]
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"])).removeprefix("Value error, ")
    if kind in ("phone", "id_number", "received_at"):  # our own PydanticCustomError: the message is Chinese already
        return str(err["msg"])
    if kind == "string_pattern_mismatch":
        return _PATTERN_EXPECTED.get(field, "格式不正确")
    if kind == "string_too_short":
        n = int(ctx.get("min_length", 1))
        return "不能为空" if n <= 1 else f"至少 {n} 个字"
    if kind == "string_too_long":
        return f"不能超过 {ctx.get('max_length')} 个字"
    if kind == "too_short":
        return f"至少 {ctx.get('min_length')} 项"
    if kind == "too_long":
        return f"最多 {ctx.get('max_length')} 项"
    if kind in ("enum", "literal_error"):
        names = _CHOICES.get(field)
        allowed = "、".join(names.values()) if names else str(ctx.get("expected", ""))
        return f"取值无效，应为以下之一：{allowed}"
    if kind.startswith(("datetime", "date")):
        return f"不是有效的时间，应为 ISO 8601 格式，{_TIME_EXAMPLE}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"不能小于 {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"不能大于 {ctx.get('le', ctx.get('lt'))}"
    return "取值无效"


def machine_path(prefix: str, loc: tuple[Any, ...]) -> str:
    """`[2].complainant.phone`: the item's index (in a list) and the field's path."""
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    return (prefix + path).lstrip(".")


def problem(prefix: str, loc: tuple[Any, ...], message: str) -> str:
    """One problem as people read it: `complainant.phone（投诉人联系电话）：格式不正确…`."""
    path, label = machine_path(prefix, loc), field_label(loc)
    if not path:
        return f"{label or ITEM_LABEL}：{message}"
    return f"{path}（{label}）：{message}" if label else f"{path}：{message}"


def validation_problems(exc: ValidationError, prefix: str = "") -> list[str]:
    """Every error of one item, in Chinese, each naming its field by path and Chinese name."""
    return [problem(prefix, tuple(e["loc"]), _message(e)) for e in exc.errors()]


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
