"""One typed contract per notification kind (DESIGN.md decision 10): pure data, so planners in the
domain can decide messages and the stores only write them.

Each kind's producer builds its contract; the outbox stores the contract's plain dict (a JSON
column); the renderer rebuilds the contract from that dict before rendering, so a row whose
context does not fit its kind is refused with a Chinese error naming the field. Every string in
a contract is already masked (customer names 张*, phones 138****5678): the renderer masks again
as a second line of defence.

The kind names the contract and the templates alike: `KIND → contract class` is `CONTRACTS`,
the templates are `<kind>.txt` / `<kind>.html` (`template_names`). A template may use the
contract's fields and the keys the renderer adds (`RENDERER_KEYS`); a test checks every template
against its contract statically.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Union

from domain.taxonomy import UNTRIAGED

# keys the renderer adds to every context (never stored)
RENDERER_KEYS = frozenset({"message_id", "subject"})
NO_HANDLER = "待指定"


class ContractError(ValueError):
    """A context that does not fit its kind's contract (the message says which field, in Chinese)."""


@dataclass(frozen=True, slots=True)
class ChainEntry:
    """One seat of the responsibility chain as a message shows it."""

    title: str
    name: str
    acting: bool = False


@dataclass(frozen=True, slots=True)
class DigestCase:
    """One still-unacknowledged escalation in a supervisor's daily digest."""

    case_no: str
    level: int
    level_title: str
    late_by: str
    due_at: str
    fired_at: str
    link: str


@dataclass(frozen=True, slots=True)
class Routed:
    """A new (or reassigned) case for its handler, its department head, or a watcher."""

    kind: ClassVar[str] = "routed"
    case_no: str
    role: str  # handler | department_head | watcher
    category: str
    severity: str
    tags: tuple[str, ...]
    triage: bool
    reasons: tuple[str, ...]
    department: str
    handler: str  # the handler's name, or 待指定
    complainant: str  # masked
    request: str  # masked, at most 200 characters
    received_at: str
    ack_due_at: str
    due_at: str
    link: str


@dataclass(frozen=True, slots=True)
class Escalated:
    """A level of the 一把手 chain fired for a case (one contract per fired level, every recipient)."""

    kind: ClassVar[str] = "escalated"
    case_no: str
    level: int
    level_title: str  # the level's Chinese name from config/escalation.yaml
    reason: str  # why the level fired (the trigger, as it applied to this case)
    late_by: str  # 距答复期限还有 N 天 / 今日到期 / 已逾期 N 天
    category: str
    severity: str
    department: str
    handler: str  # the handler's name, or 待指定
    complainant: str  # masked
    outlet: str  # the outlet, or the branch's name
    vulnerable: str  # 特殊群体（…） or "" when not vulnerable
    due_at: str
    chain: tuple[ChainEntry, ...]
    link: str


@dataclass(frozen=True, slots=True)
class EscalationDigest:
    """A supervisor's daily list of escalations they have not acknowledged yet."""

    kind: ClassVar[str] = "escalation_digest"
    date: str
    count: int  # all of them (the list may be cut to the first 200)
    cases: tuple[DigestCase, ...]
    link: str  # the overdue list


@dataclass(frozen=True, slots=True)
class ExtensionRequested:
    """An extension of the answer deadline for the approver (and the 一把手 for 60 days)."""

    kind: ClassVar[str] = "extension_requested"
    case_no: str
    requested_by: str
    days: int  # how many days later the deadline becomes
    limit: str  # 30 日（复杂投诉） / 60 日（特殊情况）
    reason: str
    current_due_at: str
    proposed_due_at: str
    link: str


@dataclass(frozen=True, slots=True)
class ExtensionApproved:
    """An approved extension, for the handler and the department head."""

    kind: ClassVar[str] = "extension_approved"
    case_no: str
    approved_by: str
    approver_org: str  # "" when the branch's own 投诉处理工作负责人 approved
    limit: str
    previous_due_at: str
    new_due_at: str
    note: str
    link: str


