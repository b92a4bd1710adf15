"""What every command needs, built once per process (`Runtime`), and one transaction of it (`UnitOfWork`).

`Runtime` holds the configuration, the engine, the working-day calendar, the clock and the announcer
(how committed changes reach Prefect as events). `Runtime.unit()` opens one transaction; a command
records the events it wants announced with `uow.announce(...)`, and they are sent only after the
commit (a rolled-back change announces nothing).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from domain.calendar import WorkingCalendar
from models.db import read_scope, session_scope
from services.announce import Announcer, no_announcer
from settings.config import Config


def utcnow() -> datetime:
    """The system clock, timezone-aware UTC: the one definition. A Runtime without its own clock
    reads it through this module at each call, so a test may replace it here (tests/api/support.py)."""
    return datetime.now(UTC)


@dataclass
class UnitOfWork:
    """One transaction: its session, the configuration and calendar, the instant it runs at, and the
    events to announce once it commits."""

    session: Session
    config: Config
    calendar: WorkingCalendar
    now: datetime
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def announce(self, event: str, out: dict[str, Any]) -> None:
        """Announce `event` (with the command's plain-valued result) after the commit."""
        self.events.append((event, out))


@dataclass
class Runtime:
    """The process's configuration, engine, calendar, clock and announcer."""

    config: Config
    engine: Engine
    clock: Callable[[], datetime] | None = None  # None: the system clock, `utcnow`
    announcer: Announcer = no_announcer

    def now(self) -> datetime:
        """This runtime's current instant (its clock, else `utcnow` looked up at the call)."""
        return self.clock() if self.clock is not None else utcnow()

    @cached_property
    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(overrides=self.config.calendar_overrides)

    @cached_property
    def _sqlite_lock(self) -> threading.Lock:
        return threading.Lock()

    @contextmanager
    def serial(self) -> Iterator[None]:
        """On SQLite, one transaction at a time in this process.

        Every SQLite transaction here starts with BEGIN IMMEDIATE (models/db.py); threads that collide
        wait in SQLite's busy handler, which sleeps in steps of up to 100 ms. Queueing on a lock
        instead hands the database over as soon as it is free (bench/bench_api.py). PostgreSQL needs
        no such lock.
        """
        if self.engine.dialect.name != "sqlite":
            yield
            return
        with self._sqlite_lock:
            yield

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction for reading or for a store call outside any command (serialised on SQLite)."""
        with self.serial(), session_scope(self.engine) as session:
            yield session

    @contextmanager
    def lookup(self) -> Iterator[Session]:
        """Reads that must not queue behind this process's writers (a request's sign-in check): not
        serialised, no write lock (models/db.read_scope)."""
        with read_scope(self.engine) as session:
            yield session

    @contextmanager
    def unit(self, *, now: datetime | None = None) -> Iterator[UnitOfWork]:
        """One transaction; its events are announced after it commits."""
        with self.serial(), session_scope(self.engine) as session:
            uow = UnitOfWork(session=session, config=self.config, calendar=self.calendar,
                             now=now or self.now())
            yield uow
        self.publish(uow.events)

    def publish(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Hand committed events to the announcer (Runtime.unit does this after its commit)."""
        for event, out in events:
            self.announcer(event, out)
