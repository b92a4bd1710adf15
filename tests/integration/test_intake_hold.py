"""A holding intake run (flows/intake.hold_and_route): what arrives while it holds is routed by it,
and its last pass comes after the hold ends, so a complaint whose event the trigger ignored in
its `within` window is never left for the schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.intake import hold_and_route, hold_deadline
from models.complaint import Complaint
from models.sqlutil import table_of
from models.submission import submit
from tests.factories import complaint

C = table_of(Complaint)
START = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def _statuses(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {s: int(n) for s, n in conn.execute(select(C.c.status, func.count()).group_by(C.c.status))}


def test_arrivals_during_the_hold_and_at_its_last_moment_are_routed(db_engine: Engine, config: Config) -> None:
    """3 pending at the start, 2 arriving mid-hold, 1 in the hold's last poll: all 6 routed by the run,
    which stops polling once the hold is over (no endless run)."""
    clock = Clock()
    until = START + timedelta(seconds=10)

    def add(n: int) -> None:
        submit(db_engine, [complaint() for _ in range(n)], config=config, calendar=WorkingCalendar(), now=clock.now)

    add(3)
    polls: list[datetime] = []

    def sleep(seconds: float) -> None:
        clock.now += timedelta(seconds=seconds)
        polls.append(clock.now)
        if len(polls) == 4:
            add(2)
        if clock.now == until:  # arrives just as the hold ends: only the last pass can see it
            add(1)

    beats: list[datetime] = []
    result = hold_and_route(db_engine, config, until=until, poll=0.5, clock=clock, sleep=sleep,
                            on_alive=lambda: beats.append(clock.now), alive_every=2)
    # alive every 2 s while holding, so the takeover trigger stays quiet until the run dies
    assert beats[:5] == [START + timedelta(seconds=2 * i) for i in range(5)]
    assert result.routed == 6 and len(set(result.case_nos)) == 6
    assert _statuses(db_engine).get("received", 0) == 0
    assert polls[-1] == until and len(polls) == 20  # 10 s of 0.5 s polls, then done


def test_a_run_started_after_its_hold_routes_once_and_leaves(db_engine: Engine, config: Config) -> None:
    """Started late (the hold already over, e.g. behind a slow worker): one pass, no polling."""
    clock = Clock()
    submit(db_engine, [complaint() for _ in range(4)], config=config, calendar=WorkingCalendar(), now=clock.now)

    def sleep(seconds: float) -> None:
        raise AssertionError("a run past its hold must not poll")

    result = hold_and_route(db_engine, config, until=START - timedelta(seconds=1), clock=clock, sleep=sleep)
    assert result.routed == 4


def test_hold_deadline_is_the_later_of_the_event_window_and_a_dead_runs_deadline() -> None:
    """The trigger's run holds `hold_seconds` after its event; a takeover run to the dead run's deadline."""
    assert hold_deadline(None, 0, None) is None
    assert hold_deadline(START, 80, None) == START + timedelta(seconds=80)
    later = (START + timedelta(seconds=200)).timestamp()
    assert hold_deadline(START, 80, later) == START + timedelta(seconds=200)
    assert hold_deadline(None, 0, later) == START + timedelta(seconds=200)
