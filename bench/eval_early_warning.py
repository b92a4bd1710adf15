"""Evaluate the early-warning scorer (domain/early_warning.py) on synthetic histories with injected steps.

Each synthetic cell has a level drawn log-uniformly from `--rates` (cases per ordinary working
day), the seasonality of China's real calendar for 2025-2026 (first working day after days off ×1.3,
days off ×0.35, the Spring Festival and National Day weeks included) and gamma-Poisson noise
(shape 50: variance μ + μ²/50, `SHAPE`). Half the cells get one step of +3σ per day (σ the day's own
standard deviation) lasting 3-10 days, starting after the first 120 days.

* recall: a step counts as found when an alarm of its cell falls on a day from its start to the
  2nd working day after it (`WorkingCalendar.add_working_days(start, 2)`);
* false alarms: first alarms of a spike (the dedupe rule) outside [start, end + 7 days] of the
  cell's step, per 100 cell-weeks of the scored days.

    .venv/bin/python -m bench.eval_early_warning [--cells 2000] [--seed 16] [--rates 1,30]

One seed per run; docs/early-warning.md has seeds 1-16 (a shell loop over `--seed`: 1-8 tuned on,
9-16 held out). The unit test (tests/unit/test_early_warning.py) asserts the targets on the mean of
seeds 1-4.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import numpy as np

from domain.calendar import WorkingCalendar
from domain.early_warning import Params, day_kinds, episodes, score

START = date(2025, 1, 1)
DAYS = 730
WARMUP = 120
KIND_MEAN = {0: 1.3, 1: 1.0, 2: 0.35}
SHAPE = 50.0


@dataclass(frozen=True)
class Evaluation:
    cells: int
    steps: int
    found: int
    recall: float
    false_alarms: int
    cell_weeks: float
    false_per_100_cell_weeks: float
    median_delay_working_days: float
    seconds: float
    by_rate: dict[str, dict[str, float]]


def synthetic(rng: np.random.Generator, cells: int, rates: tuple[float, float],
              calendar: WorkingCalendar) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int]], np.ndarray]:
    """Counts [cells, days], the day kinds, the steps (cell, start, end inclusive) and each cell's level."""
    days = [START + timedelta(days=i) for i in range(DAYS)]
    kinds = day_kinds(days, calendar)
    level = np.exp(rng.uniform(np.log(rates[0]), np.log(rates[1]), size=cells))
    mu = level[:, None] * np.array([KIND_MEAN[int(k)] for k in kinds])[None, :]
    sd = np.sqrt(mu + mu * mu / SHAPE)
    steps: list[tuple[int, int, int]] = []
    for c in range(cells):
        if rng.random() < 0.5:
            start = int(rng.integers(WARMUP, DAYS - 12))
            end = start + int(rng.integers(3, 11)) - 1
            mu[c, start:end + 1] += 3 * sd[c, start:end + 1]
            steps.append((c, start, end))
    lam = rng.gamma(SHAPE, mu / SHAPE)
    counts = rng.poisson(lam).astype(np.float64)
    return counts, kinds, steps, level


def evaluate(*, cells: int = 2000, seed: int = 16, rates: tuple[float, float] = (1.0, 30.0),
             params: Params | None = None) -> Evaluation:
    params = params or Params()
    calendar = WorkingCalendar()
    rng = np.random.default_rng(seed)
    counts, kinds, steps, level = synthetic(rng, cells, rates, calendar)
    t0 = time.perf_counter()
    scores = score(counts, kinds, params)
    first = episodes(scores.alarm, params.cooldown_days)
    seconds = time.perf_counter() - t0
    days = [START + timedelta(days=i) for i in range(DAYS)]
    index = {d: i for i, d in enumerate(days)}
    step_of = {c: (s, e) for c, s, e in steps}
    found, delays = 0, []
    found_cells: set[int] = set()
    for c, s, _e in steps:
        deadline = index.get(calendar.add_working_days(days[s], 2), DAYS - 1)
        hit = np.nonzero(scores.alarm[c, s:deadline + 1])[0]
        if hit.size:
            found += 1
            found_cells.add(c)
            delays.append(calendar.working_days_between(days[s], days[s + int(hit[0])]))
    false = 0
    for c, t in zip(*np.nonzero(first[:, WARMUP:]), strict=True):
        t = int(t) + WARMUP
        window = step_of.get(int(c))
        if window is None or not (window[0] <= t <= window[1] + 7):
            false += 1
    cell_weeks = cells * (DAYS - WARMUP) / 7
    by_rate: dict[str, dict[str, float]] = {}
    edges = [rates[0], 2.0, 5.0, 10.0, rates[1]]
    for lo, hi in zip(edges, edges[1:], strict=False):
        if hi <= lo:
            continue
        in_band = [c for c, _s, _e in steps if lo <= level[c] < hi or (hi == rates[1] and level[c] == hi)]
        band_cells = int(((level >= lo) & (level < hi)).sum())
        band_false = sum(1 for c, t in zip(*np.nonzero(first[:, WARMUP:]), strict=True)
                         if lo <= level[c] < hi and not (c in step_of and step_of[c][0] <= t + WARMUP <= step_of[c][1] + 7))
        by_rate[f"{lo:g}-{hi:g}/日"] = {
            "steps": len(in_band), "recall": round(sum(1 for c in in_band if c in found_cells) / len(in_band), 3)
            if in_band else float("nan"),
            "false_per_100_cell_weeks": round(100 * band_false / max(band_cells * (DAYS - WARMUP) / 7, 1), 3),
        }
    return Evaluation(
        cells=cells, steps=len(steps), found=found, recall=found / len(steps) if steps else 1.0,
        false_alarms=false, cell_weeks=cell_weeks, false_per_100_cell_weeks=100 * false / cell_weeks,
        median_delay_working_days=float(np.median(delays)) if delays else float("nan"), seconds=seconds,
        by_rate=by_rate,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--rates", default="1,30", help="lowest and highest level, cases per working day")
    args = parser.parse_args()
    lo, hi = (float(x) for x in args.rates.split(","))
    result = evaluate(cells=args.cells, seed=args.seed, rates=(lo, hi))
    print(json.dumps(asdict(result), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
