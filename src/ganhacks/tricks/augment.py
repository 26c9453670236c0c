"""Differentiable augmentation of everything D sees: DiffAugment, and ADA's adaptive probability.

The ops work on image batches [N, C, H, W] in [-1, 1], draw their randomness per sample from a given
generator, keep the shape and the range, and are differentiable in the images, so G's gradient
reaches it through them (Zhao et al. 2020; Karras et al. 2020). Zero is the middle of the range, so
translation pads with it and cutout fills with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from ganhacks.config import ADAConfig, BCRConfig, DiffAugmentConfig, augment_policy
from ganhacks.monitor.stats import report
from ganhacks.tricks.base import StepContext, Trick

TRANSLATION = 0.125  # shifts of up to 1/8 of the image each way
CUTOUT = 0.5  # a square of half the image's side


def _uniform(x: torch.Tensor, gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand((x.shape[0], *shape), generator=gen, device=x.device, dtype=x.dtype)


def color(x: torch.Tensor, gen: torch.Generator, strength: float = 1.0) -> torch.Tensor:
    """Random brightness (+-0.5 * strength), saturation (x0 to x2) and contrast (x0.5 to x1.5) per
    sample, clamped back to [-1, 1]. At strength 0 every factor is neutral."""
    brightness = (_uniform(x, gen, 1, 1, 1) - 0.5) * strength
    x = x + brightness
    if x.shape[1] > 1:  # saturation needs colour channels
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (1.0 + (2.0 * _uniform(x, gen, 1, 1, 1) - 1.0) * strength) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (1.0 + (_uniform(x, gen, 1, 1, 1) - 0.5) * strength) + mean
    return x.clamp(-1.0, 1.0)


def _sample_grid(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """x[n, :, rows[n, i], cols[n, j]], with -1 or H (W) reading the zero border."""
    n, c, h, w = x.shape
    padded = F.pad(x, (1, 1, 1, 1))
    idx = (rows + 1)[:, :, None] * (w + 2) + (cols + 1)[:, None, :]  # [N, H, W] into the padded image
    flat = padded.flatten(2)  # [N, C, (H+2)(W+2)]
    return flat.gather(2, idx.flatten(1)[:, None, :].expand(n, c, -1)).view(n, c, h, w)


def translation(x: torch.Tensor, gen: torch.Generator, ratio: float = TRANSLATION) -> torch.Tensor:
    """Shift each image by a random whole number of pixels, up to ``ratio`` of its side each way,
    padding with zeros. Exactly the identity at ratio 0."""
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sy, sy + 1, (n, 1), generator=gen, device=x.device)
    tx = torch.randint(-sx, sx + 1, (n, 1), generator=gen, device=x.device)
    rows = (torch.arange(h, device=x.device)[None] + ty).clamp(-1, h)
    cols = (torch.arange(w, device=x.device)[None] + tx).clamp(-1, w)
    return _sample_grid(x, rows, cols)


def cutout(x: torch.Tensor, gen: torch.Generator, ratio: float = CUTOUT) -> torch.Tensor:
    """Zero a random square of ``ratio`` times the image's side in each image (it may overhang the
    edge). Exactly the identity at ratio 0."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1), generator=gen, device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1), generator=gen, device=x.device)
    rows = torch.arange(h, device=x.device)[None] - cy + ch // 2  # [N, H]: inside the square when in [0, ch)
    cols = torch.arange(w, device=x.device)[None] - cx + cw // 2
    inside_r = (rows >= 0) & (rows < ch)
    inside_c = (cols >= 0) & (cols < cw)
    keep = ~(inside_r[:, :, None] & inside_c[:, None, :])  # [N, H, W]
    return x * keep[:, None].to(x.dtype)


OPS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
}


def augment(x: torch.Tensor, ops: tuple[str, ...], gen: torch.Generator, p: torch.Tensor | float | None = None) -> torch.Tensor:
    """Apply ``ops`` in order; with ``p``, each op to each sample with probability p (ADA)."""
    for name in ops:
        out = OPS[name](x, gen)
        if p is not None:
            chosen = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), generator=gen, device=x.device) < p
            out = torch.where(chosen, out, x)
        x = out
    return x


