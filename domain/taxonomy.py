"""Complaint taxonomy: JR/T 0169-2018 dimensions, sources, severity and sensitive tags.

JR/T 0169-2018 《金融消费者投诉统计分类及编码 银行业金融机构》 classifies a complaint along three
dimensions: A 办理渠道 (channel), B 业务类别 (business category) and C 投诉原因 (cause). The
*names* below are the standard's (regulation.md §2); the *codes* (A01, B14, C99, …) are this
project's own. The standard's numeric codes were not found, so these codes must not be
reported as the standard's codes.

Sub-channels of 电子渠道 carry the parent's code plus two digits (A0301 网银 …); their full name
in the standard's style is "电子渠道-网银", and `resolve` also accepts the bare "网银".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar


@dataclass(frozen=True)
class Term:
    code: str  # the project's own code, not the standard's
    name: str  # the standard's Chinese name


class Dimension(StrEnum):
    CHANNEL = "channel"
    CATEGORY = "category"
    CAUSE = "cause"


ELECTRONIC_PARENT = "电子渠道"

CHANNELS: tuple[Term, ...] = (
    Term("A01", "营业现场"),
    Term("A02", "自助机具"),
    Term("A03", ELECTRONIC_PARENT),
    Term("A0301", "网银"),
    Term("A0302", "电话"),
    Term("A0303", "移动客户端"),
    Term("A0304", "网络公众平台"),
    Term("A0305", "短信"),
    Term("A0399", "电子渠道-其他"),
    Term("A04", "第三方渠道"),
    Term("A99", "其他"),
    Term("A05", "中后台业务渠道"),
)

CATEGORIES: tuple[Term, ...] = tuple(
    Term(f"B{i:02d}", name)
    for i, name in enumerate(
        (
            "人民币储蓄",
            "贷款",
            "银行卡",
            "支付结算",
            "人民币管理",
            "个人金融信息",
            "外汇",
            "国库",
            "贵金属",
            "自营理财",
            "银行代理业务",
            "其他中间业务",
            "债务催收",
            "其他",
        ),
        start=1,
    )
)

CAUSES: tuple[Term, ...] = (
    *(
        Term(f"C{i:02d}", name)
        for i, name in enumerate(
            (
                "服务态度及服务质量",
                "服务设施、设备、业务系统",
                "管理制度、业务规则与流程",
                "营销方式和手段",
                "信息披露",
                "自主选择权",
                "定价收费",
                "产品收益",
                "合同条款",
                "消费者资金安全",
                "消费者信息安全",
                "债务催收方式和手段",
            ),
            start=1,
        )
    ),
    Term("C99", "其他"),
)

_TERMS: Mapping[Dimension, tuple[Term, ...]] = {
    Dimension.CHANNEL: CHANNELS,
    Dimension.CATEGORY: CATEGORIES,
    Dimension.CAUSE: CAUSES,
}


def _build_index(dimension: Dimension) -> dict[str, Term]:
    """Every accepted spelling (upper-cased code, exact name, sub-channel aliases) → term."""
    index: dict[str, Term] = {}
    for term in _TERMS[dimension]:
        index[term.code.upper()] = term
        index[term.name] = term
    if dimension is Dimension.CHANNEL:
        for term in CHANNELS:
            if term.code.startswith("A03") and len(term.code) == 5:
                if term.name.startswith(f"{ELECTRONIC_PARENT}-"):
                    continue  # 电子渠道-其他: bare "其他" is the top-level A99
                index[f"{ELECTRONIC_PARENT}-{term.name}"] = term
    return index


_INDEX: Mapping[Dimension, Mapping[str, Term]] = {d: _build_index(d) for d in Dimension}
_BY_CODE: Mapping[Dimension, Mapping[str, Term]] = {
    d: {t.code: t for t in terms} for d, terms in _TERMS.items()
}


def resolve(dimension: Dimension, value: str) -> Term | None:
    """The term for our code (any case) or the standard's Chinese name; None when unknown."""
    key = value.strip()
    if not key:
        return None
    index = _INDEX[dimension]
    return index.get(key) or index.get(key.upper())


def name_of(dimension: Dimension, code: str) -> str:
    """The Chinese name of one of our codes; KeyError when the code is unknown."""
    return _BY_CODE[dimension][code].name


class Source(StrEnum):
    DESK = "desk"
    HOTLINE = "hotline"
    ONLINE = "online"
    LETTER = "letter"
    CARD_CENTER = "card_center"
    NFRA = "nfra"
    PBOC = "pboc"
    PETITION = "petition"
    MEDIA = "media"


SOURCE_NAMES: Mapping[Source, str] = {
    Source.DESK: "网点现场",
    Source.HOTLINE: "客服电话",
    Source.ONLINE: "线上渠道",
    Source.LETTER: "信件/邮箱",
    Source.CARD_CENTER: "信用卡中心",
    Source.NFRA: "金融监管总局转办",
    Source.PBOC: "人行转办",
    Source.PETITION: "信访转办",
    Source.MEDIA: "媒体",
}

REGULATOR_SOURCES: frozenset[Source] = frozenset({Source.NFRA, Source.PBOC, Source.PETITION})

DEFAULT_CHANNEL_FOR_SOURCE: Mapping[Source, str] = {
    Source.DESK: "A01",
    Source.HOTLINE: "A0302",
    Source.ONLINE: "A0303",
}


class Severity(StrEnum):
    ORDINARY = "ordinary"
    COMPLEX = "complex"
    MAJOR = "major"


SEVERITY_NAMES: Mapping[Severity, str] = {
    Severity.ORDINARY: "普通",
    Severity.COMPLEX: "复杂",
    Severity.MAJOR: "重大",
}


class SensitiveTag(StrEnum):
    PUBLIC_OPINION = "public_opinion"
    JUDICIAL = "judicial"
    REGULATORY = "regulatory"
    EMOTIONAL = "emotional"


# Tags that make a case urgent at once (classification) and escalate it sooner (escalation policy),
# and that put it on the weekly report's sensitive list: the one definition.
SENSITIVE_TAGS: tuple[SensitiveTag, ...] = (SensitiveTag.PUBLIC_OPINION, SensitiveTag.JUDICIAL, SensitiveTag.REGULATORY)
SENSITIVE_TAG_CODES: frozenset[str] = frozenset(t.value for t in SENSITIVE_TAGS)  # as stored (JSON text)
UNTRIAGED = "待分拣"  # a case no routing rule placed: the triage queue, shown where a category or department is

TAG_NAMES: Mapping[SensitiveTag, str] = {
    SensitiveTag.PUBLIC_OPINION: "舆情",
    SensitiveTag.JUDICIAL: "司法",
    SensitiveTag.REGULATORY: "监管",
    SensitiveTag.EMOTIONAL: "情绪激动",
}

E = TypeVar("E", bound=StrEnum)


def parse_enum(enum_cls: type[E], names: Mapping[E, str], value: str) -> E | None:
    """The member whose English value (any case) or Chinese name equals `value`, else None."""
    key = value.strip()
    try:
        return enum_cls(key.lower())  # the common case, a dict lookup
    except ValueError:
        pass
    for member, name in names.items():
        if key == name:
            return member
    return None
