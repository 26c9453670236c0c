"""The doctor's probe: a few numbers about G and D that the per-step statistics cannot show.

Every ``doctor.probe_every`` steps the loop draws a fixed batch of fakes and measures how varied it is
against the same number of real samples, how many 2D modes it covers, whether every weight is still
finite, and how far G's weights moved since the last probe. The numbers go into that step's
``metrics.jsonl`` row as ``doctor/*`` keys, so the doctor can be replayed from the files alone.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganhacks.data import Dataset
from ganhacks.metrics.toy import hq_mode_counts
from ganhacks.sampling import generate, latents

PROBE_SEED = 0xD0C
MODE_SHARE = 0.02  # of the probe's fakes, for a 2D mode to count as covered
FEATURE_SIDE = 16  # images are average-pooled to at most 16x16 before distances: cheap, and blind to pixel noise


def _features(x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 4 and x.shape[-1] > FEATURE_SIDE:
        x = F.adaptive_avg_pool2d(x, FEATURE_SIDE)
    return x.flatten(1).double()


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean L2 distance over all pairs of rows of ``x`` (images pooled to 16x16 first)."""
    return float(torch.pdist(_features(x)).mean())


def weights_finite(*modules: nn.Module) -> bool:
    """True when no parameter of ``modules`` holds a NaN or Inf."""
    return all(bool(torch.isfinite(p).all()) for m in modules for p in m.parameters())


def _flat(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().float().cpu() for p in module.parameters()])


class Probe:
    """Measures a fixed batch of fakes against a fixed batch of real data; see the module docstring."""

    def __init__(self, data: Dataset, z_dim: int, latent: str, n: int = 256):
        n = min(n, len(data))
        self.data = data
        self.z = latents(n, z_dim, PROBE_SEED, latent)
        idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(PROBE_SEED))[:n]
        self.real_diversity = mean_pairwise_distance(data.x[idx].cpu())
        self._last_g: torch.Tensor | None = None

    def __call__(self, G: nn.Module, D: nn.Module) -> dict[str, float]:
        finite = weights_finite(G, D)
        out: dict[str, float] = {"doctor/finite": float(finite)}
        g = _flat(G)
        if self._last_g is not None and self._last_g.shape == g.shape:
            out["doctor/g_change"] = float((g - self._last_g).norm() / (self._last_g.norm() + 1e-12))
        self._last_g = g
        if not finite:
            return out
        fake = generate(G, self.z)
        if not torch.isfinite(fake).all():
            out["doctor/finite"] = 0.0
            return out
        out["doctor/diversity"] = mean_pairwise_distance(fake) / max(self.real_diversity, 1e-12)
        if self.data.kind == "2d":
            counts, n_hq = hq_mode_counts(self.data.to_data_space(fake), self.data.modes, self.data.mode_std)
            # A mode counts when it holds a real share of the probe (not the 1-2 stray high-quality
            # samples that an untrained G scatters), so early training does not look like coverage.
            out["doctor/modes"] = float((counts >= max(2, MODE_SHARE * len(fake))).sum())
            out["doctor/hq"] = n_hq / len(fake)
        return out

    def state_dict(self) -> dict[str, Any]:
        """G's weights at the last probe (the next weight change is measured from them)."""
        return {"last_g": self._last_g}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._last_g = state.get("last_g")

    def reset(self) -> None:
        """Forget the last weights (after a rollback the weight change would span the jump)."""
        self._last_g = None