class DiffAugment(Trick):
    """Zhao et al. (2020): the policy's ops on every batch D sees, real and fake, in D's and G's
    updates alike, so D cannot memorise a small data set and G is not taught to make augmented images."""

    key = "tricks.diffaugment"

    def __init__(self, conf: DiffAugmentConfig, device: torch.device, seed: int):
        self.ops = augment_policy(conf.policy, "tricks.diffaugment.policy")
        self.seed_rng(device, seed)

    def d_input(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return augment(x, self.ops, self.rng)


class ADA(Trick):
    """StyleGAN2-ADA's adaptive augmentation (Karras et al. 2020) with DiffAugment's ops: each op is
    applied to each sample with probability p. Every ``interval`` steps p moves by
    sign(r_t - target) * images / speed, where r_t = E[sign(D(real))] over those steps: p rises while
    D is sure of the real data (overfitting) and falls when it is not. p stays on the device."""

    key = "tricks.ada"

    def __init__(self, conf: ADAConfig, device: torch.device, seed: int):
        self.conf = conf
        self.ops = augment_policy(conf.policy, "tricks.ada.policy")
        self.seed_rng(device, seed)
        self.p = torch.tensor(float(conf.p), device=device)
        self.signs = torch.zeros(2, device=device)  # [sum of sign(D(real)), count] since the last adjustment

    def d_input(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return augment(x, self.ops, self.rng, self.p)

    def observe(self, real_logits: torch.Tensor) -> None:
        logits = real_logits.detach().float()
        self.signs = self.signs + torch.stack([logits.sign().sum(), logits.new_full((), logits.numel())])

    def adjust(self, images: int) -> None:
        """Move p towards the target from the signs seen since the last adjustment."""
        from ganhacks.training.distributed import current

        signs, world = self.signs, current()
        if world is not None:  # r_t over every rank's real batches and p moved by the global batch: alike on every rank
            signs, images = world.mean(signs), images * world.size
        r_t = signs[0] / signs[1].clamp(min=1.0)
        step = torch.sign(r_t - self.conf.target) * images / self.conf.speed
        self.p = (self.p + step).clamp(0.0, 1.0)
        report("trick/ada/r_t", r_t)
        self.signs = torch.zeros_like(self.signs)

    def after_step(self, ctx: StepContext) -> None:
        self.observe(ctx.real_logits)
        if (ctx.step + 1) % self.conf.interval == 0:
            self.adjust(self.conf.interval * ctx.real.shape[0])
        report("trick/ada/p", self.p)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "p": self.p.clone(), "signs": self.signs.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.p = state["p"].to(self.p.device, torch.float32)
        self.signs = state["signs"].to(self.signs.device, torch.float32)


class BCR(Trick):
    """Balanced consistency regularisation (Zhao et al. 2021): D's loss gains
    weight_real * E (D(T(x)) - D(x))^2 + weight_fake * E (D(T(G(z))) - D(G(z)))^2 for a random
    augmentation T, so D learns to ignore what T changes. Unlike DiffAugment, D's adversarial loss
    still sees the samples as they are."""

    key = "tricks.bcr"

    def __init__(self, conf: BCRConfig, device: torch.device, seed: int):
        self.conf = conf
        self.ops = augment_policy(conf.policy, "tricks.bcr.policy")
        self.seed_rng(device, seed)

    def _term(self, ctx: StepContext, x: torch.Tensor, labels: torch.Tensor | None, logits: torch.Tensor) -> torch.Tensor:
        moved, _ = ctx.d_judge(augment(x, self.ops, self.rng), labels)
        return (moved.float() - logits.float()).pow(2).mean()

    def extra_d_loss(self, ctx: StepContext) -> torch.Tensor:
        real = self._term(ctx, ctx.real, ctx.labels, ctx.real_logits)
        fake = self._term(ctx, ctx.fake, ctx.d_fake_labels, ctx.fake_logits)
        report("trick/bcr/real", real.detach())
        report("trick/bcr/fake", fake.detach())
        return self.conf.weight_real * real + self.conf.weight_fake * fake
