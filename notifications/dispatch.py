"""Deliver due outbox rows: claim with a lease, send outside any transaction, record the outcome.

1. **Claim** (one short transaction): the oldest due rows — `pending`, `next_attempt_at <= now`,
   no live lease — locked with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite: `BEGIN IMMEDIATE`
   makes this the only writer), then stamped `lease_until = now + lease`, `lease_owner = owner`.
   Commit. Another dispatcher now skips these rows until the lease runs out.
2. **Decide** (pure, domain/delivery.py): group into digests, hold back what a rate limit forbids;
   a robot's window is counted from `channel_send`, the sends of every run (read with the claim).
3. **Send** each message over its channel, no transaction open.
4. **Record** (one transaction, one executemany): sent / retry at T / dead, or "wait until T" for
   rate-limited rows, clearing the lease; only rows this owner still holds are touched. Each
   send to a rate-limited address is added to `channel_send` in the same transaction.

A crash between 3 and 4 leaves the lease in place; when it expires the row is claimed and sent
again with the same `message_id`, so the receiver can drop the repeat (docs/notifications.md).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from domain.delivery import Dead, after_failure, group_digests, plan_rate
from models.db import is_postgres, read_scope, session_scope
from models.outbox import ChannelSend, OutboxMessage, OutboxStatus
from notifications.channels.base import DeliveryError, Message
from notifications.render import Item, Rendered, digest_id
from notifications.settings import ChannelSet
from settings.secrets import SecretMissing

OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
SENDS = ChannelSend.__table__  # type: ignore[attr-defined]
SENDS_KEPT = timedelta(days=1)  # how long a rate-limited send is kept (far longer than any window)
_COLS = [OUTBOX.c[name] for name in ("id", "message_id", "kind", "case_no", "recipient", "channel", "address",
                                      "context", "attempts", "next_attempt_at")]
ERROR_LIMIT = 1000


@dataclass(frozen=True)
class Claimed:
    id: int
    message_id: str
    kind: str
    case_no: str | None
    recipient: str
    channel: str
    address: str
    context: dict[str, Any]
    attempts: int
    next_attempt_at: datetime


@dataclass
class DispatchResult:
    claimed: int = 0
    sent: int = 0  # rows delivered
    messages: int = 0  # sends that succeeded (a digest is one)
    retried: int = 0
    dead: int = 0
    deferred: int = 0  # held back by a rate limit, an outage seen earlier in the batch, or the lease
    dead_cases: list[str] = field(default_factory=list)  # the cases of the dead-lettered rows, in order

    def add(self, other: DispatchResult) -> None:
        for name in ("claimed", "sent", "messages", "retried", "dead", "deferred"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.dead_cases.extend(c for c in other.dead_cases if c not in self.dead_cases)

    def as_dict(self) -> dict[str, int]:
        return {"claimed": self.claimed, "sent": self.sent, "messages": self.messages,
                "retried": self.retried, "dead": self.dead, "deferred": self.deferred}


@dataclass
class _Outcomes:
    now: datetime
    params: list[dict[str, Any]] = field(default_factory=list)
    result: DispatchResult = field(default_factory=DispatchResult)

    def _row(self, row: Claimed, *, status: str, inc: int, next_at: datetime, sent_at: datetime | None,
             error: str | None) -> None:
        self.params.append({"b_id": row.id, "b_status": status, "b_inc": inc, "b_next": next_at,
                            "b_sent": sent_at, "b_error": error[:ERROR_LIMIT] if error else None})

    def sent(self, rows: Sequence[Claimed]) -> None:
        for row in rows:
            self._row(row, status=OutboxStatus.SENT, inc=1, next_at=row.next_attempt_at, sent_at=self.now,
                      error=None)
        self.result.sent += len(rows)
        self.result.messages += 1

    def failed(self, rows: Sequence[Claimed], error: DeliveryError, channels: ChannelSet,
               rand: Callable[[], float]) -> datetime | None:
        """Record a failed send for every row in it; returns the retry time (None when dead)."""
        draw = rand()  # one draw per send: the rows of a digest stay together
        retry_at: datetime | None = None
        for row in rows:
            outcome = after_failure(attempts=row.attempts + 1, retryable=error.retryable,
                                    policy=channels.retry, now=self.now, rand=lambda: draw)
            if isinstance(outcome, Dead):
                self._row(row, status=OutboxStatus.DEAD, inc=1, next_at=row.next_attempt_at, sent_at=None,
                          error=error.detail)
                self.result.dead += 1
                if row.case_no and row.case_no not in self.result.dead_cases:
                    self.result.dead_cases.append(row.case_no)
            else:
                self._row(row, status=OutboxStatus.PENDING, inc=1, next_at=outcome.at, sent_at=None,
                          error=error.detail)
                self.result.retried += 1
                retry_at = outcome.at if retry_at is None else min(retry_at, outcome.at)
        return retry_at

    def wait(self, rows: Sequence[Claimed], until: datetime, why: str | None = None) -> None:
        for row in rows:
            self._row(row, status=OutboxStatus.PENDING, inc=0, next_at=until, sent_at=None, error=why)
        self.result.deferred += len(rows)


def claim_due(session: Session, *, now: datetime, limit: int, owner: str, lease: timedelta) -> list[Claimed]:
    """Lease up to `limit` due rows to `owner` in the caller's transaction."""
    c = OUTBOX.c
    stmt = (
        select(*_COLS)
        .where(c.status == OutboxStatus.PENDING, c.next_attempt_at <= now,
               or_(c.lease_until.is_(None), c.lease_until <= now))
        .order_by(c.next_attempt_at, c.id)
        .limit(limit)
    )
    if is_postgres(session.get_bind()):  # type: ignore[arg-type]
        stmt = stmt.with_for_update(skip_locked=True)
    rows = [Claimed(**r._mapping) for r in session.execute(stmt)]
    if rows:
        session.execute(
            update(OUTBOX).where(c.id.in_([r.id for r in rows]))
            .values(lease_until=now + lease, lease_owner=owner)
        )
    return rows


