"""Tests of the JR/T 0169 taxonomy, sources, severity and tags."""

import pytest

from domain.taxonomy import (
    CATEGORIES,
    CAUSES,
    CHANNELS,
    DEFAULT_CHANNEL_FOR_SOURCE,
    REGULATOR_SOURCES,
    SEVERITY_NAMES,
    SOURCE_NAMES,
    TAG_NAMES,
    Dimension,
    SensitiveTag,
    Severity,
    Source,
    name_of,
    parse_enum,
    resolve,
)


def test_categories_follow_the_standard_order() -> None:
    """The 14 business categories are B01..B14 in regulation.md order, 其他 last as B14."""
    assert len(CATEGORIES) == 14
    assert [t.code for t in CATEGORIES] == [f"B{i:02d}" for i in range(1, 15)]
    assert CATEGORIES[0].name == "人民币储蓄"
    assert CATEGORIES[12].name == "债务催收"
    assert CATEGORIES[13].name == "其他"


def test_causes_are_twelve_plus_other() -> None:
    """Causes are C01..C12 in the standard's order and 其他 is C99."""
    assert [t.code for t in CAUSES] == [f"C{i:02d}" for i in range(1, 13)] + ["C99"]
    assert CAUSES[0].name == "服务态度及服务质量"
    assert CAUSES[11].name == "债务催收方式和手段"
    assert CAUSES[-1].name == "其他"


def test_channel_codes_and_names() -> None:
    """The channel list has the agreed codes, electronic sub-channels included."""
    assert {t.code: t.name for t in CHANNELS} == {
        "A01": "营业现场",
        "A02": "自助机具",
        "A03": "电子渠道",
        "A0301": "网银",
        "A0302": "电话",
        "A0303": "移动客户端",
        "A0304": "网络公众平台",
        "A0305": "短信",
        "A0399": "电子渠道-其他",
        "A04": "第三方渠道",
        "A99": "其他",
        "A05": "中后台业务渠道",
    }


def test_codes_are_unique_per_dimension() -> None:
    """No code or name appears twice within a dimension."""
    for terms in (CHANNELS, CATEGORIES, CAUSES):
        assert len({t.code for t in terms}) == len(terms)
        assert len({t.name for t in terms}) == len(terms)


@pytest.mark.parametrize(
    ("dimension", "value", "code"),
    [
        (Dimension.CHANNEL, "a0302", "A0302"),
        (Dimension.CHANNEL, "电话", "A0302"),
        (Dimension.CHANNEL, "电子渠道-电话", "A0302"),
        (Dimension.CHANNEL, " 移动客户端 ", "A0303"),
        (Dimension.CHANNEL, "电子渠道-其他", "A0399"),
        (Dimension.CHANNEL, "其他", "A99"),
        (Dimension.CATEGORY, "银行卡", "B03"),
        (Dimension.CATEGORY, "b14", "B14"),
        (Dimension.CAUSE, "定价收费", "C07"),
        (Dimension.CAUSE, "C99", "C99"),
    ],
)
def test_resolve_accepts_codes_and_names(dimension: Dimension, value: str, code: str) -> None:
    """resolve maps our code in any case, the exact name and sub-channel spellings to the term."""
    term = resolve(dimension, value)
    assert term is not None
    assert term.code == code


@pytest.mark.parametrize(
    ("dimension", "value"),
    [
        (Dimension.CATEGORY, "外星业务"),
        (Dimension.CATEGORY, "A01"),
        (Dimension.CHANNEL, ""),
        (Dimension.CHANNEL, "电子渠道-营业现场"),
        (Dimension.CAUSE, "银行"),
    ],
)
def test_resolve_rejects_unknown_values(dimension: Dimension, value: str) -> None:
    """resolve returns None for values not in that dimension, including another dimension's code."""
    assert resolve(dimension, value) is None


def test_name_of_known_and_unknown() -> None:
    """name_of gives the Chinese name of a code and raises KeyError for an unknown one."""
    assert name_of(Dimension.CATEGORY, "B06") == "个人金融信息"
    with pytest.raises(KeyError):
        name_of(Dimension.CATEGORY, "B15")


def test_sources_names_regulators_and_default_channels() -> None:
    """Every source has a Chinese name; regulators are NFRA/PBoC/信访; three sources default a channel."""
    assert set(SOURCE_NAMES) == set(Source)
    assert SOURCE_NAMES[Source.NFRA] == "金融监管总局转办"
    assert REGULATOR_SOURCES == {Source.NFRA, Source.PBOC, Source.PETITION}
    assert dict(DEFAULT_CHANNEL_FOR_SOURCE) == {
        Source.DESK: "A01",
        Source.HOTLINE: "A0302",
        Source.ONLINE: "A0303",
    }
    for code in DEFAULT_CHANNEL_FOR_SOURCE.values():
        assert resolve(Dimension.CHANNEL, code) is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("major", Severity.MAJOR),
        ("重大", Severity.MAJOR),
        (" Complex ", Severity.COMPLEX),
        ("特大", None),
    ],
)
def test_parse_enum_severity(value: str, expected: Severity | None) -> None:
    """parse_enum accepts the English value (any case) or the Chinese name, else None."""
    assert parse_enum(Severity, SEVERITY_NAMES, value) is expected


def test_parse_enum_tags_and_sources() -> None:
    """parse_enum works for any StrEnum with its name table."""
    assert parse_enum(SensitiveTag, TAG_NAMES, "情绪激动") is SensitiveTag.EMOTIONAL
    assert parse_enum(Source, SOURCE_NAMES, "信件/邮箱") is Source.LETTER
    assert parse_enum(Source, SOURCE_NAMES, "card_center") is Source.CARD_CENTER
    assert parse_enum(Source, SOURCE_NAMES, "银行") is None
