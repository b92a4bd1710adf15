"""Datetimes are stored in UTC and shown in Asia/Shanghai (+08:00)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.deadlines import MINUTE_FORMAT, SHANGHAI, local_text


def local(value: Any) -> Any:
    """The same structure with every datetime in Asia/Shanghai."""
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI)
    if isinstance(value, dict):
        return {k: local(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [local(v) for v in value]
    return value


def local_filter(value: datetime | None, fmt: str = MINUTE_FORMAT) -> str:
    """The pages' `local` filter: `domain.deadlines.local_text`, nothing shown for no time."""
    return local_text(value, fmt) if value is not None else ""
