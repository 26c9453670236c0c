"""GAN losses as pure functions of D's logits.

All of them work on logits (never on sigmoid outputs) so they stay finite when D saturates.
Targets may be floats or per-sample tensors, which is how label smoothing plugs in. Each loss is a
mean over the last dimension: logits [N] give one loss, logits [K, N] (K stacked runs) give [K].
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def bce(logits: torch.Tensor, target: float | torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of sigmoid(logits) against ``target`` (a float or a tensor like logits)."""
    if not isinstance(target, torch.Tensor):
        target = torch.full_like(logits, float(target))
    return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), reduction="none").mean(dim=-1)


def d_loss(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    real_target: float | torch.Tensor = 1.0,
    fake_target: float | torch.Tensor = 0.0,
) -> torch.Tensor:
    """D's loss: BCE(real, real_target) + BCE(fake, fake_target), i.e. -log D(x) - log(1 - D(G(z))) with hard labels."""
    return bce(real_logits, real_target) + bce(fake_logits, fake_target)


def g_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """G's non-saturating loss, -mean log D(G(z)) = mean softplus(-logit) (ganhacks trick 2)."""
    return F.softplus(-fake_logits).mean(dim=-1)


def g_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """G's original minimax loss, mean log(1 - D(G(z))) = -mean softplus(logit); its gradient vanishes when D wins."""
    return -F.softplus(fake_logits).mean(dim=-1)


def g_flip_labels(fake_logits: torch.Tensor) -> torch.Tensor:
    """The seed's "flip labels when training G": D's BCE on the fakes with the fake label swapped to
    real, BCE(D(G(z)), 1). It is the non-saturating loss written another way (same value, same gradient)."""
    return bce(fake_logits, 1.0)


G_LOSSES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "nonsaturating": g_nonsaturating,
    "minimax": g_minimax,
    "flip_labels": g_flip_labels,
}
