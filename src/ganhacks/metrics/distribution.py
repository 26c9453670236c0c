"""Distribution metrics between two feature sets [N, D]: Fréchet distance, KID and PRDC.

They take numpy arrays or torch tensors and work in any feature space (a classifier's
penultimate layer, Inception pool features, or raw 2D points).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch


def _np(x: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D array [N, D], got shape {list(x.shape)}")
    return x


def frechet_distance(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to ``a`` and ``b`` (the FID formula of pytorch-fid).

    ||mu_a - mu_b||^2 + Tr(S_a) + Tr(S_b) - 2 Tr(sqrt(S_a S_b)). When the matrix square root is
    not finite (a singular product), ``eps`` is added to both diagonals and it is taken again;
    a complex result whose diagonal has an imaginary part above 1e-3 is an error, otherwise
    the real part is used. NaN when either set has a feature that is not finite (the samples of a G
    whose weights went NaN): an evaluation then records the failure instead of ending the run.
    """
    from scipy import linalg

    a, b = _np(a), _np(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.nan
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():
        # A singular product is expected (dead ReLU features, fewer samples than dimensions);
        # it is handled below exactly as pytorch-fid does, so scipy's warning is noise here.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s_a @ s_b)
        if not np.isfinite(covmean).all():
            offset = np.eye(s_a.shape[0]) * eps
            covmean = linalg.sqrtm((s_a + offset) @ (s_b + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm has an imaginary component of {np.max(np.abs(covmean.imag)):.3g}")
        covmean = covmean.real
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean))


def kid(
    a: np.ndarray | torch.Tensor,
    b: np.ndarray | torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD² with the cubic
    polynomial kernel k(x, y) = (x·y / D + 1)³, over ``subsets`` random subsets of
    ``min(subset_size, len(a), len(b))`` samples drawn without replacement. Returns (mean, std)."""
    a, b = _np(a), _np(b)
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)

    def kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        t = x @ y.T / d + 1
        return t * t * t  # numpy's ** 3 goes through pow(), several times slower

    # With every pairwise kernel value computed once, a subset's sum is v' K w for its 0/1 indicator
    # vectors: the same subsets and sums as the loop below (up to rounding), at a fraction of the cost
    # when the sets are small next to subsets * subset_size. Up to ~800 MB of kernels; larger sets loop.
    whole = len(a) ** 2 + len(b) ** 2 + len(a) * len(b) <= 100_000_000
    if whole:
        k_aa, k_bb, k_ab = kernel(a, a), kernel(b, b), kernel(a, b)
    for i in range(subsets):
        ia = rng.choice(len(a), m, replace=False)
        ib = rng.choice(len(b), m, replace=False)
        if whole:
            va, vb = np.zeros(len(a)), np.zeros(len(b))
            va[ia], vb[ib] = 1.0, 1.0
            s_xx = va @ k_aa @ va - k_aa.diagonal()[ia].sum()
            s_yy = vb @ k_bb @ vb - k_bb.diagonal()[ib].sum()
            s_xy = va @ k_ab @ vb
        else:
            x, y = a[ia], b[ib]
            k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
            s_xx, s_yy, s_xy = k_xx.sum() - np.trace(k_xx), k_yy.sum() - np.trace(k_yy), k_xy.sum()
        values[i] = (s_xx + s_yy) / (m * (m - 1)) - 2 * s_xy / (m * m)
    return float(values.mean()), float(values.std())


def _pairwise(x: torch.Tensor, y: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    return torch.cat([torch.cdist(x[i : i + chunk], y) for i in range(0, len(x), chunk)])


def _kth_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest other point in the same set."""
    d = _pairwise(x, x)
    return d.kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0


def prdc(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, k: int = 5) -> dict[str, float]:
    """Precision and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020)
    with k-nearest-neighbour balls as the manifolds."""
    r = torch.from_numpy(_np(real))
    f = torch.from_numpy(_np(fake))
    if min(len(r), len(f)) <= k:
        raise ValueError(f"PRDC with k={k} needs more than {k} samples in each set")
    r_radius, f_radius = _kth_radius(r, k), _kth_radius(f, k)
    d = _pairwise(r, f)  # [R, F]
    inside_real = d <= r_radius[:, None]  # fake j inside real i's ball
    precision = inside_real.any(dim=0).double().mean().item()
    recall = (d <= f_radius[None, :]).any(dim=1).double().mean().item()
    density = inside_real.sum().item() / (k * len(f))
    coverage = (d.min(dim=1).values <= r_radius).double().mean().item()
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


def kl_to_uniform(counts: np.ndarray | torch.Tensor) -> float:
    """KL(p ‖ uniform) of a histogram over its bins, empty bins skipped; NaN when it is all zeros."""
    c = np.asarray(counts.cpu() if isinstance(counts, torch.Tensor) else counts, dtype=np.float64)
    total = c.sum()
    if total <= 0:
        return math.nan
    p = c[c > 0] / total
    return float(np.sum(p * np.log(p * len(c))))
