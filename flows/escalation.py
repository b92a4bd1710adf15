"""Escalation sweep: every case whose next level is due goes up the 一把手 chain, once per level.

One run: schedule new complaints (ids above the cursor, a page per transaction, at most
`schedule_limit` a run, by default the policy's `schedule_per_sweep`: a bulk import is scheduled
over several runs) → in batches, each one transaction (`services.escalation.sweep_batch`): claim
the due cases (`escalation_schedule.next_at <= now`, SKIP LOCKED on PostgreSQL, single writer on
SQLite) → load (the store) → plan (pure, `domain.sweep.plan_sweep`: levels, recipients, wording)
→ apply (the store): one escalation row per (complaint, level) ON CONFLICT DO NOTHING and act only
on rows inserted (audit events, outbox messages), the case's next time → commit → emit
`complaint.escalated`. Then, once per local day, the digest of still-unacknowledged escalations
per supervisor (`services.escalation.send_digests`: load → `domain.sweep.plan_digests` → queue).

A run whose sweep left new complaints unscheduled (a bulk import) sweeps again at once, each
sweep as bounded as the first, until none is left or `BACKLOG_SECONDS` have passed: a 1M import is
scheduled within one run, not over dozens of runs five minutes apart, and no sweep is long.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from sqlalchemy import Engine

from domain.calendar import WorkingCalendar
from domain.sweep import SweepMemo
from flows.events import emit
from flows.workers import in_workers
from models.db import gc_paused, make_engine, session_scope
from models.escalation_loads import memo_for
from models.escalation_schedule import SCHEDULE_SECONDS, recheck_young, schedule_page
from models.escalation_store import FiredEscalation
from services.escalation import send_digests, sweep_batch
from services.unit_of_work import UnitOfWork
from settings.config import Config, load_config


@dataclass
class EscalationResult:
    scheduled: int = 0
    checked: int = 0
    fired: int = 0
    digests: int = 0
    batches: int = 0
    events: int = 0
    backlog: bool = False  # new complaints were left unscheduled (the limit or the time ran out)
    sweeps: int = 1
    per_level: dict[str, int] = field(default_factory=dict)
    escalations: list[FiredEscalation] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"scheduled": self.scheduled, "checked": self.checked, "fired": self.fired,
                "per_level": dict(sorted(self.per_level.items())), "digests": self.digests,
                "batches": self.batches, "events": self.events, "backlog": self.backlog, "sweeps": self.sweeps}

    def add(self, other: EscalationResult) -> None:
        """Another sweep of the same run; `backlog` is the last sweep's."""
        for name in ("scheduled", "checked", "fired", "digests", "batches", "events", "sweeps"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for level, n in other.per_level.items():
            self.per_level[level] = self.per_level.get(level, 0) + n
        self.escalations.extend(other.escalations)
        self.backlog = other.backlog


def emit_escalated(fired: list[FiredEscalation]) -> int:
    sent = 0
    for f in fired:
        related = [("recipient", f"person.{p}") for p in f.recipients]
        payload = {"level": f.level, "name": f.name, "late_days": f.late_days, "recipients": list(f.recipients)}
        sent += emit("complaint.escalated", case_no=f.case_no, related=related, payload=payload)
    return sent


def run_escalation(engine: Engine, config: Config, *, now: datetime | None = None,
                   calendar: WorkingCalendar | None = None, batch_size: int | None = None,
                   event_batch_limit: int | None = None, schedule_limit: int | None = None,
                   schedule_seconds: float = SCHEDULE_SECONDS) -> EscalationResult:
    """One sweep. Plain Python: the flow, the CLI, the tests and the benchmark call it.

    `schedule_limit` / `schedule_seconds`: about how many new complaints this sweep schedules
    (default: the policy's `schedule_per_sweep`), and for how long at most (the rest wait for the
    next sweeps; a page of the policy's `schedule_page` per transaction, at least one page a sweep).

    The cyclic collector is paused for the sweep, as for submit and intake batches (`gc_paused`):
    full collections re-scanned every object of the process (~200,000) several times a sweep.
    """
    with gc_paused():
        return _sweep(engine, config, now=now, calendar=calendar, batch_size=batch_size,
                      event_batch_limit=event_batch_limit, schedule_limit=schedule_limit,
                      schedule_seconds=schedule_seconds)


def schedule_new(engine: Engine, config: Config, memo: SweepMemo, at: datetime, limit: int,
                 seconds: float = SCHEDULE_SECONDS) -> tuple[int, bool]:
    """Schedule new complaints: the young ones again, then pages above the cursor, each page its
    own transaction (the cursor moves with it), until none is left, about `limit` were seen or
    `seconds` have passed (at least one page a sweep): the rest waits for the next sweeps.
    (How many were looked at, whether some may be left.)"""
    start = time.perf_counter()
    page_size = config.escalation.policy().schedule_page
    with session_scope(engine) as session:
        seen = recheck_young(session, config=config, memo=memo, now=at)
    pages = 0
    while seen < limit:
        if pages and time.perf_counter() - start >= seconds:
            return seen, True
        pages += 1
        with session_scope(engine) as session:
            page = min(page_size, limit - seen)
            n = schedule_page(session, config=config, memo=memo, now=at, page=page)
        seen += n
        if n < page:  # none left above the cursor
            return seen, False
    return seen, True


@contextmanager
def _unit(engine: Engine, config: Config, cal: WorkingCalendar, at: datetime) -> Iterator[UnitOfWork]:
    """One transaction of the run, at the run's instant and calendar (the flow announces its own events)."""
    with session_scope(engine) as session:
        yield UnitOfWork(session=session, config=config, calendar=cal, now=at)


def _drain(engine: Engine, config: Config, cal: WorkingCalendar, memo: SweepMemo, at: datetime,
           size: int) -> list[tuple[int, list[FiredEscalation]]]:
    """Batches (claim → load → plan → apply, `sweep_batch`) until none is due; each one transaction."""
    batches: list[tuple[int, list[FiredEscalation]]] = []
    while True:
        with _unit(engine, config, cal, at) as uow:
            checked, fired = sweep_batch(uow, size=size, memo=memo)
        if not checked:
            return batches
        batches.append((checked, fired))


def _drain_due(engine: Engine, config: Config, cal: WorkingCalendar, memo: SweepMemo, at: datetime, size: int,
               workers: int) -> list[tuple[int, list[FiredEscalation]]]:
    """Every due batch, by `workers` threads at once (PostgreSQL).

    A batch is Python work (decide, contexts, hashes) and then database work; with two batches
    in flight one's statements run while the other's Python does. `claim_due` takes disjoint
    cases (FOR UPDATE SKIP LOCKED); the audit head lock (taken last in `apply_sweep`, held to
    commit) keeps the chain in one order. A failing batch rolls back alone and is raised after
    the others finish; its cases stay due for the next sweep.
    """
    drained = in_workers(workers, lambda: _drain(engine, config, cal, memo, at, size), name="escalation-sweep")
    return [batch for batches in drained for batch in batches]


def _sweep(engine: Engine, config: Config, *, now: datetime | None, calendar: WorkingCalendar | None,
           batch_size: int | None, event_batch_limit: int | None, schedule_limit: int | None,
           schedule_seconds: float) -> EscalationResult:
    at = (now or datetime.now(UTC)).astimezone(UTC)
    cal = calendar or WorkingCalendar(overrides=config.calendar_overrides)
    sweep = config.escalation.sweep
    size = batch_size or sweep.batch_size
    limit = sweep.event_batch_limit if event_batch_limit is None else event_batch_limit
    result = EscalationResult()
    memo = memo_for(config, cal, at)  # one per run, shared by its batches
    per_sweep = config.escalation.policy().schedule_per_sweep if schedule_limit is None else schedule_limit
    result.scheduled, result.backlog = schedule_new(engine, config, memo, at, per_sweep, schedule_seconds)
    pending_events: list[FiredEscalation] = []
    workers = sweep.workers if engine.dialect.name == "postgresql" else 1
    for checked, fired in _drain_due(engine, config, cal, memo, at, size, workers):
        result.batches += 1
        result.checked += checked
        result.fired += len(fired)
        for f in fired:
            result.per_level[f"L{f.level}"] = result.per_level.get(f"L{f.level}", 0) + 1
        result.escalations.extend(fired)
        if len(pending_events) <= limit:
            pending_events.extend(fired)
    if result.fired <= limit:
        result.events += emit_escalated(pending_events)
    elif result.fired:
        result.events += emit("complaint.escalated.summary", payload=result.as_dict())
    with _unit(engine, config, cal, at) as uow:
        result.digests = send_digests(uow)
    return result


BACKLOG_SECONDS = 120.0  # a run keeps sweeping an import's backlog this long (the interval is 300 s)


def run_until_scheduled(engine: Engine, config: Config, *, now: datetime | None = None,
                        calendar: WorkingCalendar | None = None, seconds: float = BACKLOG_SECONDS,
                        clock: Callable[[], float] = time.monotonic,
                        on_sweep: Callable[[EscalationResult, float], object] | None = None) -> EscalationResult:
    """Sweeps one after another while new complaints are left unscheduled, for at most `seconds`
    (what the flow runs). Each sweep is as bounded as one alone; with `now` fixed (tests, a replay)
    every sweep uses it, else each its own current time. `on_sweep(result, seconds)` after each."""
    started = clock()
    total: EscalationResult | None = None
    while total is None or (total.backlog and clock() - started < seconds):
        began = clock()
        result = run_escalation(engine, config, now=now, calendar=calendar)
        if on_sweep is not None:
            on_sweep(result, clock() - began)
        if total is None:
            total = result
        else:
            total.add(result)
    return total


@flow(name="escalation", log_prints=False)
def escalation(now: str | None = None) -> dict[str, Any]:
    """Escalate every case whose next level is due (one run for all; no run per complaint)."""
    logger = get_run_logger()
    config = load_config()
    engine = make_engine()
    try:
        at = datetime.fromisoformat(now) if now else None
        if at is not None and at.utcoffset() is None:
            raise ValueError(f"now: {now!r} has no UTC offset")
        result = run_until_scheduled(engine, config, now=at)
    finally:
        engine.dispose()
    logger.info("escalation: %d sweeps, %d scheduled, %d cases checked, %d levels fired %s, %d digests%s",
                result.sweeps, result.scheduled, result.checked, result.fired, result.per_level, result.digests,
                "; new complaints still to schedule (next run)" if result.backlog else "")
    return result.as_dict()
