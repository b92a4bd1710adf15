"""Dispatch: deliver every due outbox row, in batches, in one flow run (DESIGN.md decision 2).

A thin flow around `notifications.dispatch.dispatch_all`: no flow or task run per message. Each
batch is claimed with a lease, sent outside any transaction and recorded in one transaction;
the loop ends when nothing is due (rows waiting for a retry or a rate-limit slot are not due).
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime

from prefect import flow, get_run_logger

from models.db import make_engine
from notifications.dispatch import DispatchResult, dispatch_all
from notifications.settings import build_channels, load_channels


def _now() -> datetime:
    return datetime.now(UTC)


@flow(name="dispatch")
def dispatch(batch_size: int | None = None) -> dict[str, int]:
    """Send every due notification; returns the counts (claimed, sent, messages, retried, dead, deferred)."""
    logger = get_run_logger()
    settings = load_channels()
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    engine = make_engine()

    def log_batch(result: DispatchResult) -> None:
        logger.info("batch: %s", result.as_dict())

    try:
        with build_channels(settings) as channels:
            total = dispatch_all(engine, channels=channels, batch_size=batch_size or settings.batch_size,
                                 owner=owner, clock=_now, on_batch=log_batch)
    finally:
        engine.dispose()
    logger.info("dispatch done: %s", total.as_dict())
    if total.dead:
        logger.warning("%d notification(s) dead-lettered: see `complaints outbox --dead`", total.dead)
    return total.as_dict()
