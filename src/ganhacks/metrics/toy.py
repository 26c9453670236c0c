"""Mode metrics for the 2D mixtures, exactly as in the PacGAN protocol (../shared/PROTOCOLS.md)."""

from __future__ import annotations

import math

import torch

from ganhacks.metrics.distribution import kl_to_uniform


def hq_mode_counts(points: torch.Tensor, means: torch.Tensor, std: float) -> tuple[torch.Tensor, int]:
    """(high-quality samples nearest each mean [K], number of high-quality samples): a sample is
    high quality within 3 std of its nearest mean. Non-finite points are never high quality."""
    points = points.detach().double().cpu()
    means = means.double().cpu()
    finite = torch.isfinite(points).all(dim=1)
    dist, nearest = torch.cdist(points[finite], means).min(dim=1)  # [N']
    hq = dist < 3 * std
    return torch.bincount(nearest[hq], minlength=len(means)), int(hq.sum())


def mode_metrics(points: torch.Tensor, means: torch.Tensor, std: float) -> dict[str, float]:
    """``modes``: modes with at least one high-quality sample nearest to them;
    ``hq``: the fraction of samples within 3 std of their nearest mean;
    ``kl``: KL(p ‖ uniform) of the HQ samples' nearest-mode histogram, empty bins skipped
    (NaN when there is no HQ sample). ``points`` and ``means`` are in data coordinates.
    """
    counts, n_hq = hq_mode_counts(points, means, std)
    n = len(points)
    return {
        "modes": int((counts > 0).sum()),
        "hq": n_hq / n if n else math.nan,
        "kl": kl_to_uniform(counts),
    }