@dataclass(frozen=True, slots=True)
class ReviewOpened:
    """A review (核查, Art. 20) was opened: the 消保办 is told who decides it, and by when."""

    kind: ClassVar[str] = "review_opened"
    case_no: str
    requested_at: str
    due_at: str
    owner: str
    link: str


@dataclass(frozen=True, slots=True)
class ReportReady:
    """A weekly report was frozen; the link opens its HTML page."""

    kind: ClassVar[str] = "report_ready"
    week: str
    period: str
    version: int
    received: int
    closed: int
    overdue: int
    link: str
    # The audit chain's head signed at the freeze (models/anchors.py): auditors hold it outside the database.
    anchor_seq: int | None = None
    anchor_hash: str | None = None  # its first 16 hex digits


@dataclass(frozen=True, slots=True)
class RemediationOverdue:
    """An overdue 整改 item went up the 一把手 chain one level (once per level; docs/governance.md)."""

    kind: ClassVar[str] = "remediation_overdue"
    ref: str  # ZG-2026-00001
    title: str  # masked
    level: int
    level_title: str  # the level's Chinese name from config/escalation.yaml
    late_by: str  # 已逾期 N 天
    due_at: str
    owner: str  # the owning department (and branch)
    pattern: str  # 根因 × 业务类别 × 机构, in Chinese
    case_no: str  # the case it was opened from, or ""
    chain: tuple[ChainEntry, ...]
    link: str


@dataclass(frozen=True, slots=True)
class EarlyWarning:
    """A spike of complaints in an institution × category, for its 一把手 and the 消保办 (once per spike)."""

    kind: ClassVar[str] = "early_warning"
    institution: str  # the institution's name (and the outlet, when the cell is an outlet)
    category: str  # the JR/T 0169 category's Chinese name, or 待分类
    day: str  # the local day the spike was seen
    window: str  # 近 N 日
    observed: int
    expected: str  # one decimal
    jump: str  # e.g. 约为基线的 3.2 倍（+4.5σ）
    terms: tuple[str, ...]  # the most frequent terms of the cases (masked)
    cases: tuple[str, ...]  # their case numbers (at most 20)
    link: str  # the dashboard of the institution


Contract = Union[Routed, Escalated, EscalationDigest, ExtensionRequested, ExtensionApproved,  # noqa: UP007
                 ReviewOpened, ReportReady, RemediationOverdue, EarlyWarning]
CONTRACTS: Mapping[str, type[Any]] = {
    c.kind: c for c in (Routed, Escalated, EscalationDigest, ExtensionRequested, ExtensionApproved, ReviewOpened,
                        ReportReady, RemediationOverdue, EarlyWarning)
}
KINDS: tuple[str, ...] = tuple(CONTRACTS)

_FIELD_NAMES = {
    "case_no": "受理编号", "role": "接收角色", "category": "业务类别", "severity": "严重程度", "tags": "敏感标签",
    "triage": UNTRIAGED, "reasons": "分拣原因", "department": "承办部门", "handler": "经办人", "complainant": "投诉人",
    "request": "诉求", "received_at": "受理时间", "ack_due_at": "确认期限", "due_at": "答复期限", "link": "链接",
    "level": "升级级别", "level_title": "升级级别名称", "reason": "原因", "late_by": "期限情况", "outlet": "网点",
    "vulnerable": "特殊群体", "chain": "责任链", "date": "日期", "count": "件数", "cases": "案件列表",
    "requested_by": "申请人", "days": "延长天数", "limit": "延期后时限", "current_due_at": "现答复期限",
    "proposed_due_at": "申请后期限", "approved_by": "批准人", "approver_org": "批准机构",
    "previous_due_at": "原答复期限", "new_due_at": "新答复期限", "note": "审批意见", "requested_at": "核查申请时间",
    "owner": "核查机构", "week": "周次", "period": "统计期间", "version": "版本", "received": "新受理",
    "closed": "已办结", "overdue": "逾期", "name": "姓名", "acting": "代理", "fired_at": "升级时间",
    "anchor_seq": "审计链锚点序号", "anchor_hash": "审计链锚点哈希",
    "institution": "机构", "window": "统计窗口", "observed": "实际件数", "expected": "基线预期", "jump": "升幅",
    "terms": "高频词",
    "ref": "整改编号", "title": "整改事项", "pattern": "投诉模式",  # (one "title": the later one won before)
}


