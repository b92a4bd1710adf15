"""The early-warning scorer (domain/early_warning.py) on synthetic histories with injected steps."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from bench.eval_early_warning import evaluate
from domain.calendar import WorkingCalendar
from domain.early_warning import (
    DAY_OFF,
    FIRST_WORKING,
    WORKING,
    Params,
    day_kinds,
    episodes,
    score,
    spikes_on,
)


def test_recall_and_false_alarms_on_the_mean_of_four_seeds() -> None:
    """Over seeds 1-4, a +3σ step of 3-10 days is found within 2 working days in ≥ 90 % of cells on average, with
    ≤ 1 false alarm per 100 cell-weeks on average (docs/early-warning.md has seeds 1-16)."""
    results = [evaluate(cells=2000, seed=seed) for seed in (1, 2, 3, 4)]
    assert all(r.steps > 900 for r in results)
    assert float(np.mean([r.recall for r in results])) >= 0.90
    assert float(np.mean([r.false_per_100_cell_weeks for r in results])) <= 1.0


def test_day_kinds_follow_the_calendar_with_holidays_and_makeup_days() -> None:
    """National Day week is days off, the day after it the first working day, a 调休 Saturday a working day."""
    cal = WorkingCalendar()
    days = [date(2025, 10, 1) + timedelta(days=i) for i in range(12)]
    kinds = day_kinds(days, cal)
    assert list(kinds[:8]) == [DAY_OFF] * 8  # 1-8 October 2025
    assert kinds[8] == FIRST_WORKING and kinds[9] == WORKING  # Thursday 9, Friday 10
    assert kinds[10] == WORKING  # Saturday 11 October 2025 is a 调休 working day


def test_a_quiet_cell_with_two_complaints_is_not_a_spike_and_a_jump_is() -> None:
    """A sparse cell's sudden 2 cases stays below min_excess; a busy cell's tripling alarms once per spike."""
    rng = np.random.default_rng(1)
    n = 200
    counts = np.vstack([rng.poisson(0.1, n), rng.poisson(10, n)]).astype(np.float64)
    counts[0, 150] = 2
    counts[1, 150:154] = 30
    kinds = np.full(n, WORKING)
    s = score(counts, kinds, Params())
    assert not s.alarm[0, 150:155].any()
    assert s.alarm[1, 150:154].any()
    first = episodes(s.alarm, 14)
    assert int(first[1, 150:170].sum()) == 1


def test_an_alarm_names_its_window_and_its_likelihood_ratio() -> None:
    """The busy cell's spike is a 3-day window over the threshold, below alpha, with what was seen and expected."""
    rng = np.random.default_rng(2)
    n = 200
    counts = rng.poisson(10, (3, n)).astype(np.float64)
    counts[0, 150:153] = 30
    s = score(counts, np.full(n, WORKING), Params())
    spikes = spikes_on(s, 152)
    assert [x.cell for x in spikes] == [0]
    spike = spikes[0]
    assert spike.window == 3 and spike.observed == 90 and 25 < spike.expected < 35
    assert spike.llr >= Params().threshold and spike.p_value < Params().alpha
    assert 0.0 <= float(s.dispersion[152]) < 0.05  # Poisson counts: no μ² term to speak of
