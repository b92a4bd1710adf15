"""Tests of complaint classification: codes, defaults, severity, triage and escalation."""

import pytest

from domain.classification import MAJOR_GROUP_SIZE, ClassificationInput, classify
from domain.taxonomy import SensitiveTag, Severity, Source


def make(**changes: object) -> ClassificationInput:
    values: dict[str, object] = {
        "source": Source.DESK,
        "channel": "营业现场",
        "category": "银行卡",
        "cause": "定价收费",
        "severity": None,
        "group_size": 1,
        "tags": frozenset(),
    }
    values.update(changes)
    return ClassificationInput(**values)  # type: ignore[arg-type]


def test_complete_input_resolves_to_codes() -> None:
    """Names and codes resolve to our codes, no triage, ordinary severity."""
    c = classify(make(channel="a0303", cause="C07"))
    assert (c.channel, c.category, c.cause) == ("A0303", "B03", "C07")
    assert c.severity is Severity.ORDINARY
    assert not c.triage
    assert c.triage_reasons == ()
    assert not c.escalate_at_once


@pytest.mark.parametrize(
    ("source", "channel"),
    [(Source.DESK, "A01"), (Source.HOTLINE, "A0302"), (Source.ONLINE, "A0303")],
)
def test_missing_channel_defaults_from_source(source: Source, channel: str) -> None:
    """A missing or blank channel defaults from the source without triage."""
    assert classify(make(source=source, channel=None)).channel == channel
    c = classify(make(source=source, channel="  "))
    assert c.channel == channel
    assert not c.triage


def test_missing_channel_without_default_is_a_data_gap_not_triage() -> None:
    """A letter with no channel is still routed by its category; the gap is recorded."""
    c = classify(make(source=Source.LETTER, channel=None))
    assert c.channel is None
    assert not c.triage
    assert c.data_gaps == ("缺少办理渠道（channel missing）",)


def test_unknown_values_give_one_reason_each_and_only_category_triages() -> None:
    """Each unknown dimension gives its own Chinese-first reason; an unknown category sends it to triage."""
    c = classify(make(channel="飞鸽传书", category="外星业务", cause=None))
    assert (c.channel, c.category, c.cause) == (None, None, None)
    assert c.triage
    assert c.triage_reasons == ("业务类别「外星业务」不在 JR/T 0169 B 类中（unknown category）",)
    assert c.data_gaps == (
        "办理渠道「飞鸽传书」不在 JR/T 0169 A 类中（unknown channel）",
        "缺少投诉原因（cause missing）",
    )


def test_given_channel_wins_over_source_default() -> None:
    """An explicit channel is kept even when the source has a default."""
    assert classify(make(source=Source.HOTLINE, channel="短信")).channel == "A0305"


@pytest.mark.parametrize(
    ("given", "group_size", "expected"),
    [
        (None, 1, Severity.ORDINARY),
        (Severity.COMPLEX, 1, Severity.COMPLEX),
        (Severity.MAJOR, 1, Severity.MAJOR),
        (None, MAJOR_GROUP_SIZE - 1, Severity.ORDINARY),
        (None, MAJOR_GROUP_SIZE, Severity.MAJOR),
        (Severity.COMPLEX, 35, Severity.MAJOR),
    ],
)
def test_severity(given: Severity | None, group_size: int, expected: Severity) -> None:
    """20 or more complainants together, or MAJOR given, make the case major; else given or ordinary."""
    assert MAJOR_GROUP_SIZE == 20
    assert classify(make(severity=given, group_size=group_size)).severity is expected


@pytest.mark.parametrize("source", [Source.NFRA, Source.PBOC, Source.PETITION])
def test_regulator_forwarded_escalates(source: Source) -> None:
    """Complaints forwarded by a regulator are flagged and escalate at once."""
    c = classify(make(source=source))
    assert c.regulator_forwarded
    assert c.escalate_at_once


@pytest.mark.parametrize(
    ("tags", "escalate"),
    [
        (frozenset({SensitiveTag.PUBLIC_OPINION}), True),
        (frozenset({SensitiveTag.JUDICIAL}), True),
        (frozenset({SensitiveTag.REGULATORY}), True),
        (frozenset({SensitiveTag.EMOTIONAL}), False),
        (frozenset(), False),
    ],
)
def test_sensitive_tags_escalate_except_emotional(
    tags: frozenset[SensitiveTag], escalate: bool
) -> None:
    """舆情/司法/监管 escalate at once; 情绪激动 alone does not; tags are kept."""
    c = classify(make(source=Source.MEDIA, tags=tags))
    assert c.tags == tags
    assert not c.regulator_forwarded
    assert c.escalate_at_once is escalate


def test_major_escalates_at_once() -> None:
    """A major case escalates at once."""
    assert classify(make(group_size=25)).escalate_at_once
