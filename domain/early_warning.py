"""Early warning: each cell's daily complaint counts scored against its own baseline (pure).

A cell is an institution (branch, sub-branch or outlet) × JR/T 0169 category. For every day `t`
the cell's expected count is its level × the day kind's factor:

* day kinds (seasonality of weekdays and holidays, from `WorkingCalendar`): the first working day
  after one or more days off (Monday, the day after a holiday: the backlog arrives), any other
  working day (调休 weekend days included), a day off (weekend, public holiday);
* the factors are pooled over every cell (one small number per kind, robust even for sparse cells);
* the level is the cell's own mean over a baseline of up to `baseline_days` days ending before the
  last `guard_days` + 1 days (fewer at the start of the history, at least `min_baseline_days`), divided
  by the mean factor of those days (so a holiday inside the baseline does not pull it down);
* over-dispersion: counts are read as negative binomial, variance μ + c·μ², the same c for every
  cell (method of moments over all cells' baselines, like the factors: a cell's own 112 days give
  too noisy a c to set a tail by).

The test is the likelihood ratio of "a step of `step_sigma` standard deviations on each of the last
`WINDOW` days" against "no change": per day a weight × the count minus a constant (the negative
binomial log-likelihoods of the two means), summed over the window. A spike is a window whose log
likelihood ratio is at least `threshold` (e^3.4 ≈ 30: the counts are 30 times likelier under the step
than without it), whose tail probability under no change is below `alpha` (a cap per cell) and whose
excess over the expectation is at least `min_excess` cases (a sparse cell's two complaints are not a
spike). One threshold on the likelihood ratio for every cell spends the false-alarm budget where it
buys the most recall (Neyman–Pearson over the cells): a sparse cell alarms at a somewhat higher tail
probability than a busy one. A cell alarms once per spike: a new alarm needs `cooldown_days` days
without one (the dedupe key names the cell and the spike's first day). docs/early-warning.md has the
evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

import numpy as np
import numpy.typing as npt
from scipy.special import gammaincc  # type: ignore[import-untyped]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

FIRST_WORKING, WORKING, DAY_OFF = 0, 1, 2
KIND_NAMES = {FIRST_WORKING: "休息日后首个工作日", WORKING: "工作日", DAY_OFF: "休息日"}
WINDOW = 3  # days summed: the shortest step the evaluation asks for
WINDOWS = (WINDOW,)


class Calendar(Protocol):
    def is_working_day(self, d: date) -> bool: ...


@dataclass(frozen=True)
class Params:
    baseline_days: int = 364
    min_baseline_days: int = 56  # a cell is scored once this much history precedes the guard
    guard_days: int = 3  # the baseline ends before the last guard_days + 1 days (the window and the day before)
    step_sigma: float = 3.0  # the step the likelihood ratio is tuned to, in the day's standard deviations
    threshold: float = 3.4  # log likelihood ratio of the window
    alpha: float = 0.01  # cap on the window's tail probability under no change
    min_excess: float = 3.0
    min_level: float = 0.05  # cases per day: a cell that has been quiet still has some expectation
    max_c: float = 1.0  # cap on the pooled μ² coefficient of the variance
    cooldown_days: int = 14


@dataclass(frozen=True)
class Spike:
    """One cell's alarm on one day: the window that crossed, what was seen and what was expected."""

    cell: int
    day: int  # index into the scored days
    window: int  # days summed
    observed: int
    expected: float
    p_value: float
    llr: float = 0.0

    @property
    def ratio(self) -> float:
        return self.observed / self.expected if self.expected > 0 else float("inf")


def day_kinds(days: Sequence[date], calendar: Calendar) -> IntArray:
    """The kind of each day (FIRST_WORKING, WORKING, DAY_OFF); the day before the first counts as a day off
    only when it is one."""
    out = np.empty(len(days), dtype=np.int64)
    for i, d in enumerate(days):
        if not calendar.is_working_day(d):
            out[i] = DAY_OFF
        else:
            before = d - timedelta(days=1)
            out[i] = FIRST_WORKING if not calendar.is_working_day(before) else WORKING
    return out


def kind_factors(counts: FloatArray, kinds: IntArray) -> FloatArray:
    """The pooled factor of each day kind: the kind's mean daily total over the overall mean (1 when unseen)."""
    totals = counts.sum(axis=0)
    overall = totals.mean() if totals.size else 0.0
    factors = np.ones(3)
    if overall <= 0:
        return factors
    for k in (FIRST_WORKING, WORKING, DAY_OFF):
        sel = kinds == k
        if sel.any():
            factors[k] = max(float(totals[sel].mean()) / overall, 0.05)
    return factors


def _rolling(x: FloatArray, width: int) -> FloatArray:
    """Sum over the `width` columns ending at each column (inclusive), 0-padded at the start."""
    c = np.cumsum(x, axis=-1, dtype=np.float64)
    out = c.copy()
    out[..., width:] = c[..., width:] - c[..., :-width]
    return out


def _baseline(x: FloatArray, length: int, shift: int) -> FloatArray:
    """Sum over the (up to) `length` columns ending `shift` columns before each column, 0 before any."""
    c = np.cumsum(x, axis=-1, dtype=np.float64)
    out = np.zeros_like(c)
    out[..., shift:] = c[..., :-shift]
    if length + shift < c.shape[-1]:
        out[..., length + shift:] -= c[..., :-(length + shift)]
    return out


