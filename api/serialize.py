"""Datetimes are stored in UTC and shown in Asia/Shanghai (+08:00)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.deadlines import SHANGHAI


def local(value: Any) -> Any:
    """The same structure with every datetime in Asia/Shanghai."""
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI)
    if isinstance(value, dict):
        return {k: local(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [local(v) for v in value]
    return value


def local_text(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(SHANGHAI).strftime(fmt) if value is not None else ""
