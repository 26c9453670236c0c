"""Statistics for ablations: pure functions over per-seed metric values.

Each trick's effect is measured as (runs with the trick) minus (runs without it), seed by seed
where both sides have the same seeds.

**The test.** The verdict for one metric comes from the paired t test on the per-seed differences
(Welch's t where the two sides do not share seeds), two-sided at 5 %, and its 95 % CI is the matching
t interval, so "the CI excludes 0" and "p < 0.05" are the same statement. Why t, and not the
percentile bootstrap used before: with 3 to 10 seeds a percentile bootstrap interval is too narrow
(with 3 seeds it has only 10 distinct resampled means), so it covers the true effect far less often
than 95 % and calls chance a verdict too often; ``benchmarks/stats_coverage.py`` measures this, and
``tests/test_stats_coverage.py`` holds the t interval to its coverage and false-positive rate at
n = 3, 5 and 10, for normal and heavy-tailed (t, 3 degrees of freedom) differences.

**Beside it**, from ``SIGNFLIP_MIN_SEEDS`` paired seeds on, the exact sign-flip permutation p value
(every one of the 2^n sign patterns up to n = 16, Monte Carlo above), which assumes only that the
differences are symmetric about 0 under the null. It is not the verdict's test because with n seeds
its smallest two-sided p is 2/2^n: below 6 seeds it can never reach 0.05, and 5 seeds is the MNIST
protocol.

**Many questions at once.** A verdict table asks one question per trick; at 5 % each, chance alone
gives some "helps" and "hurts". ``bh_adjust`` gives Benjamini-Hochberg adjusted p values (q) over a
table's tests, and the adjusted verdict (q < 0.05) keeps the false discovery rate at 5 %. Reports show
both; the `recommended` rule reads the adjusted one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as _sps

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

ALPHA = 0.05  # the tests' two-sided level
LEVEL = 0.95  # the CI's level, 1 - ALPHA (written out: 1 - 0.95 is 0.05000000000000004 in floats)
# Below this many seeds on a side no verdict is given: a t interval from two seeds has one degree of
# freedom and is valid, but so wide (±12.7 SE) that it would only ever say "no evidence".
MIN_SEEDS = 3
SIGNFLIP_MIN_SEEDS = 6  # the first n at which an exact two-sided sign-flip p can fall below 0.05
SIGNFLIP_EXACT_MAX = 16  # 2^16 = 65,536 sign patterns; above this, Monte Carlo
SIGNFLIP_RESAMPLES = 100_000
SIGNFLIP_SEED = 0  # a fixed seed, so a report regenerated from the same files is identical
TEST_NAME = "paired t (Welch's t where seeds are not shared)"
FDR_NAME = "Benjamini-Hochberg"


@dataclass(frozen=True)
class Comparison:
    """One metric's effect: mean difference (with - without), its CI, and the tests' p values."""

    diff: float
    lo: float
    hi: float
    p: float  # the t test's two-sided p (NaN below MIN_SEEDS)
    p_signflip: float | None  # exact sign-flip p, only for paired differences from SIGNFLIP_MIN_SEEDS on
    paired: bool
    n: int  # paired seeds, or the smaller side's count when unpaired


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


def _t_interval(mean: float, se: float, df: float, level: float) -> tuple[float, float, float]:
    """``(lo, hi, p)`` of a t statistic; a zero SE (every difference the same) is an exact answer."""
    if se == 0:
        return mean, mean, (1.0 if mean == 0 else 0.0)
    half = float(_sps.t.ppf(1 - (1 - level) / 2, df)) * se
    p = float(2 * _sps.t.sf(abs(mean) / se, df))
    return mean - half, mean + half, p


def mean_ci(values: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """The t interval of the mean of ``values`` (NaNs below 2 values)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return math.nan, math.nan
    mean, se = mean_se(x)
    lo, hi, _ = _t_interval(mean, se, len(x) - 1, level)
    return lo, hi


def paired_t(d: Sequence[float], level: float = LEVEL) -> tuple[float, float, float, float]:
    """Mean of the paired differences ``d``, its t interval and the two-sided p: ``(mean, lo, hi, p)``."""
    x = np.asarray(d, dtype=float)
    if len(x) < 2:
        return (float(x.mean()) if len(x) else math.nan), math.nan, math.nan, math.nan
    mean, se = mean_se(x)
    return (mean, *_t_interval(mean, se, len(x) - 1, level))


