"""Pure delivery decisions for the outbox: retry or dead-letter, backoff, rate limits, digests.

No I/O, no clock, no randomness of its own: `now` and the random source are arguments, so the
dispatcher (notifications/dispatch.py) gathers inputs, calls these, and applies the result.

* Backoff is exponential (`base * 2**(attempt-1)`, capped at `max_delay`) with a jitter that
  spreads retries of many rows failing together: the delay is scaled by a factor drawn from
  `[1 - jitter, 1 + jitter]`.
* A failure that is not retryable (HTTP 4xx other than 429, a template error, a refused
  recipient) is dead at once; a retryable one is dead once `max_attempts` attempts are used.
* A rate limit is "at most `limit` sends per `window` per (channel, address)"; a digest counts
  as one send. What does not fit waits, without using an attempt, until a slot frees.
* A digest turns several messages due together for one recipient on one channel into one send.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)
    jitter: float = 0.2  # ± fraction of the delay

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")


def backoff_delay(attempt: int, policy: RetryPolicy, rand: Callable[[], float]) -> timedelta:
    """The wait after failed attempt number `attempt` (1-based), jittered by `rand()` in [0, 1)."""
    exponent = max(attempt - 1, 0)
    base = policy.base_delay.total_seconds()
    raw = min(base * (2.0 ** min(exponent, 62)), policy.max_delay.total_seconds())
    factor = 1.0 + policy.jitter * (2.0 * rand() - 1.0)
    return timedelta(seconds=max(raw * factor, 0.0))


@dataclass(frozen=True)
class Retry:
    at: datetime


@dataclass(frozen=True)
class Dead:
    pass


Outcome = Retry | Dead


def after_failure(
    *, attempts: int, retryable: bool, policy: RetryPolicy, now: datetime, rand: Callable[[], float]
) -> Outcome:
    """What happens to a row whose attempt number `attempts` (counting this one) just failed."""
    if not retryable or attempts >= policy.max_attempts:
        return Dead()
    return Retry(now + backoff_delay(attempts, policy, rand))


@dataclass(frozen=True)
class RateLimit:
    limit: int  # sends per window
    window: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class RatePlan(Generic[T]):
    send: list[T]
    wait: list[tuple[T, datetime]]  # item, earliest time it may be sent


def plan_rate(
    items: Sequence[T],
    *,
    key: Callable[[T], K],
    limits: Callable[[K], RateLimit | None],
    recent: Mapping[K, Sequence[datetime]],
    now: datetime,
) -> RatePlan[T]:
    """Split `items` (each one send) into those that fit each key's limit now and those that wait.

    `recent` holds the times of earlier sends per key. Items keep their order: the first ones
    of a key are sent, the rest wait until the window frees enough slots for them.
    """
    send: list[T] = []
    wait: list[tuple[T, datetime]] = []
    taken: dict[K, list[datetime]] = {}
    for item in items:
        k = key(item)
        rate = limits(k)
        if rate is None:
            send.append(item)
            continue
        if k not in taken:
            start = now - rate.window
            taken[k] = sorted(t for t in recent.get(k, ()) if t > start)
        used = taken[k]
        if len(used) < rate.limit:
            used.append(now)
            send.append(item)
        else:
            # the slot frees when the send `limit` places back leaves the window
            free_at = used[len(used) - rate.limit] + rate.window
            used.append(free_at)
            wait.append((item, free_at))
    return RatePlan(send, wait)


def group_digests(items: Sequence[T], *, key: Callable[[T], K | None], max_items: int) -> list[list[T]]:
    """Group items with the same key (None: never grouped) into runs of at most `max_items`.

    Groups keep the order of their first item; items keep their order inside a group.
    """
    if max_items < 1:
        raise ValueError("max_items must be at least 1")
    groups: list[list[T]] = []
    open_group: dict[K, list[T]] = {}
    for item in items:
        k = key(item)
        if k is None:
            groups.append([item])
            continue
        current = open_group.get(k)
        if current is None or len(current) >= max_items:
            current = []
            open_group[k] = current
            groups.append(current)
        current.append(item)
    return groups


def is_retryable_status(status: int) -> bool:
    """HTTP: 5xx and 429 are worth retrying; other 4xx (and 3xx, unexpected here) are not."""
    return status >= 500 or status == 429
