"""Wiring shared by the CLI, the flows and (later) the API: config, engine, calendar, clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Engine

from complaints.config import Config, load_config
from domain.calendar import WorkingCalendar
from domain.deadlines import SHANGHAI
from models.db import make_engine, migrate


@dataclass
class App:
    config: Config
    engine: Engine

    @cached_property
    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(overrides=self.config.calendar_overrides)


@contextmanager
def open_app(*, migrate_schema: bool = True) -> Iterator[App]:
    config = load_config()
    engine = make_engine()
    try:
        if migrate_schema:
            migrate(engine)
        yield App(config, engine)
    finally:
        engine.dispose()


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_when(value: str | None) -> datetime:
    """An ISO 8601 instant with offset (for --now); naive values are refused."""
    if value is None:
        return utcnow()
    at = datetime.fromisoformat(value)
    if at.utcoffset() is None:
        raise ValueError(f"{value!r} has no UTC offset; write e.g. 2026-11-26T09:00:00+08:00")
    return at.astimezone(UTC)


def to_json(value: Any) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, datetime):
            return o.astimezone(SHANGHAI).isoformat()
        if hasattr(o, "model_dump"):
            return o.model_dump()
        raise TypeError(f"not JSON: {type(o).__name__}")

    return json.dumps(value, ensure_ascii=False, indent=2, default=default)
