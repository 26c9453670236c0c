"""Mode metrics for the 2D mixtures, exactly as in the PacGAN protocol (../shared/PROTOCOLS.md)."""

from __future__ import annotations

import math

import torch

from ganhacks.metrics.distribution import kl_to_uniform


def mode_metrics(points: torch.Tensor, means: torch.Tensor, std: float) -> dict[str, float]:
    """``modes``: modes with at least one high-quality sample nearest to them;
    ``hq``: the fraction of samples within 3 std of their nearest mean;
    ``kl``: KL(p ‖ uniform) of the HQ samples' nearest-mode histogram, empty bins skipped
    (NaN when there is no HQ sample). ``points`` and ``means`` are in data coordinates.
    """
    points = points.detach().double().cpu()
    means = means.double().cpu()
    finite = torch.isfinite(points).all(dim=1)
    d = torch.cdist(points[finite], means)  # [N', K]
    dist, nearest = d.min(dim=1)
    hq = dist < 3 * std
    counts = torch.bincount(nearest[hq], minlength=len(means))
    n = len(points)
    return {
        "modes": int((counts > 0).sum()),
        "hq": float(hq.sum()) / n if n else math.nan,
        "kl": kl_to_uniform(counts),
    }
