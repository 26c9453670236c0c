"""Layers that tricks insert into D: minibatch standard deviation and minibatch discrimination."""

from __future__ import annotations

import torch
from torch import nn


class MinibatchStdDev(nn.Module):
    """Appends one feature (a channel for images): the standard deviation of each feature over the
    batch (or over groups of ``group`` samples), averaged (Karras et al. 2018). D can then see how
    varied a batch is, which is cheap evidence against mode collapse."""

    def __init__(self, group: int | None = None):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        g = self.group if self.group and n % self.group == 0 else n
        y = x.view(g, n // g, *x.shape[1:])  # [G, M, ...]: sample i is in group i % M
        std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()  # [M, ...]
        stat = std.reshape(n // g, -1).mean(dim=1)  # [M]
        stat = stat.repeat(g)  # back to [N] in the same order
        extra = stat.view(n, 1, *([1] * (x.dim() - 2))).expand(n, 1, *x.shape[2:])
        return torch.cat([x, extra], dim=1)


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. (2016): project features f [N, A] with T [A, B*C] to M [N, B, C]; for each of the
    B kernels, o_b(x_i) = sum_j exp(-||M_i,b - M_j,b||_1) over the other samples j; output [f, o]."""

    def __init__(self, in_features: int, kernels: int = 50, kernel_dim: int = 5):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = x.flatten(1)
        m = (f @ self.T).view(-1, self.kernels, self.kernel_dim)  # [N, B, C]
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(dim=3)  # [N, N, B]
        o = torch.exp(-l1).sum(dim=1) - 1.0  # exclude each sample's similarity to itself (exp(0) = 1)
        return torch.cat([f, o], dim=1)
