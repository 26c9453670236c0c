import math

import numpy as np
import pytest
import torch

from ganhacks.data.toy2d import grid25_means, ring8_means
from ganhacks.metrics import frechet_distance, kid, kl_to_uniform, mode_metrics, prdc


def reference_fd(a, b):
    """Independent reference: Tr sqrt(S_a S_b) as the sum of square roots of the eigenvalues of S_a S_b."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a = (a - mu_a).T @ (a - mu_a) / (len(a) - 1)
    s_b = (b - mu_b).T @ (b - mu_b) / (len(b) - 1)
    eig = np.linalg.eigvals(s_a @ s_b)
    tr_sqrt = np.sqrt(np.clip(eig.real, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_sqrt)


def reference_mmd2(x, y):
    """Unbiased MMD^2 with k(u, v) = (u.v / d + 1)^3, by explicit sums over pairs."""
    d = x.shape[1]
    k = lambda u, v: (u @ v / d + 1) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_fd_matches_reference():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8))
    b = rng.normal(0.3, 1.5, size=(400, 8)) @ rng.normal(size=(8, 8))
    assert frechet_distance(a, b) == pytest.approx(reference_fd(a, b), rel=1e-6)
    assert frechet_distance(torch.from_numpy(a).float(), torch.from_numpy(b).float()) == pytest.approx(
        reference_fd(a, b), rel=1e-4
    )


def test_fd_zero_for_identical_and_handles_singular():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 6))
    assert abs(frechet_distance(a, a)) < 1e-6
    low_rank = rng.normal(size=(50, 2)) @ rng.normal(size=(2, 10))  # singular covariance
    value = frechet_distance(low_rank, low_rank + 0.5)
    assert math.isfinite(value) and value == pytest.approx(10 * 0.25, rel=1e-3)


def test_kid_matches_reference():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(40, 5)), rng.normal(0.5, 1.0, size=(40, 5))
    # With one subset covering every sample, each subset is a permutation of the whole set.
    mean, std = kid(a, b, subsets=5, subset_size=40)
    assert mean == pytest.approx(reference_mmd2(a, b), rel=1e-6)
    assert std == pytest.approx(0.0, abs=1e-9)
    m2, s2 = kid(rng.normal(size=(300, 5)), rng.normal(size=(300, 5)), subsets=20, subset_size=100)
    assert abs(m2) < 3 * s2 + 1e-3 and s2 > 0  # same distribution: unbiased around 0


def test_prdc_known_answers():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(200, 4))
    same = prdc(real, real.copy())
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    assert same["density"] == pytest.approx(1.0, abs=0.25)
    far = prdc(real, real + 100.0)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    half = prdc(real, np.concatenate([real[:100], real[:100] + 100.0]))
    assert half["precision"] == pytest.approx(0.5)


def test_mode_metrics_exact():
    ring = ring8_means()
    all_modes = ring.repeat(10, 1)
    assert mode_metrics(all_modes, ring, 0.01) == {"modes": 8, "hq": 1.0, "kl": pytest.approx(0.0, abs=1e-12)}
    one = ring[:1].repeat(50, 1) + 0.01  # within 3 std of mode 0
    assert mode_metrics(one, ring, 0.01) == {"modes": 1, "hq": 1.0, "kl": pytest.approx(math.log(8))}
    off = torch.zeros(30, 2)  # the centre of the ring is far from every mode
    res = mode_metrics(off, ring, 0.01)
    assert res["modes"] == 0 and res["hq"] == 0.0 and math.isnan(res["kl"])
    grid = grid25_means()
    mixed = torch.cat([grid, torch.full((25, 2), 1.0)])  # 25 HQ + 25 between modes
    assert mode_metrics(mixed, grid, 0.05) == {"modes": 25, "hq": 0.5, "kl": pytest.approx(0.0, abs=1e-12)}
    assert mode_metrics(torch.tensor([[float("nan"), 0.0], [1.0, 0.0]]), ring, 0.01)["hq"] == 0.5


def test_kl_to_uniform():
    assert kl_to_uniform([5, 5, 5, 5]) == pytest.approx(0.0)
    assert kl_to_uniform([10, 0, 0, 0]) == pytest.approx(math.log(4))
    assert kl_to_uniform([1, 3]) == pytest.approx(0.25 * math.log(0.5) + 0.75 * math.log(1.5))
    assert math.isnan(kl_to_uniform([0, 0]))


def test_frechet_distance_of_non_finite_features_is_nan_not_an_error():
    """A G whose weights went NaN gives NaN features; its evaluation must record that, not end the run."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    assert math.isfinite(frechet_distance(a, b))
    a[3, 1] = np.nan
    assert math.isnan(frechet_distance(a, b)) and math.isnan(frechet_distance(b, a))