def welch_t(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> tuple[float, float, float, float]:
    """Difference of means (a - b), Welch's t interval and two-sided p: ``(diff, lo, hi, p)``."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(x.mean() - y.mean()) if len(x) and len(y) else math.nan
    if min(len(x), len(y)) < 2:
        return diff, math.nan, math.nan, math.nan
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(vx + vy)
    # Welch-Satterthwaite degrees of freedom; with both variances 0 the answer is exact anyway.
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1)) if se > 0 else 1.0
    return (diff, *_t_interval(diff, se, df, level))


def sign_flip_p(
    d: Sequence[float],
    exact_max: int = SIGNFLIP_EXACT_MAX,
    resamples: int = SIGNFLIP_RESAMPLES,
    seed: int = SIGNFLIP_SEED,
) -> float:
    """Two-sided sign-flip permutation p of the mean of the paired differences ``d``.

    Under the null each difference is as likely to have either sign, so the observed |sum| is ranked
    among the |sums| of every sign pattern: all 2^n of them up to ``exact_max`` seeds (an exact test),
    else ``resamples`` random patterns plus the observed one.
    """
    x = np.asarray(d, dtype=float)
    n = len(x)
    if n == 0:
        return math.nan
    observed = abs(x.sum())
    # A relative tolerance so that patterns equal to the observed one up to rounding count as ties.
    tol = 1e-9 * max(float(np.abs(x).sum()), 1e-300)
    if n <= exact_max:
        codes = np.arange(2**n, dtype=np.int64)[:, None]
        signs = 1 - 2 * ((codes >> np.arange(n)) & 1)
        sums = np.abs(signs @ x)
        return float(np.mean(sums >= observed - tol))
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(resamples, n))
    hits = int(np.sum(np.abs(signs @ x) >= observed - tol))
    return (hits + 1) / (resamples + 1)


def compare(with_trick: dict[int, float], without: dict[int, float], level: float = LEVEL) -> Comparison:
    """The effect of a trick on one metric, from two maps of training seed to metric value.

    Seeds present on both sides are paired (the seed moves both arms alike, and pairing removes
    that): the paired t test, and the sign-flip p beside it from ``SIGNFLIP_MIN_SEEDS`` pairs on.
    With fewer shared seeds than ``MIN_SEEDS`` the two sides are compared by Welch's t. With fewer
    than ``MIN_SEEDS`` values on a side the CI and p are NaN (no verdict).
    """
    a, b = list(with_trick.values()), list(without.values())
    if min(len(a), len(b)) < MIN_SEEDS:
        diff = float(np.mean(a) - np.mean(b)) if a and b else math.nan
        return Comparison(diff, math.nan, math.nan, math.nan, None, False, min(len(a), len(b)))
    shared = sorted(set(with_trick) & set(without))
    if len(shared) >= MIN_SEEDS:
        d = [with_trick[s] - without[s] for s in shared]
        diff, lo, hi, p = paired_t(d, level)
        flip = sign_flip_p(d) if len(d) >= SIGNFLIP_MIN_SEEDS else None
        return Comparison(diff, lo, hi, p, flip, True, len(d))
    diff, lo, hi, p = welch_t(a, b, level)
    return Comparison(diff, lo, hi, p, None, False, min(len(a), len(b)))


def bh_adjust(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p values (q), in the input's order.

    NaN p values (tests that could not be run) are left NaN and do not count among the tests.
    Rejecting every test with q < α keeps the expected share of false verdicts among all verdicts
    at most α, for independent or positively dependent tests.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(len(p), math.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out.tolist()
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order] * m / np.arange(1, m + 1)
    # q_(i) = min over j >= i of p_(j) m / j, capped at 1
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out[order] = np.minimum(q, 1.0)
    return out.tolist()


def verdict(diff: float, p: float, direction: int, alpha: float = ALPHA) -> Verdict:
    """``helps`` / ``hurts`` when the test rejects "no effect" (p < alpha), by the metric's direction."""
    if math.isnan(p) or math.isnan(diff) or direction == 0 or p >= alpha or diff == 0:
        return "no evidence"
    return "helps" if (diff > 0) == (direction > 0) else "hurts"


def failure_rate(healthy: Sequence[bool]) -> float:
    """The fraction of runs the doctor called unhealthy (NaN for no runs)."""
    return float(sum(not h for h in healthy) / len(healthy)) if healthy else math.nan
