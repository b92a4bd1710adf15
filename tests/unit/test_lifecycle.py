"""Tests of the complaint lifecycle."""

import pytest

from domain.lifecycle import (
    ALLOWED,
    OPEN_STATUSES,
    STATUS_NAMES,
    IllegalTransition,
    Status,
    ensure_transition,
)


def test_every_status_has_a_name_and_a_row() -> None:
    """Every status has a Chinese name and a row in the transition table."""
    assert set(STATUS_NAMES) == set(Status)
    assert set(ALLOWED) == set(Status)


def test_open_statuses() -> None:
    """Open means the bank still owes a decision: responded and the end states are not open."""
    assert OPEN_STATUSES == {
        Status.RECEIVED,
        Status.ROUTED,
        Status.ACKNOWLEDGED,
        Status.IN_PROGRESS,
        Status.REOPENED,
        Status.UNDER_REVIEW,
    }


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.RECEIVED, Status.ROUTED),
        (Status.ROUTED, Status.ROUTED),
        (Status.ROUTED, Status.RESPONDED),
        (Status.ACKNOWLEDGED, Status.WITHDRAWN),
        (Status.RESPONDED, Status.UNDER_REVIEW),
        (Status.CLOSED, Status.REOPENED),
        (Status.REOPENED, Status.ROUTED),
        (Status.UNDER_REVIEW, Status.CLOSED),
    ],
)
def test_allowed_transitions_return_the_target(current: Status, target: Status) -> None:
    """An allowed move returns its target status."""
    assert ensure_transition(current, target) is target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.RECEIVED, Status.RESPONDED),
        (Status.RESPONDED, Status.WITHDRAWN),
        (Status.IN_PROGRESS, Status.MERGED),
        (Status.ACKNOWLEDGED, Status.ACKNOWLEDGED),
        (Status.WITHDRAWN, Status.REOPENED),
        (Status.MERGED, Status.ROUTED),
    ],
)
def test_forbidden_transitions_raise(current: Status, target: Status) -> None:
    """A move not in the table raises IllegalTransition carrying both statuses."""
    with pytest.raises(IllegalTransition) as info:
        ensure_transition(current, target)
    assert info.value.current is current
    assert info.value.target is target


def test_illegal_transition_message_names_the_field_and_both_states_in_chinese() -> None:
    """The error message names the status field and both statuses by their Chinese names."""
    error = IllegalTransition(Status.CLOSED, Status.ACKNOWLEDGED)
    assert str(error) == "status（状态）：“已办结”的案件不能转为“已确认”（已办结 → 已确认）"
    assert isinstance(error, ValueError)


def test_terminal_statuses_have_no_way_out() -> None:
    """Withdrawn and merged are terminal."""
    assert ALLOWED[Status.WITHDRAWN] == frozenset()
    assert ALLOWED[Status.MERGED] == frozenset()


def test_every_non_terminal_status_is_reachable_from_received() -> None:
    """Every status can be reached from received through allowed moves."""
    seen = {Status.RECEIVED}
    frontier = [Status.RECEIVED]
    while frontier:
        for nxt in ALLOWED[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(Status)
