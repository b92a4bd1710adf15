"""Intake: route every pending complaint, in batches, in one flow run (DESIGN.md decision 2).

Each batch is one transaction: claim pending rows (SKIP LOCKED on PostgreSQL, single writer on
SQLite) → classify and route (pure) → update state, append audit events, queue outbox rows →
commit → emit `complaint.routed` events. A run that dies half way leaves routed batches committed
and the rest `received`; the next run picks up where the data says it is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run as flow_run_runtime
from sqlalchemy import Engine

from domain.intake import plan_batch, plan_messages
from flows.events import emit
from flows.workers import in_workers
from models.db import gc_paused, make_engine, session_scope
from models.routing_store import RoutedCase, apply_plans, claim_pending, count_pending, open_load
from settings.config import Config, load_config


@dataclass
class IntakeResult:
    routed: int = 0
    triage: int = 0
    batches: int = 0
    events: int = 0
    case_nos: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"routed": self.routed, "triage": self.triage, "batches": self.batches, "events": self.events}


def route_one_batch(engine: Engine, config: Config, *, batch_size: int, load: dict[str, int],
                    now: datetime | None = None, plan_lock: threading.Lock | None = None) -> list[RoutedCase]:
    """Claim, decide and apply one batch in one transaction; returns what was routed.

    `plan_lock` serialises the planning step when batches run in parallel: it updates `load`
    (open cases per handler), which the batches share.
    """
    with gc_paused(), session_scope(engine) as session:
        cases, raw = claim_pending(session, batch_size)
        if not cases:
            return []
        with plan_lock or nullcontext():
            plans = plan_batch(cases, org=config.org, table=config.routing, load=load)
        messages = plan_messages(plans, raw, org=config.org, case_link_base=config.policy.case_link_base)
        return apply_plans(session, plans, messages, config=config, now=now or datetime.now(UTC))


def emit_routed(routed: list[RoutedCase]) -> int:
    sent = 0
    for r in routed:
        related = [("department", f"department.{r.department_branch}.{r.department}")]
        related += [("handler", f"person.{r.handler}")] if r.handler else []
        related += [("watcher", f"person.{w}") for w in r.watchers]
        payload = {"department": r.department, "handler": r.handler, "severity": r.severity, "triage": r.triage}
        sent += emit("complaint.routed", case_no=r.case_no, related=related, payload=payload)
    return sent


def _drain(batch: Any, engine: Engine, config: Config, size: int, load: dict[str, int], now: datetime | None,
           plan_lock: threading.Lock, on_routed: Any) -> None:
    while True:
        routed = batch(engine, config, batch_size=size, load=load, now=now, plan_lock=plan_lock)
        if not routed:
            return
        on_routed(routed)


def run_intake(engine: Engine, config: Config, *, batch_size: int | None = None,
               event_batch_limit: int | None = None, now: datetime | None = None,
               on_batch: Any = None, workers: int | None = None) -> IntakeResult:
    """Route all pending complaints. Plain Python: the flow, the CLI and the benchmark call it.

    On PostgreSQL `workers` (default `policy.intake.workers`) batches are in flight at once on
    the same SKIP LOCKED claim: one batch's statements run while another's Python does; the
    audit chain's head lock orders their appends. SQLite: one batch at a time (single writer).
    Worker threads run in a copy of the caller's context, so inside a flow run each batch is
    still a task run of that flow.
    """
    size = batch_size or config.policy.intake.batch_size
    limit = config.policy.intake.event_batch_limit if event_batch_limit is None else event_batch_limit
    if engine.dialect.name != "postgresql":
        workers = 1
    workers = workers or config.policy.intake.workers
    with session_scope(engine) as session:
        pending = count_pending(session)
        load = open_load(session)
    per_case_events = pending <= limit
    result = IntakeResult()
    done = threading.Lock()

    def on_routed(routed: list[RoutedCase]) -> None:
        with done:
            result.batches += 1
            result.routed += len(routed)
            result.triage += sum(r.triage for r in routed)
            result.case_nos.extend(r.case_no for r in routed)
        if per_case_events:
            sent = emit_routed(routed)
            with done:
                result.events += sent

    batch = on_batch or route_one_batch
    plan_lock = threading.Lock()
    in_workers(1 if pending <= size else workers,
               lambda: _drain(batch, engine, config, size, load, now, plan_lock, on_routed), name="intake")
    if not per_case_events and result.routed:
        payload = {"routed": result.routed, "triage": result.triage, "batches": result.batches}
        result.events += emit("complaint.routed.summary", payload=payload,
                              resource={"prefect.resource.id": "complaint.intake-summary"})
    return result


@task(name="route-batch", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def route_batch_task(engine: Engine, config: Config, *, batch_size: int, load: dict[str, int],
                     now: datetime | None = None, plan_lock: threading.Lock | None = None) -> list[RoutedCase]:
    return route_one_batch(engine, config, batch_size=batch_size, load=load, now=now, plan_lock=plan_lock)


HOLD_POLL_SECONDS = 0.5  # how often a holding run looks for new pending complaints
ALIVE_SECONDS = 2.0  # how often a holding run says it is alive (prefect.yaml's takeover trigger)


def _add(total: IntakeResult, part: IntakeResult) -> None:
    total.routed += part.routed
    total.triage += part.triage
    total.batches += part.batches
    total.events += part.events
    total.case_nos.extend(part.case_nos)


def hold_and_route(engine: Engine, config: Config, *, until: datetime, batch_size: int | None = None,
                   event_batch_limit: int | None = None, on_batch: Any = None,
                   poll: float = HOLD_POLL_SECONDS, clock: Any = None, sleep: Any = time.sleep,
                   on_alive: Callable[[], object] | None = None, alive_every: float = ALIVE_SECONDS) -> IntakeResult:
    """Route what is pending, then keep routing what arrives until `until`, and once more after it.

    The run a trigger starts stands in for the events the trigger drops after firing (its
    `within` window, prefect.yaml): a complaint whose event fell in the window was committed
    before `until`, so the last pass after `until` sees it. Draining never stops while work is
    pending, whatever the time. Looking costs one indexed COUNT per `poll` seconds, no task run.
    `on_alive` is called every `alive_every` seconds while holding (the flow emits
    `complaint.intake.holding` so that another run takes over if this one dies).
    """
    now = clock or (lambda: datetime.now(UTC))
    total = IntakeResult()
    beat = [now() - timedelta(seconds=alive_every)]

    def alive() -> None:
        if on_alive is not None and (now() - beat[0]).total_seconds() >= alive_every:
            beat[0] = now()
            on_alive()

    while True:
        alive()
        _add(total, run_intake(engine, config, batch_size=batch_size, event_batch_limit=event_batch_limit,
                               on_batch=on_batch))
        if now() >= until:
            break
        while now() < until:
            alive()
            sleep(poll)
            with session_scope(engine) as session:
                if count_pending(session):
                    break
    return total


def hold_deadline(event_occurred: datetime | None, hold_seconds: float, hold_until: float | None,
                  *, started: datetime | None = None, hold_for: float = 0.0) -> datetime | None:
    """Until when a run holds: `hold_seconds` after its triggering event, the deadline of the run it
    takes over (`hold_until`, epoch seconds), or `hold_for` seconds after it `started` (the
    schedule's resident run), whichever is latest; None: no hold."""
    ends = []
    if started is not None and hold_for > 0:
        ends.append(started + timedelta(seconds=hold_for))
    if event_occurred is not None and hold_seconds > 0:
        occurred = event_occurred if event_occurred.tzinfo else event_occurred.replace(tzinfo=UTC)
        ends.append(occurred + timedelta(seconds=hold_seconds))
    if hold_until:
        ends.append(datetime.fromtimestamp(hold_until, UTC))
    return max(ends) if ends else None


def _announce_holding(until: datetime) -> Callable[[], object]:
    run_id = flow_run_runtime.get_id() or "local"
    resource = {"prefect.resource.id": f"complaint.intake-run.{run_id}"}
    return lambda: emit("complaint.intake.holding", resource=resource, payload={"until": until.timestamp()})


@flow(name="intake", log_prints=False)
def intake(batch_size: int | None = None, event_batch_limit: int | None = None,
           event_occurred: datetime | None = None, hold_seconds: float = 0.0,
           hold_until: float | None = None, hold_for: float = 0.0) -> dict[str, Any]:
    """Route every pending complaint in batches (one task run per batch, none per complaint).

    Started by the `complaint.submitted` trigger, it also holds: it keeps routing new arrivals
    until `hold_seconds` after the triggering event (`event_occurred`), covering the events the
    trigger ignores in its `within` window (docs/design.md, "Intake triggering"). The schedule's
    runs hold `hold_for` seconds from their start, a little longer than the interval, so one run
    is always resident and a submission does not wait for a run to start. While holding it
    emits `complaint.intake.holding` every few seconds and `complaint.intake.released` at the end:
    if it dies (its worker killed), the takeover trigger starts a run that holds to its deadline.
    """
    logger = get_run_logger()
    config = load_config()
    engine = make_engine()
    until = hold_deadline(event_occurred, hold_seconds, hold_until, started=datetime.now(UTC), hold_for=hold_for)
    try:
        if until is not None:
            announce = _announce_holding(until)
            result = hold_and_route(engine, config, until=until, batch_size=batch_size,
                                    event_batch_limit=event_batch_limit, on_batch=route_batch_task,
                                    on_alive=announce)
            run_id = flow_run_runtime.get_id() or "local"
            emit("complaint.intake.released", resource={"prefect.resource.id": f"complaint.intake-run.{run_id}"},
                 payload={"routed": result.routed})
        else:
            result = run_intake(engine, config, batch_size=batch_size, event_batch_limit=event_batch_limit,
                                on_batch=route_batch_task)
    finally:
        engine.dispose()
    logger.info("routed %d complaints (%d to triage) in %d batches; %d events",
                result.routed, result.triage, result.batches, result.events)
    return result.as_dict()
