"""Dispatch: deliver every due outbox row, in batches, in one flow run (DESIGN.md decision 2).

A thin flow around `notifications.dispatch.dispatch_all`: no flow or task run per message. Each
batch is claimed with a lease, sent outside any transaction and recorded in one transaction;
the loop ends when nothing is due (rows waiting for a retry or a rate-limit slot are not due).
Started by its trigger, the run also holds: it keeps sending what becomes due until
`hold_seconds` after the triggering event, covering the events the trigger ignores in its
`within` window (prefect.yaml; docs/design.md, "Dispatch triggering"). Runs that collide wait
(ENQUEUE), none is cancelled.

A run that dead-letters any message does not end "Completed": after the outcomes are recorded it
emits the warning event `complaint.outbox.dead_lettered` (count and cases) and ends in a Failed
state whose message says how many were dead-lettered; its data are the counts all the same
(`complaints outbox --dead` lists them with their errors).
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from flows.events import emit
from flows.intake import hold_deadline
from models.db import make_engine
from notifications.dispatch import DispatchResult, hold_and_dispatch
from notifications.settings import build_channels, load_channels
from services.unit_of_work import utcnow

DEAD_LETTERED_EVENT = "complaint.outbox.dead_lettered"


def dead_message(dead: int) -> str:
    return f"{dead} 条通知投递失败，已转入死信（complaints outbox --dead 查看）"


def final_state(total: DispatchResult, *, emit_event: Any = emit) -> State[Any]:
    """Completed with the counts, or (anything dead-lettered) a warning event and a Failed state."""
    counts = total.as_dict()
    if not total.dead:
        return Completed(message=f"已投递 {total.sent} 条", data=counts)
    emit_event(DEAD_LETTERED_EVENT, resource={"prefect.resource.id": "complaints.outbox",
                                              "prefect.resource.name": "通知队列"},
               payload={"dead": total.dead, "counts": counts, "case_nos": total.dead_cases[:50]})
    return Failed(message=dead_message(total.dead), data=counts)


@flow(name="dispatch")
def dispatch(batch_size: int | None = None, event_occurred: datetime | None = None,
             hold_seconds: float = 0.0) -> State[Any]:
    """Send every due notification (and, started by an event, what falls due until `hold_seconds`
    after it); the state's data are the counts (claimed, sent, messages, retried, dead, deferred);
    Failed when any message was dead-lettered."""
    logger = get_run_logger()
    settings = load_channels()
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    engine = make_engine()
    started = utcnow()
    until = hold_deadline(event_occurred, hold_seconds, None)

    def log_batch(result: DispatchResult) -> None:
        logger.info("batch: %s", result.as_dict())

    try:
        with build_channels(settings) as channels:
            total = hold_and_dispatch(engine, until=until, channels=channels,
                                      batch_size=batch_size or settings.batch_size, owner=owner, clock=utcnow,
                                      on_batch=log_batch)
    finally:
        engine.dispose()
    logger.info("dispatch done: %s", total.as_dict())
    if total.dead:
        logger.warning("%s（本次运行开始于 %s）", dead_message(total.dead), started.isoformat())
    return final_state(total)
