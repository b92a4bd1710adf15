"""The escalation sweep's commands (docs/escalation.md): one batch of due cases, and the day's digests.

Each takes a `UnitOfWork` (one transaction) and reads as its three steps: load through the store
(models/escalation_store.py), decide with the pure planner (`domain.sweep.plan_sweep`,
`plan_digests`), apply the plan through the store. The run around them — scheduling new complaints,
batches until none is due, threads, events — is `flows.escalation.run_escalation`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.sweep import FiredEscalation, SweepMemo, digest_day, plan_digests, plan_sweep
from models import escalation_store as store
from models.escalation_loads import memo_for
from services.unit_of_work import UnitOfWork


def fire_due(uow: UnitOfWork, ids: Sequence[int], *, memo: SweepMemo | None = None,
             actor: str = "escalation") -> list[FiredEscalation]:
    """Fire every due level of these cases once and reschedule them, in the unit's transaction.
    `memo`: the run's (one per run, shared by its batches); None: one for this call."""
    batch = store.load_sweep(uow.session, ids)  # load
    plan = plan_sweep(batch.cases, fired=batch.fired, paused=batch.paused,  # decide (pure)
                      memo=memo or memo_for(uow.config, uow.calendar, uow.now), actor=actor)
    return store.apply_sweep(uow.session, plan, config=uow.config, now=uow.now)  # apply


def sweep_batch(uow: UnitOfWork, *, size: int, memo: SweepMemo | None = None) -> tuple[int, list[FiredEscalation]]:
    """Claim up to `size` due cases (`claim_due`: SKIP LOCKED on PostgreSQL) and fire them
    (`fire_due`); returns how many were claimed (0: none is due) and the levels fired."""
    ids = store.claim_due(uow.session, uow.now, size)
    if not ids:
        return 0, []
    return len(ids), fire_due(uow, ids, memo=memo)


def send_digests(uow: UnitOfWork) -> int:
    """Once per local day (from `digest.hour`): one digest per supervisor of their
    still-unacknowledged escalations on cases still open; returns how many were queued."""
    config, now = uow.config, uow.now
    day = digest_day(now, hour=config.escalation.digest.hour)
    if day is None or not store.claim_digest_day(uow.session, day, now=now):
        return 0  # not yet the hour, or today's digests were already queued
    found = store.load_digest(uow.session, day)  # load
    digests = plan_digests(found.found, pauses=found.pauses, day=day,  # decide (pure)
                           memo=memo_for(config, uow.calendar, now))
    return store.queue_digests(uow.session, digests, config=config, now=now)  # apply