def record(session: Session, params: list[dict[str, Any]], *, owner: str) -> None:
    """Write every outcome in one executemany; rows whose lease this owner lost are left alone."""
    if not params:
        return
    c = OUTBOX.c
    stmt = (
        update(OUTBOX)
        .where(c.id == bindparam("b_id"), c.lease_owner == owner, c.status == OutboxStatus.PENDING)
        .values(status=bindparam("b_status"), attempts=c.attempts + bindparam("b_inc"),
                next_attempt_at=bindparam("b_next"), sent_at=bindparam("b_sent"),
                last_error=bindparam("b_error"), lease_until=None, lease_owner=None)
    )
    session.execute(stmt, params)


def recent_sends(session: Session, *, channels: Sequence[str], since: datetime
                 ) -> dict[tuple[str, str], list[datetime]]:
    """The sends to each (channel, address) of the rate-limited `channels` after `since`, by
    every dispatch run (the window a robot's limit is counted in)."""
    out: dict[tuple[str, str], list[datetime]] = {}
    if not channels:
        return out
    c = SENDS.c
    stmt = select(c.channel, c.address, c.sent_at).where(c.sent_at > since, c.channel.in_(list(channels)))
    for channel, address, sent_at in session.execute(stmt):
        out.setdefault((channel, address), []).append(sent_at)
    return out


def note_sends(session: Session, sends: Sequence[tuple[str, str]], *, now: datetime) -> None:
    """Keep this batch's sends to rate-limited addresses, and forget those older than a day."""
    if not sends:
        return
    session.execute(insert(SENDS), [{"channel": ch, "address": addr, "sent_at": now} for ch, addr in sends])
    session.execute(delete(SENDS).where(SENDS.c.sent_at < now - SENDS_KEPT))


def _digest_key(channels: ChannelSet) -> Callable[[Claimed], tuple[str, str, str] | None]:
    def key(row: Claimed) -> tuple[str, str, str] | None:
        if not channels.digest.get(row.channel, False):
            return None
        return (row.recipient, row.channel, row.address)

    return key


def _render(channels: ChannelSet, group: Sequence[Claimed]) -> Message:
    html = group[0].channel == "email"
    items = [Item(r.kind, r.context, r.message_id) for r in group]
    try:
        rendered: Rendered = (channels.renderer.render(items[0], html=html) if len(items) == 1
                              else channels.renderer.render_digest(items, html=html))
    except Exception as exc:  # a template or context error: sending again will not help
        raise DeliveryError(False, f"通知内容无法生成（模板 {group[0].kind}）：{type(exc).__name__}: {exc}") from None
    ids = tuple(r.message_id for r in group)
    first = group[0]
    return Message(
        channel=first.channel, address=first.address, recipient=first.recipient,
        subject=rendered.subject, text=rendered.text, html=rendered.html,
        message_id=ids[0] if len(ids) == 1 else digest_id(ids), message_ids=ids,
        kind=first.kind if len(group) == 1 else "digest",
        case_nos=tuple(dict.fromkeys(r.case_no for r in group if r.case_no)),
        links=tuple(dict.fromkeys(str(r.context.get("link", "")) for r in group if r.context.get("link"))),
    )


def _send(channels: ChannelSet, group: Sequence[Claimed]) -> None:
    channel = channels.channels.get(group[0].channel)
    if channel is None:
        raise DeliveryError(False, f"no channel {group[0].channel!r} configured")
    message = _render(channels, group)
    try:
        channel.send(message)
    except DeliveryError:
        raise
    except SecretMissing as exc:
        raise DeliveryError(False, f"secret missing: {exc}") from None
    except Exception as exc:  # a bug or an unforeseen failure: retry, bounded by max_attempts
        raise DeliveryError(True, f"unexpected {type(exc).__name__}: {exc}") from None


