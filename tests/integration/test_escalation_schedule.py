"""Building the escalation schedule: incremental, batched, safe against ids that appear late (real SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select

from complaints.config import REPO_ROOT, Config, load_config
from domain.calendar import WorkingCalendar
from flows.escalation import run_escalation
from flows.intake import run_intake
from models.escalation import Escalation, EscalationSchedule, EscalationState
from models.escalation_store import CURSOR_KEY, WALKED_KEY
from models.participants import ESCALATION, PARTICIPANT
from models.sqlutil import table_of
from models.submission import submit
from tests.factories import complaint

CAL = WorkingCalendar()
SCHED = table_of(EscalationSchedule)
STATE = table_of(EscalationState)
ESC = table_of(Escalation)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace(" ", "T") + ":00+08:00").astimezone(UTC)


def scheduled(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(SCHED)).scalar_one())


def cursors(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        state = dict(conn.execute(select(STATE.c.key, STATE.c.value)).all())
    return int(state.get(CURSOR_KEY, 0)), int(state.get(WALKED_KEY, 0))


def test_an_import_is_scheduled_in_bounded_steps_and_every_case_still_fires_once(db_engine: Engine,
                                                                                 config: Config) -> None:
    """25 complaints, at most 10 scheduled per sweep: three sweeps schedule them all, the cursor
    moving with each page, and the level then fires once for each of the 25."""
    now = at("2026-11-26 09:30")
    results = submit(db_engine, [complaint(received_at=now.isoformat(), category="银行卡") for _ in range(25)],
                     config=config, calendar=CAL, now=now)
    run_intake(db_engine, config, now=now)
    ids_seen = []
    for expected in (10, 20, 25, 25):
        result = run_escalation(db_engine, config, now=at("2026-11-27 10:00"), calendar=CAL, schedule_limit=10,
                                schedule_seconds=600)
        ids_seen.append(result.scheduled)
        assert scheduled(db_engine) == expected
    assert ids_seen == [10, 10, 5, 0]
    top = cursors(db_engine)
    assert top[0] == top[1] and top[0] >= 25  # everything old enough: both cursors at the last id
    fired = run_escalation(db_engine, config, now=at("2026-11-28 08:00"), calendar=CAL, schedule_limit=10)
    assert fired.per_level == {"L1": 25}  # the acknowledgement SLA, for every imported case
    with db_engine.connect() as conn:
        per_case = conn.execute(select(ESC.c.case_no, func.count()).group_by(ESC.c.case_no)).all()
    assert sorted(c for c, _ in per_case) == sorted(r.case_no for r in results) and all(n == 1 for _, n in per_case)
    with db_engine.connect() as conn:  # each level's recipient takes part in the case from then on
        involved = conn.execute(select(PARTICIPANT.c.person, PARTICIPANT.c.level, func.count())
                                .where(PARTICIPANT.c.role == ESCALATION)
                                .group_by(PARTICIPANT.c.person, PARTICIPANT.c.level)).all()
    assert [tuple(r) for r in involved] == [("feng.yu", 1, 25)]


def test_young_complaints_are_looked_at_again_until_the_grace_period_is_over(db_engine: Engine,
                                                                            config: Config) -> None:
    """A complaint inside the grace period is scheduled, but the safe cursor stays below it; if
    its schedule row is missing at the next sweep (an id that became visible late on PostgreSQL
    looks like this) it is scheduled again; once old enough the cursor moves past it."""
    assert config.escalation.sweep.new_case_grace_minutes == 10
    now = at("2026-11-26 09:30")
    (first,) = submit(db_engine, [complaint(received_at=now.isoformat())], config=config, calendar=CAL, now=now)
    assert run_escalation(db_engine, config, now=at("2026-11-26 09:31"), calendar=CAL).scheduled == 1
    safe, walked = cursors(db_engine)
    assert safe < walked and scheduled(db_engine) == 1
    with db_engine.begin() as conn:
        conn.execute(delete(SCHED))
    again = run_escalation(db_engine, config, now=at("2026-11-26 09:35"), calendar=CAL)
    assert again.scheduled == 1 and scheduled(db_engine) == 1 and cursors(db_engine) == (safe, walked)
    later = run_escalation(db_engine, config, now=at("2026-11-26 09:45"), calendar=CAL)
    assert later.scheduled == 0  # scheduled already: not read again
    assert cursors(db_engine) == (walked, walked)
    assert run_escalation(db_engine, config, now=at("2026-11-28 08:00"), calendar=CAL).per_level == {"L1": 1}
    with db_engine.connect() as conn:
        assert conn.execute(select(ESC.c.case_no)).scalars().all() == [first.case_no]


def test_the_page_and_the_bound_per_sweep_are_the_configured_ones(db_engine: Engine, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """escalation.yaml's `sweep.schedule_page` / `schedule_per_sweep` (here 100 and 200), read from
    the policy: 250 imported complaints take two sweeps, pages of 100 and the rest."""
    import flows.escalation as flow_module

    cfg = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", cfg)
    path = cfg / "escalation.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("schedule_page: 5000", "schedule_page: 100").replace("schedule_per_sweep: 100000",
                                                                            "schedule_per_sweep: 200")
    path.write_text(text, encoding="utf-8")
    config = load_config(cfg)
    assert (config.escalation.policy().schedule_page, config.escalation.policy().schedule_per_sweep) == (100, 200)
    now = at("2026-11-26 09:30")
    submit(db_engine, [complaint(received_at=now.isoformat(), category="银行卡") for _ in range(250)],
           config=config, calendar=CAL, now=now)
    pages: list[int] = []
    from models.escalation_schedule import schedule_page as real_page

    def recording_page(*args: Any, **kwargs: Any) -> int:
        pages.append(kwargs["page"])
        return real_page(*args, **kwargs)

    monkeypatch.setattr(flow_module, "schedule_page", recording_page)
    seen = [run_escalation(db_engine, config, now=at("2026-11-27 10:00"), calendar=CAL,
                           schedule_seconds=600).scheduled for _ in range(3)]
    assert seen == [200, 50, 0] and scheduled(db_engine) == 250
    assert pages == [100, 100, 100, 100]  # sweep 1: two pages (the bound); 2: one, 50 found; 3: one, none found


def test_one_run_sweeps_again_until_an_import_is_scheduled(db_engine: Engine, tmp_path: Path) -> None:
    """The flow's run (`run_until_scheduled`): 250 imported complaints, at most 100 scheduled per
    sweep (escalation.yaml), each sweep reporting a backlog until none is left: one run of three
    bounded sweeps schedules all 250 and fires the level due for each, once; with the run's time
    spent, it leaves the backlog to the next run."""
    from flows.escalation import run_until_scheduled

    cfg = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", cfg)
    path = cfg / "escalation.yaml"
    text = path.read_text(encoding="utf-8").replace("schedule_page: 5000", "schedule_page: 100")
    path.write_text(text.replace("schedule_per_sweep: 100000", "schedule_per_sweep: 100"), encoding="utf-8")
    config = load_config(cfg)
    now = at("2026-11-26 09:30")
    submit(db_engine, [complaint(received_at=now.isoformat(), category="银行卡") for _ in range(250)],
           config=config, calendar=CAL, now=now)
    run_intake(db_engine, config, now=now)
    sweeps: list[tuple[int, bool]] = []
    ticks = iter(range(1000))  # a clock that never runs out of the run's time
    result = run_until_scheduled(db_engine, config, now=at("2026-11-28 08:00"), calendar=CAL,
                                 clock=lambda: float(next(ticks)),
                                 on_sweep=lambda r, _: sweeps.append((r.scheduled, r.backlog)))
    assert sweeps == [(100, True), (100, True), (50, False)]
    assert (result.sweeps, result.scheduled, result.backlog, result.per_level) == (3, 250, False, {"L1": 250})
    assert scheduled(db_engine) == 250

    submit(db_engine, [complaint(received_at=now.isoformat(), category="银行卡") for _ in range(150)],
           config=config, calendar=CAL, now=now)
    slow = iter([0.0, 0.0, 200.0, 200.0])  # started, sweep 1 began, ended (200 s later), the time check
    short = run_until_scheduled(db_engine, config, now=at("2026-11-28 08:00"), calendar=CAL,
                                clock=lambda: next(slow))
    assert (short.sweeps, short.scheduled, short.backlog) == (1, 100, True)  # the rest: the next run
    assert scheduled(db_engine) == 350
