"""Penalties on D added after 2016: R1 and R2 (zero-centred gradient penalties), WGAN-GP, and LeCam.

Each is a term of D's loss. The gradient penalties differentiate D's output with respect to its
input, through :attr:`~ganhacks.tricks.StepContext.d_judge` (the batch as D sees it, after the input
tricks such as augmentation), and keep the graph so D's update descends the penalty too.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ganhacks.config import GradientPenaltyConfig, LeCamConfig, R1Config
from ganhacks.monitor.stats import report
from ganhacks.tricks.base import StepContext, Trick


def input_gradient(ctx: StepContext, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """d sum(D(x)) / dx, per sample, with the graph kept so a penalty on it trains D."""
    x = x.detach().float().requires_grad_(True)
    logits, _ = ctx.d_judge(x, labels)
    (grad,) = torch.autograd.grad(logits.float().sum(), x, create_graph=True)
    return grad.flatten(1)


class ZeroCentredPenalty(Trick):
    """gamma/2 * E ||grad_x D(x)||^2 over the samples :meth:`batch` picks. With ``every`` = k > 1 it is
    lazy (StyleGAN2): an update of its own every k steps, with the penalty scaled by k."""

    key = "tricks.r1"

    def __init__(self, conf: R1Config, device: torch.device, seed: int):
        self.conf = conf

    def batch(self, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor | None]:
        return ctx.real, ctx.labels

    def penalty(self, ctx: StepContext) -> torch.Tensor:
        grad = input_gradient(ctx, *self.batch(ctx))
        value = 0.5 * self.conf.gamma * grad.pow(2).sum(dim=1).mean()
        report(f"trick/{self.key.split('.')[-1]}/penalty", value.detach())
        return value

    def extra_d_loss(self, ctx: StepContext) -> torch.Tensor | None:
        return self.penalty(ctx) if self.conf.every == 1 else None

    def d_phase(self, ctx: StepContext) -> torch.Tensor | None:
        if self.conf.every == 1 or ctx.step % self.conf.every:
            return None
        return self.conf.every * self.penalty(ctx)


class R1(ZeroCentredPenalty):
    """R1 (Mescheder et al. 2018): the penalty on real data, which keeps D flat where the data is."""


class R2(ZeroCentredPenalty):
    """R2: the same penalty on the fakes D judges in its update."""

    key = "tricks.r2"

    def batch(self, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor | None]:
        return ctx.fake, ctx.d_fake_labels


class GradientPenalty(Trick):
    """WGAN-GP (Gulrajani et al. 2017): weight * E (||grad D(x_hat)|| - 1)^2 with x_hat = e x + (1 - e) G(z)
    and e ~ U(0, 1) per sample: it keeps a Wasserstein critic close to 1-Lipschitz between the data
    and the fakes."""

    key = "tricks.gradient_penalty"

    def __init__(self, conf: GradientPenaltyConfig, device: torch.device, seed: int):
        self.conf = conf
        self.seed_rng(device, seed)

    def extra_d_loss(self, ctx: StepContext) -> torch.Tensor:
        real, fake = ctx.real.float(), ctx.fake.float()
        e = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=self.rng, device=real.device)
        grad = input_gradient(ctx, e * real + (1 - e) * fake, ctx.labels)
        value = self.conf.weight * (grad.norm(dim=1) - 1.0).pow(2).mean()
        report("trick/gradient_penalty/penalty", value.detach())
        return value


class LeCam(Trick):
    """The LeCam regulariser (Tseng et al. 2021): weight * (E relu(D(x) - a_fake)^2 + E relu(a_real - D(G(z)))^2),
    where a_real and a_fake are moving averages of D's mean output on real and fake samples. It pulls
    each kind of output towards the other's anchor, so D cannot drive them apart on a small data set."""

    key = "tricks.lecam"

    def __init__(self, conf: LeCamConfig, device: torch.device, seed: int):
        self.conf = conf
        self.anchors = torch.zeros(2, device=device)  # [real, fake]

    def extra_d_loss(self, ctx: StepContext) -> torch.Tensor:
        real, fake = ctx.real_logits.float(), ctx.fake_logits.float()
        now = torch.stack([real.detach().mean(), fake.detach().mean()])
        self.anchors = torch.lerp(now, self.anchors, self.conf.decay)
        value = F.relu(real - self.anchors[1]).pow(2).mean() + F.relu(self.anchors[0] - fake).pow(2).mean()
        report("trick/lecam/reg", value.detach())
        return self.conf.weight * value

    def state_dict(self) -> dict[str, Any]:
        return {"anchors": self.anchors.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.anchors = state["anchors"].to(self.anchors.device, self.anchors.dtype)
