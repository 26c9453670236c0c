"""Drawing samples from a generator: fixed-seed latents and chunked, eval-mode generation."""

from __future__ import annotations

import contextlib

import torch
from torch import nn


def draw_latents(
    n: int, z_dim: int, kind: str = "gaussian", generator: torch.Generator | None = None, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """``n`` latents [n, z_dim]: N(0, I) for 'gaussian' (ganhacks trick 3), U(-1, 1) for 'uniform'."""
    if kind == "uniform":
        return torch.rand(n, z_dim, generator=generator, device=device) * 2 - 1
    return torch.randn(n, z_dim, generator=generator, device=device)


def latents(n: int, z_dim: int, seed: int, kind: str = "gaussian") -> torch.Tensor:
    """``n`` latents on the CPU, the same for the same seed."""
    return draw_latents(n, z_dim, kind, torch.Generator().manual_seed(seed))


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight-line interpolation between latents a and b [z_dim] at fractions t [K] -> [K, z_dim]."""
    t = t.view(-1, 1)
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Great-circle interpolation (ganhacks trick 3, White 2016): keeps the norm a Gaussian latent
    expects, where a straight line passes through the low-density region near 0."""
    t = t.view(-1, 1)
    cos = torch.clamp((a / a.norm()) @ (b / b.norm()), -1.0, 1.0)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-6:  # (anti)parallel endpoints: the great circle is not unique; fall back to a line
        return lerp(a, b, t)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def default_labels(G: nn.Module, n: int) -> torch.Tensor | None:
    """For a class-conditional G, labels 0, 1, ..., K-1, 0, 1, ... for ``n`` samples (every class equally
    often); None for an unconditional G."""
    condition = getattr(G, "condition", None)
    return torch.arange(n) % condition.num_classes if condition is not None else None


@torch.no_grad()
def generate(
    G: nn.Module,
    z: torch.Tensor,
    chunk: int = 500,
    autocast: contextlib.AbstractContextManager | None = None,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """G(z) on the CPU in float32, in eval mode (BatchNorm running statistics), ``chunk`` latents at a time,
    from G's moving average when it has one (tricks.ema).
    ``labels`` [n] picks the classes of a class-conditional G (default: :func:`default_labels`)."""
    from ganhacks.tricks.weights import sampling_forward

    device = next(G.parameters()).device
    forward = sampling_forward(G)  # the EMA weights when tricks.ema is on
    if labels is None:
        labels = default_labels(G, len(z))
    was_training = G.training
    G.eval()
    try:
        outs = []
        for i, part in enumerate(z.split(chunk)):
            y = labels[i * chunk : (i + 1) * chunk].to(device) if labels is not None else None
            with autocast or contextlib.nullcontext():
                outs.append(forward(part.to(device), y).float().cpu())
        return torch.cat(outs)
    finally:
        G.train(was_training)
