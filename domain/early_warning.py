"""Early warning: each cell's daily complaint counts scored against its own baseline (pure).

A cell is an institution (branch, sub-branch or outlet) × JR/T 0169 category. For every day `t`
the cell's expected count is its level × the day kind's factor:

* day kinds (seasonality of weekdays and holidays, from `WorkingCalendar`): the first working day
  after one or more days off (Monday, the day after a holiday: the backlog arrives), any other
  working day (调休 weekend days included), a day off (weekend, public holiday);
* the factors are pooled over every cell (one small number per kind, robust even for sparse cells);
* the level is the cell's own mean over a baseline of `baseline_days` days ending `guard_days`
  before `t`, divided by the mean factor of those days (so a holiday inside the baseline does not
  pull it down);
* over-dispersion: the cell's Pearson dispersion φ over the same baseline (at least `min_phi`), so
  the counts are read as negative binomial with mean μ and variance φ·μ.

The last 1, 2 and 3 days are each tested (scipy's `nbinom.sf`: the probability of at least the
observed sum): a spike is a window whose tail probability is below `alpha` and whose excess over
the expectation is at least `min_excess` cases (a sparse cell's two complaints are not a spike).
A cell alarms once per spike: a new alarm needs `cooldown_days` days without one (the dedupe key
names the cell and the spike's first day). docs/early-warning.md has the evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

import numpy as np
import numpy.typing as npt
from scipy.stats import nbinom, norm  # type: ignore[import-untyped]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

FIRST_WORKING, WORKING, DAY_OFF = 0, 1, 2
KIND_NAMES = {FIRST_WORKING: "休息日后首个工作日", WORKING: "工作日", DAY_OFF: "休息日"}
WINDOWS = (2, 3)


class Calendar(Protocol):
    def is_working_day(self, d: date) -> bool: ...


@dataclass(frozen=True)
class Params:
    baseline_days: int = 112
    guard_days: int = 3  # the days just before the tested windows stay out of the baseline
    alpha: float = 2e-4  # one-sided tail of the window's summed residuals
    alpha_sum: float = 3e-3  # and of its raw sum (negative binomial)
    min_excess: float = 3.0
    min_level: float = 0.05  # cases per day: a cell that has been quiet still has some expectation
    min_phi: float = 1.02
    min_phi_score: float = 1.0
    max_phi: float = 10.0
    cooldown_days: int = 14


@dataclass(frozen=True)
class Spike:
    """One cell's alarm on one day: the window that crossed, what was seen and what was expected."""

    cell: int
    day: int  # index into the scored days
    window: int  # days summed (1-3)
    observed: int
    expected: float
    p_value: float

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


@dataclass(frozen=True)
class Scores:
    """Per cell and day: the smallest tail probability over the windows and the window it came from."""

    p_value: FloatArray
    window: IntArray
    observed: FloatArray
    expected: FloatArray
    alarm: BoolArray


def score(counts: FloatArray, kinds: IntArray, params: Params | None = None,
          factors: FloatArray | None = None) -> Scores:
    """Score every cell on every day that has a full baseline (earlier days: p = 1, no alarm)."""
    params = params or Params()
    y = np.asarray(counts, dtype=np.float64)
    n_cells, n_days = y.shape
    f = kind_factors(y, kinds) if factors is None else factors
    fd = f[kinds]  # the factor of each day
    L, g = params.baseline_days, params.guard_days
    # Baseline sums ending at t - g (exclusive of the last g days and of t itself).
    sy, sf = _rolling(y, L), _rolling(fd, L)
    sy2f = _rolling(y * y / fd, L)
    shift = g + 1
    base_y = np.zeros_like(y)
    base_y2f = np.zeros_like(y)
    base_f = np.zeros(n_days)
    base_y[:, shift:] = sy[:, :-shift]
    base_y2f[:, shift:] = sy2f[:, :-shift]
    base_f[shift:] = sf[:-shift]
    valid = np.zeros(n_days, dtype=bool)
    valid[L + shift - 1:] = True
    safe_f = np.where(base_f > 0, base_f, 1.0)
    level = np.maximum(base_y / safe_f, params.min_level)
    # Pearson dispersion of the baseline: sum((y - level f)^2 / (level f)) / (L - 1).
    chi = base_y2f / level - 2 * base_y + level * base_f
    phi = np.clip(chi / max(L - 1, 1), params.min_phi_score, params.max_phi)
    mu_day = level * fd[None, :]
    # Pearson residuals of each day against its own expectation and dispersion: summed over a window
    # they weigh a working day and a day off by their own standard deviation.
    resid = (y - mu_day) / np.sqrt(phi * mu_day)
    z_cut = float(norm.isf(params.alpha))
    best_p = np.ones_like(y)
    best_w = np.zeros(y.shape, dtype=np.int64)
    best_obs = np.zeros_like(y)
    best_exp = np.zeros_like(y)
    for w in WINDOWS:
        z = _rolling(resid, w) / np.sqrt(w)
        obs = _rolling(y, w)
        exp = _rolling(mu_day, w)
        candidate = valid[None, :] & (z > z_cut) & (obs - exp >= params.min_excess)
        idx = np.nonzero(candidate)
        if idx[0].size == 0:
            continue
        # The window's raw sum read as negative binomial: guards the sparse cells, whose residuals
        # are skewed, against a spike of two or three complaints.
        mu, ph, s = exp[idx], np.maximum(phi[idx], params.min_phi), obs[idx]
        p = np.asarray(nbinom.sf(s - 1, mu / (ph - 1.0), 1.0 / ph), dtype=np.float64)
        p = np.where(p < params.alpha_sum, np.minimum(p, norm.sf(z[idx])), 1.0)
        better = p < best_p[idx]
        rows, cols = idx[0][better], idx[1][better]
        best_p[rows, cols] = p[better]
        best_w[rows, cols] = w
        best_obs[rows, cols] = s[better]
        best_exp[rows, cols] = mu[better]
    alarm = best_p < 1.0
    return Scores(best_p, best_w, best_obs, best_exp, alarm)


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
                 float(scores.expected[c, day]), float(scores.p_value[c, day])) for c in cells]
    return sorted(out, key=lambda s: (s.p_value, s.cell))


def sigma_jump(spike: Spike, phi: float = 1.0) -> float:
    """The jump in standard deviations of the window's sum (Poisson-like with dispersion φ)."""
    if spike.expected <= 0:
        return float("inf")
    return (spike.observed - spike.expected) / float(np.sqrt(phi * spike.expected))
