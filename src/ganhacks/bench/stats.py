"""Statistics for ablations: pure functions over per-seed metric values.

Each trick's effect is measured as (runs with the trick) minus (runs without it), seed by seed
where both sides have the same seeds. The verdict for one metric is ``helps`` or ``hurts`` when the
bootstrap 95 % confidence interval of that difference excludes 0 (in the metric's better or worse
direction), and ``no evidence`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

# "pending" is the ablation's: a trick whose arms do not have every planned seed yet.
Verdict = Literal["helps", "hurts", "no evidence", "pending"]

# +1: higher is better; -1: lower is better. A metric missing here gets no verdict.
DIRECTIONS: dict[str, int] = {
    "modes": +1,
    "hq": +1,
    "kl": -1,
    "fd": -1,
    "kid": -1,
    "precision": +1,
    "recall": +1,
    "density": +1,
    "coverage": +1,
    "class_modes": +1,
    "class_kl": -1,
    "fd_inception": -1,
    "kid_inception": -1,
}

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0  # a fixed resampling seed, so a report regenerated from the same files is identical
# Below this many seeds on a side, a percentile bootstrap has almost no resamples to draw from (two
# seeds give an "interval" that is just their two differences), so no verdict is given.
MIN_SEEDS = 3


def finite(values: Sequence[float | None]) -> list[float]:
    """The values that are numbers and finite (a diverged run's inf/NaN metrics are left out)."""
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample std / sqrt(n)); SE is NaN below 2 values."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return math.nan, math.nan
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan
    return float(x.mean()), se


def bootstrap_diff(
    with_trick: dict[int, float],
    without: dict[int, float],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float, float, bool]:
    """Mean difference (with - without) and its percentile bootstrap CI: ``(diff, lo, hi, paired)``.

    Both maps go from training seed to a metric value. With fewer than ``MIN_SEEDS`` values on a
    side the CI is NaN (and the verdict "no evidence"). Seeds present on both sides are paired
    (the resample draws seeds, and each keeps its two runs together), which removes the variation
    that the seed puts into both arms alike; with fewer shared seeds than ``MIN_SEEDS`` the two groups
    are resampled independently. Returns NaNs when a side has no values.
    """
    if min(len(with_trick), len(without)) < MIN_SEEDS:
        a, b = list(with_trick.values()), list(without.values())
        diff = float(np.mean(a) - np.mean(b)) if a and b else math.nan
        return diff, math.nan, math.nan, False
    rng = np.random.default_rng(seed)
    shared = sorted(set(with_trick) & set(without))
    tail = (1 - level) / 2
    if len(shared) >= MIN_SEEDS:
        d = np.array([with_trick[s] - without[s] for s in shared])
        idx = rng.integers(0, len(d), size=(resamples, len(d)))
        boots = d[idx].mean(axis=1)
        diff, paired = float(d.mean()), True
    else:
        a, b = np.array(list(with_trick.values())), np.array(list(without.values()))
        boots = a[rng.integers(0, len(a), size=(resamples, len(a)))].mean(1) - b[
            rng.integers(0, len(b), size=(resamples, len(b)))
        ].mean(1)
        diff, paired = float(a.mean() - b.mean()), False
    lo, hi = np.quantile(boots, [tail, 1 - tail])
    return diff, float(lo), float(hi), paired


def verdict(lo: float, hi: float, direction: int) -> Verdict:
    """``helps`` / ``hurts`` when the CI [lo, hi] of (with - without) excludes 0, by the metric's direction."""
    if math.isnan(lo) or math.isnan(hi) or direction == 0:
        return "no evidence"
    if lo > 0 or hi < 0:
        better = (lo > 0) == (direction > 0)
        return "helps" if better else "hurts"
    return "no evidence"


def failure_rate(healthy: Sequence[bool]) -> float:
    """The fraction of runs the doctor called unhealthy (NaN for no runs)."""
    return float(sum(not h for h in healthy) / len(healthy)) if healthy else math.nan


def bootstrap_mean(
    values: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (NaNs below 2 values)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return math.nan, math.nan
    boots = x[np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    tail = (1 - level) / 2
    lo, hi = np.quantile(boots, [tail, 1 - tail])
    return float(lo), float(hi)
