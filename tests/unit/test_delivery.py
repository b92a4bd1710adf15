"""Tests of the pure delivery decisions: backoff, retry or dead, rate limits, digests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.delivery import (
    Dead,
    RateLimit,
    Retry,
    RetryPolicy,
    after_failure,
    backoff_delay,
    group_digests,
    is_retryable_status,
    plan_rate,
)

NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=5, base_delay=timedelta(seconds=30), max_delay=timedelta(minutes=5), jitter=0.2)


def test_backoff_doubles_each_attempt_up_to_the_cap() -> None:
    """Without jitter (rand 0.5) the delay is 30 s, 60 s, 120 s, 240 s, then capped at 300 s."""
    delays = [backoff_delay(n, POLICY, lambda: 0.5).total_seconds() for n in range(1, 7)]
    assert delays == [30, 60, 120, 240, 300, 300]


@given(attempt=st.integers(1, 200), r=st.floats(0, 1, exclude_max=True))
def test_backoff_jitter_stays_within_its_band(attempt: int, r: float) -> None:
    """Jitter moves the delay by at most ±20 % of the unjittered value, never below zero."""
    plain = backoff_delay(attempt, POLICY, lambda: 0.5).total_seconds()
    jittered = backoff_delay(attempt, POLICY, lambda: r).total_seconds()
    assert plain * 0.8 - 1e-6 <= jittered <= plain * 1.2 + 1e-6


def test_retryable_failure_is_retried_until_max_attempts_then_dead() -> None:
    """Attempts 1..4 retry at now + backoff; the 5th failure is dead."""
    outcomes = [after_failure(attempts=n, retryable=True, policy=POLICY, now=NOW, rand=lambda: 0.5)
                for n in range(1, 6)]
    assert outcomes[:4] == [Retry(NOW + timedelta(seconds=s)) for s in (30, 60, 120, 240)]
    assert outcomes[4] == Dead()


def test_non_retryable_failure_is_dead_at_once() -> None:
    """A permanent failure is dead on the first attempt."""
    assert after_failure(attempts=1, retryable=False, policy=POLICY, now=NOW, rand=lambda: 0.5) == Dead()


@pytest.mark.parametrize(("status", "retry"), [(500, True), (502, True), (503, True), (429, True),
                                               (400, False), (401, False), (404, False), (413, False)])
def test_which_http_statuses_are_retried(status: int, retry: bool) -> None:
    """5xx and 429 are retried; other 4xx are not."""
    assert is_retryable_status(status) is retry


def test_invalid_policies_are_refused() -> None:
    """A policy with no attempts or a jitter outside [0, 1] is refused."""
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=1.5)


def test_rate_limit_sends_up_to_the_limit_and_spaces_the_rest() -> None:
    """With 20 a minute and 5 sent 30 s ago, 15 go now; the next ones wait until those 5 leave the window."""
    rate = RateLimit(20)
    recent = {"robot": [NOW - timedelta(seconds=30)] * 5}
    plan = plan_rate(list(range(40)), key=lambda _: "robot", limits=lambda _: rate, recent=recent, now=NOW)
    assert plan.send == list(range(15))
    waits = [t for _, t in plan.wait]
    assert waits[:5] == [NOW + timedelta(seconds=30)] * 5  # the 5 old sends free their slots
    assert waits[5:20] == [NOW + timedelta(seconds=60)] * 15  # then the 15 sent now
    assert waits[20:] == [NOW + timedelta(seconds=90)] * 5


def test_rate_limit_ignores_old_sends_and_unlimited_keys() -> None:
    """Sends older than the window do not count; a key without a limit is never held back."""
    recent = {"a": [NOW - timedelta(minutes=2)] * 50}
    plan = plan_rate(["a", "a", "b"], key=lambda k: k, limits=lambda k: RateLimit(2) if k == "a" else None,
                     recent=recent, now=NOW)
    assert plan.send == ["a", "a", "b"] and plan.wait == []


def test_digests_group_by_key_in_runs_of_max_items_keeping_order() -> None:
    """Items of one key become one group (split at max_items); None keys stay single."""
    items = ["a1", "b1", "a2", "x", "a3", "b2", "a4"]
    groups = group_digests(items, key=lambda s: None if s == "x" else s[0], max_items=3)
    assert groups == [["a1", "a2", "a3"], ["b1", "b2"], ["x"], ["a4"]]


@given(st.lists(st.sampled_from("abcde"), max_size=60), st.integers(1, 7))
def test_digests_lose_and_duplicate_nothing(keys: list[str], max_items: int) -> None:
    """Every item lands in exactly one group, no group exceeds max_items, each group has one key."""
    items = list(enumerate(keys))
    groups = group_digests(items, key=lambda it: it[1], max_items=max_items)
    assert sorted(i for g in groups for i in g) == items
    assert all(0 < len(g) <= max_items and len({k for _, k in g}) == 1 for g in groups)
