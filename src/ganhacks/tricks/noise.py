"""ganhacks trick 13: instance noise on D's inputs, decaying to zero."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganhacks.config import InstanceNoiseConfig, LayerNoiseConfig
from ganhacks.tricks.base import StepContext, Trick

EXP_FLOOR = 1e-3  # the exponential schedule decays sigma by this factor over `until` steps, then stops


def noise_sigma(conf: InstanceNoiseConfig, step: int) -> float:
    """The noise std at ``step``: sigma at ``start`` (0 by default), exactly 0 from ``until`` on."""
    until = conf.until or 1
    if step >= until:
        return 0.0
    frac = max(0, step - conf.start) / (until - conf.start)
    if conf.schedule == "linear":
        return conf.sigma * (1.0 - frac)
    return conf.sigma * EXP_FLOOR**frac


class InstanceNoise(Trick):
    """Adds N(0, sigma(t)^2) to every input of D, real and fake, in both updates (Sønderby et al. 2016,
    Arjovsky & Bottou 2017): it makes the real and fake distributions overlap early in training."""

    key = "tricks.instance_noise"

    def __init__(self, conf: InstanceNoiseConfig, device: torch.device, seed: int):
        self.conf = conf
        self.seed_rng(device, seed)

    def d_input(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        sigma = noise_sigma(self.conf, ctx.step)
        if sigma == 0.0:
            return x
        return x + sigma * torch.randn(x.shape, generator=self.rng, device=x.device, dtype=x.dtype)

    def after_step(self, ctx: StepContext) -> None:
        from ganhacks.monitor.stats import report

        report("trick/instance_noise/sigma", noise_sigma(self.conf, ctx.step))


class LayerNoise(Trick):
    """Adds N(0, sigma(t)^2) after every ReLU / LeakyReLU of G while G is in training mode (EBGAN's
    noise in every generator layer), decaying like instance noise. Eval-mode sampling is noise-free."""

    key = "tricks.g_noise"

    def __init__(self, conf: LayerNoiseConfig, device: torch.device, seed: int):
        self.conf = conf
        self.seed_rng(device, seed)
        self.sigma = noise_sigma(conf, 0)

    def build(self, G: nn.Module, D: nn.Module) -> None:
        for m in G.modules():
            if isinstance(m, (nn.ReLU, nn.LeakyReLU)):
                m.register_forward_hook(self._add_noise)

    def _add_noise(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> torch.Tensor | None:
        if not module.training or self.sigma == 0.0:
            return None  # keep the output as it is
        return out + self.sigma * torch.randn(out.shape, generator=self.rng, device=out.device, dtype=out.dtype)

    def after_step(self, ctx: StepContext) -> None:
        from ganhacks.monitor.stats import report

        report("trick/g_noise/sigma", self.sigma)
        self.sigma = noise_sigma(self.conf, ctx.step + 1)  # for the next step

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "sigma": self.sigma}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.sigma = float(state["sigma"])
