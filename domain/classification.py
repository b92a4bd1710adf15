"""Classification of a complaint: JR/T 0169 A/B/C codes, severity, sensitive tags, triage.

Never raises and never drops a complaint: a dimension that is missing or not in the standard
sends the complaint to manual triage (人工分类) with one reason per problem, and the code is
left None. A missing channel is first defaulted from the source (网点现场 → 营业现场, …).

Severity is 重大 (MAJOR) when 20 or more complainants come together (NFRA Art. 29) or when it
was given as MAJOR; otherwise it is what was given, or 普通 (ORDINARY).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.taxonomy import (
    DEFAULT_CHANNEL_FOR_SOURCE,
    REGULATOR_SOURCES,
    SENSITIVE_TAGS,
    Dimension,
    SensitiveTag,
    Severity,
    Source,
    resolve,
)

MAJOR_GROUP_SIZE = 20  # NFRA Art. 29 (2): 20 or more complainants in person together

_IMMEDIATE_TAGS = frozenset(SENSITIVE_TAGS)

_DIMENSION_LABELS = {
    Dimension.CHANNEL: ("办理渠道", "A"),
    Dimension.CATEGORY: ("业务类别", "B"),
    Dimension.CAUSE: ("投诉原因", "C"),
}


@dataclass(frozen=True)
class ClassificationInput:
    source: Source
    channel: str | None
    category: str | None
    cause: str | None
    severity: Severity | None
    group_size: int
    tags: frozenset[SensitiveTag]


@dataclass(frozen=True)
class Classification:
    channel: str | None  # our codes, None when unknown
    category: str | None
    cause: str | None
    severity: Severity
    tags: frozenset[SensitiveTag]
    regulator_forwarded: bool
    triage: bool
    triage_reasons: tuple[str, ...]
    # A missing or unknown channel or cause does not stop routing by category: it is a data gap
    # the handler completes (JR/T 0169 statistics need it), recorded with the case.
    data_gaps: tuple[str, ...] = ()

    @property
    def escalate_at_once(self) -> bool:
        """Goes straight up the chain: major, sensitive (舆情/司法/监管) or regulator-forwarded."""
        return (
            self.severity is Severity.MAJOR
            or bool(self.tags & _IMMEDIATE_TAGS)
            or self.regulator_forwarded
        )


def _code(dimension: Dimension, value: str | None, reasons: list[str]) -> str | None:
    label, letter = _DIMENSION_LABELS[dimension]
    if value is None or not value.strip():
        reasons.append(f"缺少{label}（{dimension.value} missing）")
        return None
    term = resolve(dimension, value)
    if term is None:
        reasons.append(
            f"{label}「{value.strip()}」不在 JR/T 0169 {letter} 类中（unknown {dimension.value}）"
        )
        return None
    return term.code


def classify(inp: ClassificationInput) -> Classification:
    """Resolve the codes, decide severity and whether the complaint needs manual triage."""
    reasons: list[str] = []
    gaps: list[str] = []
    channel_value = inp.channel
    if channel_value is None or not channel_value.strip():
        channel_value = DEFAULT_CHANNEL_FOR_SOURCE.get(inp.source)
    channel = _code(Dimension.CHANNEL, channel_value, gaps)
    category = _code(Dimension.CATEGORY, inp.category, reasons)
    cause = _code(Dimension.CAUSE, inp.cause, gaps)
    if inp.group_size >= MAJOR_GROUP_SIZE or inp.severity is Severity.MAJOR:
        severity = Severity.MAJOR
    else:
        severity = inp.severity or Severity.ORDINARY
    return Classification(
        channel=channel,
        category=category,
        cause=cause,
        severity=severity,
        tags=inp.tags,
        regulator_forwarded=inp.source in REGULATOR_SOURCES,
        triage=bool(reasons),
        triage_reasons=tuple(reasons),
        data_gaps=tuple(gaps),
    )
