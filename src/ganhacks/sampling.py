"""Drawing samples from a generator: fixed-seed latents and chunked, eval-mode generation."""

from __future__ import annotations

import contextlib

import torch
from torch import nn


def latents(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """``n`` Gaussian latents [n, z_dim] (ganhacks trick 3) on the CPU, the same for the same seed."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def generate(
    G: nn.Module, z: torch.Tensor, chunk: int = 500, autocast: contextlib.AbstractContextManager | None = None
) -> torch.Tensor:
    """G(z) on the CPU in float32, in eval mode (BatchNorm running statistics), ``chunk`` latents at a time."""
    device = next(G.parameters()).device
    was_training = G.training
    G.eval()
    try:
        outs = []
        for part in z.split(chunk):
            with autocast or contextlib.nullcontext():
                outs.append(G(part.to(device)).float().cpu())
        return torch.cat(outs)
    finally:
        G.train(was_training)