def field_label(name: str) -> str:
    return f"{_FIELD_NAMES.get(name, name)}（{name}）"


def template_names(kind: str) -> tuple[str, str]:
    """The text and HTML templates of a kind."""
    return f"{kind}.txt", f"{kind}.html"


def contract_for(kind: str) -> type[Any]:
    try:
        return CONTRACTS[kind]
    except KeyError:
        raise ContractError(f"未知的通知类型 {kind!r}（可用：{'、'.join(KINDS)}）") from None


# ------------------------------------------------------------------------------------ field checks


@dataclass(frozen=True)
class _Field:
    name: str
    allowed: tuple[type, ...]  # isinstance check of the value (bool is not an int here)
    item: type | None  # tuple items: a primitive or a nested dataclass


def _allowed(hint: Any) -> tuple[tuple[type, ...], type | None]:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        allowed: list[type] = []
        item = None
        for arg in typing.get_args(hint):
            a, i = _allowed(arg)
            allowed += a
            item = item or i
        return tuple(allowed), item
    if origin is tuple:
        return (tuple,), typing.get_args(hint)[0]
    if hint is type(None):
        return (type(None),), None
    return (hint,), None


_FIELDS: dict[type, tuple[_Field, ...]] = {}


def _fields(cls: type[Any]) -> tuple[_Field, ...]:
    """Each field's name and allowed types, read once per class from its annotations."""
    got = _FIELDS.get(cls)
    if got is None:
        hints = typing.get_type_hints(cls)
        got = _FIELDS[cls] = tuple(_Field(f.name, *_allowed(hints[f.name])) for f in dataclasses.fields(cls))
    return got