def dispatch_once(engine: Engine, *, channels: ChannelSet, now: datetime, batch_size: int, owner: str,
                  rand: Callable[[], float] = random.random) -> DispatchResult:
    """Claim one batch of due rows, send them, record what happened; returns the counts."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    window = max((r.window for r in channels.rate_limits.values()), default=timedelta(0))
    with session_scope(engine) as session:
        rows = claim_due(session, now=now, limit=batch_size, owner=owner, lease=channels.lease)
        limited = sorted({r.channel for r in rows} & set(channels.rate_limits))
        recent = recent_sends(session, channels=limited, since=now - window)
    outcomes = _Outcomes(now)
    outcomes.result.claimed = len(rows)
    if not rows:
        return outcomes.result

    groups = group_digests(rows, key=_digest_key(channels), max_items=channels.digest_max_items)

    def rate_key(group: list[Claimed]) -> tuple[str, str]:
        return (group[0].channel, group[0].address)

    plan = plan_rate(groups, key=rate_key, limits=lambda k: channels.rate_limits.get(k[0]),
                     recent=recent, now=now)
    sends: list[tuple[str, str]] = []  # tried on a rate-limited channel: each counts, sent or not
    for group, until in plan.wait:
        outcomes.wait(group, until)

    # stop well before the lease runs out, so no other dispatcher can take a row we are sending
    deadline = time.monotonic() + channels.lease.total_seconds() / 2
    down: dict[tuple[str, str], tuple[datetime, str]] = {}  # failed earlier in this batch
    for group in plan.send:
        key = rate_key(group)
        outage_key = ("email", "") if key[0] == "email" else key  # one SMTP server for every address
        if outage_key in down:
            until, why = down[outage_key]
            outcomes.wait(group, until, f"not tried: {why}")
            continue
        if time.monotonic() > deadline:
            outcomes.wait(group, now, None)
            continue
        if key[0] in channels.rate_limits:
            sends.append(key)
        try:
            _send(channels, group)
        except DeliveryError as exc:
            retry_at = outcomes.failed(group, exc, channels, rand)
            if exc.retryable and retry_at is not None:
                down[outage_key] = (retry_at, exc.detail)
        else:
            outcomes.sent(group)

    with session_scope(engine) as session:
        record(session, outcomes.params, owner=owner)
        note_sends(session, sends, now=now)
    return outcomes.result


def dispatch_all(engine: Engine, *, channels: ChannelSet, batch_size: int, owner: str,
                 clock: Callable[[], datetime], rand: Callable[[], float] = random.random,
                 max_batches: int | None = None,
                 on_batch: Callable[[DispatchResult], None] | None = None) -> DispatchResult:
    """Dispatch batches until nothing is due (or `max_batches`); returns the totals."""
    total = DispatchResult()
    batches = 0
    while max_batches is None or batches < max_batches:
        result = dispatch_once(engine, channels=channels, now=clock(), batch_size=batch_size, owner=owner,
                               rand=rand)
        if result.claimed == 0:
            break
        batches += 1
        total.add(result)
        if on_batch is not None:
            on_batch(result)
        if result.sent + result.retried + result.dead == 0:
            break  # everything claimed was held back: nothing more is due right now
    return total



HOLD_POLL_SECONDS = 0.5  # how often a holding dispatch run looks for newly due messages


def due_exists(engine: Engine, now: datetime) -> bool:
    """Is any message due (pending, due by now, no live lease)? One indexed read that takes no write
    lock (models/db.read_scope), so a holding run's look costs the writers nothing."""
    c = OUTBOX.c
    stmt = (select(c.id).where(c.status == OutboxStatus.PENDING, c.next_attempt_at <= now,
                               or_(c.lease_until.is_(None), c.lease_until <= now)).limit(1))
    with read_scope(engine) as session:
        return session.execute(stmt).first() is not None


def hold_and_dispatch(engine: Engine, *, until: datetime | None, channels: ChannelSet, batch_size: int, owner: str,
                      clock: Callable[[], datetime], sleep: Callable[[float], object] = time.sleep,
                      poll: float = HOLD_POLL_SECONDS,
                      on_batch: Callable[[DispatchResult], None] | None = None) -> DispatchResult:
    """Dispatch what is due; with `until`, keep sending what becomes due until then, and once more
    after it (docs/design.md, "Dispatch triggering").

    The run a trigger starts stands in for the events the trigger ignores after firing (its `within`
    window): their messages were committed before their events, so before `until` (the hold is
    longer than the window), and a pass after they were committed sends them. A message held back
    for a rate limit or a retry is sent by the pass at which it falls due, while the run holds."""
    total = DispatchResult()
    while True:
        total.add(dispatch_all(engine, channels=channels, batch_size=batch_size, owner=owner, clock=clock,
                               on_batch=on_batch))
        if until is None or clock() >= until:
            return total
        while clock() < until:
            sleep(poll)
            if due_exists(engine, clock()):
                break
