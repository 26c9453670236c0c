"""The MLP generator and maxout discriminator of the PacGAN 2D protocol (../shared/PROTOCOLS.md)."""

from __future__ import annotations

import torch
from torch import nn

from ganhacks.models.base import Discriminator, Generator


class MLPGenerator(Generator):
    """z [N, z_dim] -> layers x (Linear -> BatchNorm -> ReLU) -> Linear -> x [N, out_dim].

    No tanh: the protocol's G ends in a linear layer, and the 2D data is scaled into [-1, 1].
    """

    def __init__(
        self, z_dim: int = 2, hidden: int = 400, layers: int = 4, out_dim: int = 2, norm: str = "batch", act: str = "relu"
    ):
        super().__init__()
        blocks: list[nn.Module] = []
        width = z_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), norm1d(norm, hidden), nn.LeakyReLU(0.2) if act == "leaky_relu" else nn.ReLU()]
            width = hidden
        blocks.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*blocks)
        self.z_dim = z_dim

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def norm1d(kind: str, features: int) -> nn.Module:
    """batch, layer or none for feature vectors."""
    if kind == "batch":
        return nn.BatchNorm1d(features)
    if kind == "layer":
        return nn.LayerNorm(features)
    return nn.Identity()


class Maxout(nn.Module):
    """A linear layer with ``pieces`` outputs per unit, keeping the largest (Goodfellow et al. 2013)."""

    def __init__(self, in_features: int, out_features: int, pieces: int):
        super().__init__()
        self.out_features, self.pieces = out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(x.shape[0], self.out_features, self.pieces).amax(dim=-1)


class MLPDiscriminator(Discriminator):
    """x [N, in_dim] -> layers x Maxout(hidden, pieces) -> Linear -> logit [N]; weights N(0, 0.02)."""

    def __init__(self, in_dim: int = 2, hidden: int = 200, layers: int = 3, pieces: int = 5, norm: str = "none"):
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_dim
        for i in range(layers):
            blocks.append(Maxout(width, hidden, pieces))
            if i > 0:  # as in DCGAN's D, never normalise the first layer's output
                blocks.append(norm1d(norm, hidden))
            width = hidden
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(width, 1)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)