@dataclass(frozen=True)
class Scores:
    """Per cell and day: the window's log likelihood ratio, its tail probability (1 unless it crossed the
    threshold), the window, what was seen and what was expected, and the alarm."""

    p_value: FloatArray
    window: IntArray
    observed: FloatArray
    expected: FloatArray
    alarm: BoolArray
    llr: FloatArray
    dispersion: FloatArray  # the pooled μ² coefficient c of each day


def pooled_dispersion(num: FloatArray, den: FloatArray, cap: float) -> FloatArray:
    """c per day: Σ over cells of ((y − μ)² − μ) over Σ μ² (baseline sums), within [0, cap]."""
    total = den.sum(axis=0)
    c = np.where(total > 0, num.sum(axis=0) / np.where(total > 0, total, 1.0), 0.0)
    out: FloatArray = np.clip(c, 0.0, cap)
    return out


def score(counts: FloatArray, kinds: IntArray, params: Params | None = None,
          factors: FloatArray | None = None) -> Scores:
    """Score every cell on every day with at least `min_baseline_days` of baseline (earlier days: no alarm)."""
    params = params or Params()
    y = np.asarray(counts, dtype=np.float64)
    n_cells, n_days = y.shape
    f = kind_factors(y, kinds) if factors is None else np.asarray(factors, dtype=np.float64)
    fd = f[kinds]  # the factor of each day
    L = params.baseline_days
    shift = max(params.guard_days, WINDOW - 1) + 1  # the baseline ends before the window and the guard
    base_y, base_f = _baseline(y, L, shift), _baseline(fd, L, shift)
    base_f2 = _baseline(fd * fd, L, shift)
    base_y2, base_yf = _baseline(y * y, L, shift), _baseline(y * fd[None, :], L, shift)
    held = np.minimum(np.maximum(np.arange(n_days) - shift + 1, 0), L)
    valid = held >= min(params.min_baseline_days, L)
    safe_f = np.where(base_f > 0, base_f, 1.0)
    level = np.maximum(base_y / safe_f, params.min_level)
    # Method of moments for the μ² term over the baseline: Σ (y − level·f)² − level·f against Σ (level·f)².
    num = base_y2 - 2 * level * base_yf + level * level * base_f2 - level * base_f
    den = level * level * base_f2
    c = np.maximum(pooled_dispersion(num, den, params.max_c), 1e-9)[None, :]
    mu = level * fd[None, :]
    v = mu + c * mu * mu
    # Log likelihood ratio of one day, NB(μ + δ) against NB(μ) with δ = step_sigma·sd and size 1/c:
    # y·log((μ + δ)/μ · (1 + cμ)/(1 + c(μ + δ))) − log(1 + cδ/(1 + cμ))/c.
    d = params.step_sigma * np.sqrt(v)
    shrink = np.log1p(c * d / (1 + c * mu))
    a = np.log1p(d / mu) - shrink
    llr_day = a * y - shrink / c
    llr = _rolling(llr_day, WINDOW)
    obs = _rolling(y, WINDOW)
    exp = _rolling(mu, WINDOW)
    crossed = valid[None, :] & (llr >= params.threshold) & (obs - exp >= params.min_excess)
    p = np.ones_like(y)
    idx = np.nonzero(crossed)
    if idx[0].size:
        # Tail of the weighted sum Σ a·y under no change: a gamma with its mean, variance and skewness
        # (Pearson type III; the negative binomial's third cumulant is v·(2v/μ − 1)), half a step of
        # continuity correction.
        k1 = _rolling(a * mu, WINDOW)[idx]
        k2 = _rolling(a * a * v, WINDOW)[idx]
        k3 = _rolling(a ** 3 * v * (2 * v / mu - 1), WINDOW)[idx]
        s = _rolling(a * y, WINDOW)[idx] - 0.5 * _rolling(a, WINDOW)[idx] / WINDOW
        shape = 4 * k2 ** 3 / np.maximum(k3 * k3, 1e-300)
        scale = k3 / (2 * k2)
        x = np.maximum((s - k1) / scale + shape, 0.0)
        p[idx] = np.asarray(gammaincc(shape, x), dtype=np.float64)
    alarm = crossed & (p < params.alpha)
    window = np.where(alarm, WINDOW, 0).astype(np.int64)
    return Scores(p, window, obs, exp, alarm, llr, np.broadcast_to(c[0], (n_days,)).copy())


def episodes(alarm: BoolArray, cooldown_days: int) -> BoolArray:
    """The first alarm of each spike: an alarm with no alarm of the same cell in the `cooldown_days` before."""
    a = np.asarray(alarm, dtype=bool)
    recent = _rolling(a.astype(np.float64), cooldown_days)
    before = np.zeros_like(recent)
    before[:, 1:] = recent[:, :-1]
    out: BoolArray = a & (before == 0)
    return out


def spikes_on(scores: Scores, day: int) -> list[Spike]:
    """The cells alarming on scored day `day`, most significant first."""
    cells = np.nonzero(scores.alarm[:, day])[0]
    out = [Spike(int(c), day, int(scores.window[c, day]), int(scores.observed[c, day]),
                 float(scores.expected[c, day]), float(scores.p_value[c, day]), float(scores.llr[c, day]))
           for c in cells]
    return sorted(out, key=lambda s: (s.p_value, s.cell))


def sigma_jump(spike: Spike, phi: float = 1.0) -> float:
    """The jump in standard deviations of the window's sum (Poisson-like with dispersion φ)."""
    if spike.expected <= 0:
        return float("inf")
    return (spike.observed - spike.expected) / float(np.sqrt(phi * spike.expected))
