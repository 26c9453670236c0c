"""The 2D Gaussian mixtures of the PacGAN protocol (../shared/PROTOCOLS.md).

ring8:  8 modes on the unit circle, std 0.01.
grid25: 25 modes on {-4, -2, 0, 2, 4}^2, std 0.05.
"""

from __future__ import annotations

import math

import torch

RING8_STD = 0.01
GRID25_STD = 0.05


def ring8_means() -> torch.Tensor:
    """[8, 2] means (cos 2*pi*k/8, sin 2*pi*k/8), k = 0..7."""
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def grid25_means() -> torch.Tensor:
    """[25, 2] means on the grid {-4, -2, 0, 2, 4}^2."""
    axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0], dtype=torch.float64)
    gx, gy = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def sample_mixture(means: torch.Tensor, std: float, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n points [n, 2] (float64) from an equal-weight isotropic Gaussian mixture, fixed by seed, and the
    index [n] of the mode each was drawn from (the class label for conditional tricks)."""
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(len(means), (n,), generator=g)
    return means[k] + std * torch.randn(n, 2, generator=g, dtype=torch.float64), k


MIXTURES = {
    "ring8": (ring8_means, RING8_STD),
    "grid25": (grid25_means, GRID25_STD),
}
