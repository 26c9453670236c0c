"""What every generator and discriminator shares: optional class conditioning, and D's split into
a feature trunk and a head, so tricks can read D's features (AC-GAN's auxiliary classifier)."""

from __future__ import annotations

import torch
from torch import nn


class Generator(nn.Module):
    """z [N, z_dim] (and labels [N] when conditioned) -> a sample. Subclasses implement :meth:`decode`."""

    condition: nn.Module | None
    """Installed by the conditioning tricks (16, 12): maps (z, y) to G's widened input."""

    def __init__(self) -> None:
        super().__init__()
        self.condition = None

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.condition is not None:
            z = self.condition(z, y)
        return self.decode(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class Discriminator(nn.Module):
    """x (and labels when conditioned) -> one logit per sample, through ``features`` then ``head``."""

    condition: nn.Module | None
    features: nn.Module
    head: nn.Module

    def __init__(self) -> None:
        super().__init__()
        self.condition = None

    def judge(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits [N], the trunk's features [N, ...]): the loop keeps both, so a trick can add a head."""
        if self.condition is not None:
            x = self.condition(x, y)
        h = self.features(x)
        return self.head(h).reshape(h.shape[0]), h

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.judge(x, y)[0]
