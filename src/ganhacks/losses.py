"""GAN losses as pure functions of D's raw outputs (logits).

All of them work on logits (never on sigmoid outputs) so they stay finite when D saturates.
Targets may be floats or per-sample tensors, which is how label smoothing plugs in. Each loss is a
mean over the last dimension: logits [N] give one loss, logits [K, N] (K stacked runs) give [K].

:data:`OBJECTIVES` maps the config's ``loss`` to D's and G's losses. The seed's choices
(nonsaturating, minimax, flip_labels) change only G's loss, with D's cross-entropy; the later
objectives (hinge, wasserstein, least_squares, relativistic) set both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


def d_hinge(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D's hinge loss (Lim & Ye 2017; SNGAN, BigGAN): mean relu(1 - D(x)) + mean relu(1 + D(G(z))).
    Samples beyond the margin (real above 1, fake below -1) give no gradient."""
    return F.relu(1.0 - real_logits).mean(dim=-1) + F.relu(1.0 + fake_logits).mean(dim=-1)


def g_hinge(fake_logits: torch.Tensor) -> torch.Tensor:
    """G's loss for the hinge and Wasserstein objectives: -mean D(G(z))."""
    return -fake_logits.mean(dim=-1)


def d_wasserstein(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The critic's loss of WGAN (Arjovsky et al. 2017): mean D(G(z)) - mean D(x). It is only a
    distance estimate when D is kept 1-Lipschitz: use it with tricks.gradient_penalty (WGAN-GP)."""
    return fake_logits.mean(dim=-1) - real_logits.mean(dim=-1)


def d_least_squares(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    real_target: float | torch.Tensor = 1.0,
    fake_target: float | torch.Tensor = 0.0,
) -> torch.Tensor:
    """D's LSGAN loss (Mao et al. 2017, the 0-1 coding): 1/2 mean (D(x) - b)^2 + 1/2 mean (D(G(z)) - a)^2,
    with b = 1 and a = 0 unless label smoothing sets other targets."""
    return 0.5 * (real_logits - real_target).pow(2).mean(dim=-1) + 0.5 * (fake_logits - fake_target).pow(2).mean(dim=-1)


def g_least_squares(fake_logits: torch.Tensor) -> torch.Tensor:
    """G's LSGAN loss: 1/2 mean (D(G(z)) - 1)^2."""
    return 0.5 * (fake_logits - 1.0).pow(2).mean(dim=-1)


def _relative(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """How much more real each of ``a`` looks than ``b`` does on average: a - mean(b), per run."""
    return a - b.mean(dim=-1, keepdim=True)


def d_relativistic(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    real_target: float | torch.Tensor = 1.0,
    fake_target: float | torch.Tensor = 0.0,
) -> torch.Tensor:
    """D's relativistic average loss (RaSGAN, Jolicoeur-Martineau 2018): BCE(D(x) - mean D(G(z)), 1)
    + BCE(D(G(z)) - mean D(x), 0). D judges whether a real sample looks more real than the fakes do."""
    return bce(_relative(real_logits, fake_logits), real_target) + bce(_relative(fake_logits, real_logits), fake_target)


def g_relativistic(fake_logits: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    """G's relativistic average loss: D's with real and fake swapped, so G also learns from real data."""
    return bce(_relative(fake_logits, real_logits), 1.0) + bce(_relative(real_logits, fake_logits), 0.0)


def _sigmoid_score(logits: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(logits)


def _hinge_score(logits: torch.Tensor) -> torch.Tensor:
    # The margins (+1 real, -1 fake) map to 1 and 0: a D that meets both on average scores a gap of 1.
    return ((logits + 1.0) / 2.0).clamp(0.0, 1.0)


def _ls_score(logits: torch.Tensor) -> torch.Tensor:
    return logits.clamp(0.0, 1.0)  # the regression targets are 1 (real) and 0 (fake)


@dataclass(frozen=True)
class Objective:
    """One ``loss`` setting: D's loss, G's loss, and how the logged D(real) / D(fake) are read."""

    d: Callable[..., torch.Tensor]
    """(real_logits, fake_logits[, real_target, fake_target]) -> D's loss."""
    g: Callable[..., torch.Tensor]
    """(fake_logits[, real_logits]) -> G's loss."""
    targets: bool
    """Whether D's loss takes per-sample targets, so label smoothing and noisy labels apply."""
    g_needs_real: bool
    """Whether G's loss reads D's outputs on real data too (the relativistic loss)."""
    score: Callable[[torch.Tensor], torch.Tensor] | None
    """Logits -> the D(x) in [0, 1] that metrics.jsonl logs as d_real / d_fake, and the doctor reads;
    None for the Wasserstein critic, whose outputs have no such reading (then neither is logged)."""

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor, real_t: torch.Tensor, fake_t: torch.Tensor) -> torch.Tensor:
        return self.d(real, fake, real_t, fake_t) if self.targets else self.d(real, fake)

    def g_loss(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return self.g(fake, real) if self.g_needs_real else self.g(fake)


G_LOSSES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "nonsaturating": g_nonsaturating,
    "minimax": g_minimax,
    "flip_labels": g_flip_labels,
}

OBJECTIVES: dict[str, Objective] = {
    **{name: Objective(d_loss, g, True, False, _sigmoid_score) for name, g in G_LOSSES.items()},
    "hinge": Objective(d_hinge, g_hinge, False, False, _hinge_score),
    "wasserstein": Objective(d_wasserstein, g_hinge, False, False, None),
    "least_squares": Objective(d_least_squares, g_least_squares, True, False, _ls_score),
    "relativistic": Objective(d_relativistic, g_relativistic, True, True, _sigmoid_score),
}
