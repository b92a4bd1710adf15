"""The one jinja2 Environment of the pages: autoescaped, with filters for dates and names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from api.serialize import local_text
from domain.field_names import PERSON_FIELDS
from domain.lifecycle import STATUS_NAMES, Status
from domain.taxonomy import (
    SEVERITY_NAMES,
    SOURCE_NAMES,
    TAG_NAMES,
    Dimension,
    SensitiveTag,
    Severity,
    Source,
    name_of,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"

ACTION_NAMES = {
    "received": "受理登记", "routed": "分派", "acknowledged": "确认受理", "responded": "答复", "closed": "办结",
    "withdrawn": "撤诉", "review_opened": "核查", "reopened": "重新处理", "clock_paused": "中止计时",
    "clock_resumed": "恢复计时", "clock_restarted": "新事实重新计时", "extension_approved": "延期",
    "escalated": "督办升级", "escalation_acknowledged": "确认督办", "viewed_personal_data": "查看个人信息",
    "assigned": "指派",
}
NOTICE_NAMES = {"written": "书面", "sms": "短信", "email": "电子邮件", "phone": "电话"}


def _status(value: str) -> str:
    try:
        return STATUS_NAMES[Status(value)]
    except ValueError:
        return value


def _severity(value: str) -> str:
    try:
        return SEVERITY_NAMES[Severity(value)]
    except ValueError:
        return value


def _source(value: str) -> str:
    try:
        return SOURCE_NAMES[Source(value)]
    except ValueError:
        return value


def _tag(value: str) -> str:
    try:
        return TAG_NAMES[SensitiveTag(value)]
    except ValueError:
        return value


def _term(code: str | None, dimension: str) -> str:
    if not code:
        return "—"
    try:
        return name_of(Dimension(dimension), code)
    except KeyError:
        return code


def build_env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    filters: dict[str, Any] = {
        "local": local_text, "status_name": _status, "severity_name": _severity, "source_name": _source,
        "tag_name": _tag, "term": _term, "action_name": lambda a: ACTION_NAMES.get(a, a),
        "notice_name": lambda v: NOTICE_NAMES.get(v, v), "field_name": lambda k: PERSON_FIELDS.get(k, k),
    }
    env.filters.update(filters)
    return env


ENV = build_env()
