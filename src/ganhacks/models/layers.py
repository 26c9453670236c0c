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


class LabelChannels(nn.Module):
    """Class conditioning (ganhacks trick 16): a learned ``dim``-dimensional embedding of each label,
    concatenated to the input. For images it is broadcast over the height and width, so it arrives
    as ``dim`` extra channels; for vectors (z, 2D points) as ``dim`` extra features."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, dim)
        nn.init.normal_(self.embed.weight, 0.0, 1.0)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if y is None:  # no labels given (plain sampling): cycle through the classes
            y = torch.arange(x.shape[0], device=x.device) % self.num_classes
        e = self.embed(y.to(x.device))
        if x.dim() == 4:
            e = e[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return torch.cat([x, e.to(x.dtype)], dim=1)


def init_normal(m: nn.Module) -> nn.Module:
    """DCGAN's init for a layer a trick adds: weights N(0, 0.02), bias 0."""
    nn.init.normal_(m.weight, 0.0, 0.02)
    if getattr(m, "bias", None) is not None:
        nn.init.zeros_(m.bias)
    return m


def widen_first_layer(module: nn.Module, factor: int = 1, extra: int = 0) -> None:
    """Replace the first Linear / Conv2d / ConvTranspose2d inside ``module`` by a fresh one that takes
    ``inputs * factor + extra`` inputs: PacGAN packs samples into channels, conditioning adds label channels.
    A module whose input feeds several layers (a residual block's convolution and its shortcut) names
    them all in an ``input_layers`` attribute, and each is widened."""
    layers = [(n, c) for n, c in module.named_modules() if isinstance(c, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
    targets = getattr(module, "input_layers", None)
    chosen = [(n, c) for n, c in layers if n in targets] if targets is not None else layers[:1]
    if not chosen:
        raise ValueError(f"{type(module).__name__} has no Linear or convolution layer to widen")
    for name, child in chosen:
        if isinstance(child, nn.Linear):
            new: nn.Module = nn.Linear(child.in_features * factor + extra, child.out_features, bias=child.bias is not None)
        else:
            cin = child.in_channels * factor + extra
            new = type(child)(cin, child.out_channels, child.kernel_size, child.stride, child.padding,
                              bias=child.bias is not None)  # fmt: skip
        parent = module.get_submodule(name.rpartition(".")[0]) if "." in name else module
        setattr(parent, name.rpartition(".")[2], init_normal(new).to(child.weight.device))