def _type_ok(value: Any, allowed: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in allowed
    return isinstance(value, allowed)


def _fail(cls: type[Any], f: _Field, value: Any, item: bool = False) -> ContractError:
    what = f"{getattr(cls, 'kind', cls.__name__)} 的字段 {field_label(f.name)}"
    if item:
        return ContractError(f"通知 {what} 的元素类型不符：应为 {getattr(f.item, '__name__', f.item)}，"
                             f"收到 {type(value).__name__}")
    return ContractError(f"通知 {what} 类型不符：应为 {'/'.join(t.__name__ for t in f.allowed)}，"
                         f"收到 {type(value).__name__}")


def _check_slow(contract: Any) -> None:
    cls = type(contract)
    for f in _fields(cls):
        value = getattr(contract, f.name)
        if not _type_ok(value, f.allowed):
            raise _fail(cls, f, value)
        if f.item is not None:
            for v in value:
                if not _type_ok(v, (f.item,)):
                    raise _fail(cls, f, v, item=True)
                if dataclasses.is_dataclass(v):
                    _check_slow(v)


_Compiled = tuple[Callable[[Any, dict[int, Any]], bool], Callable[[Any, dict[int, Any]], dict[str, Any]]]
_COMPILED: dict[type, _Compiled] = {}


def _compiled(cls: type[Any]) -> _Compiled:
    """Per class, a generated checker (True when every field has its type: exact classes, no loop
    over a dataclass's fields) and plain-dict builder. The sweep queues tens of thousands of
    messages per batch, so both run in the hot loop; a nested tuple shared by many contracts (a
    chain) is checked and converted once per `memo`."""
    got = _COMPILED.get(cls)
    if got is not None:
        return got
    env: dict[str, Any] = {"_items_ok": _items_ok, "_items_plain": _items_plain}
    check_lines = ["def check(o, memo):"]
    plain_parts = []
    for i, f in enumerate(_fields(cls)):
        env[f"T{i}"] = frozenset(f.allowed)
        check_lines.append(f"    v = o.{f.name}")
        check_lines.append(f"    if v.__class__ not in T{i}: return False")
        if f.item is not None:
            env[f"I{i}"] = f.item
            check_lines.append(f"    if id(v) not in memo and not _items_ok(v, I{i}, memo): return False")
            plain_parts.append(f"{f.name!r}: _items_plain(o.{f.name}, I{i}, memo)")
        else:
            plain_parts.append(f"{f.name!r}: o.{f.name}")
    check_lines.append("    return True")
    code = "\n".join(check_lines) + "\ndef plain(o, memo):\n    return {" + ", ".join(plain_parts) + "}\n"
    exec(compile(code, f"<contract {cls.__name__}>", "exec"), env)  # noqa: S102 - generated from our own fields
    got = _COMPILED[cls] = (env["check"], env["plain"])
    return got


def _items_ok(values: tuple[Any, ...], item: type, memo: dict[int, Any]) -> bool:
    nested = dataclasses.is_dataclass(item)
    for v in values:
        if v.__class__ is not item:
            return False
        if nested and not _compiled(item)[0](v, memo):
            return False
    memo[id(values)] = values  # keeps it alive: the id stays unique while memo lives
    return True


def _items_plain(values: tuple[Any, ...], item: type, memo: dict[int, Any]) -> list[Any]:
    if not dataclasses.is_dataclass(item):
        return list(values)
    key = -id(values)
    got = memo.get(key)
    if got is None:
        plain = _compiled(item)[1]
        got = memo[key] = ([plain(v, memo) for v in values], values)
    return got[0]  # shared by the rows of one enqueue: JSON encoding only reads it


def check(contract: Any, *, kind: str | None = None, memo: dict[int, Any] | None = None) -> None:
    """ContractError unless `contract` is the contract of `kind` with every field of its type."""
    cls = contract_for(kind) if kind is not None else type(contract)
    if type(contract) is not cls:
        raise ContractError(f"通知 {kind} 的内容必须是 {cls.__name__}，收到 {type(contract).__name__}")
    if not _compiled(cls)[0](contract, {} if memo is None else memo):
        _check_slow(contract)  # says which field (the fast check only says whether)
        raise ContractError(f"通知 {kind} 的内容不符合 {cls.__name__}")


# ------------------------------------------------------------------------------- plain dict and back


def to_plain(contract: Any, memo: dict[int, Any] | None = None) -> dict[str, Any]:
    """The contract as the outbox stores it: JSON values only (tuples as lists, nested as dicts)."""
    return _compiled(type(contract))[1](contract, {} if memo is None else memo)


def from_plain(kind: str, data: Mapping[str, Any]) -> Any:
    """Rebuild and check a stored context; ContractError naming the first missing or wrong field."""
    return _build(contract_for(kind), data, kind)


def _build(cls: type[Any], data: Mapping[str, Any], kind: str) -> Any:
    if not isinstance(data, Mapping):
        raise ContractError(f"通知 {kind} 的内容不是对象：{type(data).__name__}")
    fields = _fields(cls)
    names = {f.name for f in fields}
    missing = [f.name for f in fields if f.name not in data]
    if missing:
        raise ContractError(f"通知 {kind} 缺少字段：{'、'.join(field_label(n) for n in missing)}")
    extra = sorted(str(k) for k in data if k not in names)
    if extra:
        raise ContractError(f"通知 {kind} 有契约之外的字段：{'、'.join(extra)}")
    values: dict[str, Any] = {}
    for f in fields:
        value = data[f.name]
        if f.item is not None and isinstance(value, list | tuple):
            if dataclasses.is_dataclass(f.item):
                value = tuple(_build(f.item, v, kind) for v in value)
            else:
                value = tuple(value)
        values[f.name] = value
    built = cls(**values)
    check(built)
    return built
