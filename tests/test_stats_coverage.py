"""The verdicts' statistics keep their promise at the seed counts the bench uses.

Over 2,000 simulated paired tables per case, at n = 3, 5 and 10 seeds, with normal and heavy-tailed
(t, 3 degrees of freedom) per-seed differences:
- the 95 % CI covers the true mean difference at least 93 % of the time (shifted differences);
- under the null (true mean 0) the test calls a verdict at most 5 % of the time, plus Monte Carlo error.
The same holds for the sign-flip test where it is shown (n >= 6), and the Benjamini-Hochberg
adjustment keeps the false discovery rate of a whole table at 5 %.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ganhacks.bench import stats

TABLES = 2_000
# One-sided Monte Carlo allowance on a rate of 5 % over 2,000 draws: 3 standard errors.
MC = 3 * math.sqrt(0.05 * 0.95 / TABLES)


def draws(dist: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """TABLES rows of n per-seed differences with mean 0 and unit scale."""
    if dist == "normal":
        return rng.normal(size=(TABLES, n))
    return rng.standard_t(3, size=(TABLES, n))


def compare_rows(d: np.ndarray, shift: float) -> list[stats.Comparison]:
    """Each row as an ablation gives it to stats.compare: two arms, seed by seed."""
    out = []
    for row in d:
        without = {s: 10.0 + 0.1 * s for s in range(len(row))}  # the seed moves both arms alike
        with_trick = {s: without[s] + shift + float(v) for s, v in enumerate(row)}
        out.append(stats.compare(with_trick, without))
    return out


@pytest.mark.parametrize("dist", ["normal", "t3"])
@pytest.mark.parametrize("n", [3, 5, 10])
def test_ci_covers_and_the_test_holds_its_false_positive_rate(n, dist):
    rng = np.random.default_rng(1000 * n + (dist == "t3"))
    shift = 0.7
    shifted = compare_rows(draws(dist, n, rng), shift)
    coverage = np.mean([c.lo <= shift <= c.hi for c in shifted])
    assert coverage >= 0.93, f"the 95 % CI covered the true effect in {coverage:.1%} of tables at n = {n} ({dist})"

    null = compare_rows(draws(dist, n, rng), 0.0)
    rate = np.mean([stats.verdict(c.diff, c.p, -1) != "no evidence" for c in null])
    assert rate <= 0.05 + MC, f"the test gave a verdict on {rate:.1%} of null tables at n = {n} ({dist})"
    # the CI and the test agree: a verdict exactly when the CI excludes 0
    assert all((c.lo > 0 or c.hi < 0) == (c.p < stats.ALPHA) for c in null + shifted)
    flips = [c.p_signflip for c in null]
    if n >= stats.SIGNFLIP_MIN_SEEDS:
        assert np.mean([p < stats.ALPHA for p in flips]) <= 0.05 + MC
    else:
        assert all(p is None for p in flips)


def test_the_test_has_power_where_a_verdict_is_due():
    """A test that never rejects would pass the false-positive check; this one must see a clear effect."""
    rng = np.random.default_rng(7)
    shifted = compare_rows(draws("normal", 10, rng), 1.5)
    assert np.mean([c.p < stats.ALPHA for c in shifted]) >= 0.95


def test_benjamini_hochberg_keeps_a_tables_false_discovery_rate():
    """Tables of 20 tricks, 15 with no effect and 5 with a real one, at 5 seeds: the share of false
    verdicts among a table's verdicts averages at most 5 % after the adjustment (not before)."""
    rng = np.random.default_rng(3)
    tables, m, real = 500, 20, 5
    shifts = np.r_[np.full(real, 2.0), np.zeros(m - real)]
    raw_fdp, adj_fdp = [], []
    for _ in range(tables):
        d = rng.normal(size=(m, 5)) + shifts[:, None]
        p = [stats.paired_t(row)[3] for row in d]
        q = stats.bh_adjust(p)
        for values, out in ((p, raw_fdp), (q, adj_fdp)):
            called = np.array(values) < stats.ALPHA
            false = called[real:].sum()
            out.append(false / max(called.sum(), 1))
    se = math.sqrt(0.05 * 0.95 / tables)
    assert np.mean(adj_fdp) <= 0.05 + 3 * se
    assert np.mean(raw_fdp) > np.mean(adj_fdp)  # the adjustment is what brought it down
