"""ganhacks trick 6: soft and noisy labels for D."""

from __future__ import annotations

import torch

from ganhacks.config import LabelSmoothingConfig, NoisyLabelsConfig
from ganhacks.tricks.base import StepContext, Trick


class LabelSmoothing(Trick):
    """Soft targets for D.

    ``one_sided`` (Salimans et al. 2016): real -> a fixed value (0.9), fake stays 0, so D is never
    rewarded for pushing fakes towards "real". ``two_sided_random`` (the seed's text): real ~ U(0.7, 1.2),
    fake ~ U(0.0, 0.3), fresh per sample and step. Which is better is disputed (ganhacks #10, #41, #53);
    both are offered so the bench can settle it.
    """

    key = "tricks.label_smoothing"

    def __init__(self, conf: LabelSmoothingConfig, device: torch.device, seed: int):
        self.conf = conf
        self.seed_rng(device, seed)

    def _uniform(self, like: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
        low, high = bounds
        return low + (high - low) * torch.rand(like.shape, generator=self.rng, device=like.device, dtype=like.dtype)

    def d_targets(self, real_t: torch.Tensor, fake_t: torch.Tensor, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor]:
        if self.conf.mode == "one_sided":
            return torch.full_like(real_t, self.conf.real), fake_t
        return self._uniform(real_t, self.conf.real_range), self._uniform(fake_t, self.conf.fake_range)


class NoisyLabels(Trick):
    """Flip each of D's targets, t -> 1 - t, with probability ``p`` (the seed's "occasionally flip the labels")."""

    key = "tricks.noisy_labels"

    def __init__(self, conf: NoisyLabelsConfig, device: torch.device, seed: int):
        self.p = conf.p
        self.seed_rng(device, seed)

    def _flip(self, t: torch.Tensor) -> torch.Tensor:
        mask = torch.rand(t.shape, generator=self.rng, device=t.device) < self.p
        return torch.where(mask, 1.0 - t, t)

    def d_targets(self, real_t: torch.Tensor, fake_t: torch.Tensor, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor]:
        return self._flip(real_t), self._flip(fake_t)
