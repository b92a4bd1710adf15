"""The CLI's wiring: `open_app` builds the process's Runtime (services/unit_of_work.py: config, engine,
calendar, clock, the Prefect announcer); `App` is that Runtime. Plus the CLI's JSON and --now helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from domain.deadlines import SHANGHAI
from flows.announcer import prefect_announcer
from models.db import make_engine, migrate
from services.unit_of_work import Runtime, utcnow
from settings.config import load_config

App = Runtime  # the CLI's name for the process's Runtime


@contextmanager
def open_app(*, migrate_schema: bool = True) -> Iterator[App]:
    config = load_config()
    engine = make_engine()
    try:
        if migrate_schema:
            migrate(engine)
        yield Runtime(config, engine, announcer=prefect_announcer)
    finally:
        engine.dispose()


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


__all__ = ["App", "open_app", "parse_when", "to_json", "utcnow"]
