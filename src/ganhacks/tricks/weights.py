"""Tricks on the networks' weights: spectral normalisation, and an exponential moving average of G."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.utils.parametrizations import spectral_norm

from ganhacks.config import EMAConfig, SpectralNormConfig
from ganhacks.tricks.base import StepContext, Trick

NORMALISED = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


class SpectralNorm(Trick):
    """Miyato et al. (2018): every linear and convolution layer of D (or G, or both) divides its weight
    by an estimate of its largest singular value, from one power iteration per training forward pass,
    so each layer is about 1-Lipschitz. torch's parametrization does the work; its power-iteration
    vectors are buffers, so checkpoints hold them and a resumed run continues bit for bit."""

    key = "tricks.spectral_norm"

    def __init__(self, conf: SpectralNormConfig, device: torch.device, seed: int):
        self.conf = conf

    def build(self, G: nn.Module, D: nn.Module) -> None:
        nets = {"d": [D], "g": [G], "both": [G, D]}[self.conf.which]
        for net in nets:
            for m in list(net.modules()):
                if isinstance(m, NORMALISED) and not hasattr(m, "parametrizations"):
                    # ConvTranspose2d keeps output channels in dim 1 of its weight.
                    spectral_norm(m, dim=1 if isinstance(m, nn.ConvTranspose2d) else 0)


def _slot(name: str) -> str:
    return name.replace(".", "__")  # a buffer's name may not contain dots


class AveragedWeights(nn.Module):
    """A moving average of another module's parameters and buffers, held as buffers (so optimisers and
    gradient norms never see it, while ``state_dict`` and ``.to`` carry it). :meth:`forward` runs the
    module with these tensors in place of its own."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.params = [n for n, _ in module.named_parameters() if not n.startswith("ema.")]
        self.buffers_ = [n for n, _ in module.named_buffers() if not n.startswith("ema.")]
        for name, t in [*module.named_parameters(), *module.named_buffers()]:
            if not name.startswith("ema."):
                self.register_buffer(_slot(name), t.detach().clone())

    def tensors(self) -> dict[str, torch.Tensor]:
        return {n: getattr(self, _slot(n)) for n in (*self.params, *self.buffers_)}

    @torch.no_grad()
    def update(self, module: nn.Module, beta: float) -> None:
        """avg <- beta * avg + (1 - beta) * param for every parameter; buffers are copied (BatchNorm's
        running statistics follow the current G, as in StyleGAN2-ADA)."""
        params = dict(module.named_parameters())
        averaged = [getattr(self, _slot(n)) for n in self.params]
        torch._foreach_lerp_(averaged, [params[n].detach() for n in self.params], 1.0 - beta)
        buffers = dict(module.named_buffers())
        for n in self.buffers_:
            getattr(self, _slot(n)).copy_(buffers[n])

    def forward(self, module: nn.Module, *args: torch.Tensor | None) -> torch.Tensor:
        return functional_call(module, self.tensors(), args)


def sampling_forward(G: nn.Module):
    """The function that samples from G: its EMA weights when tricks.ema is on, else G itself."""
    ema = getattr(G, "ema", None)
    if isinstance(ema, AveragedWeights):
        return lambda *args: ema(G, *args)
    return G


def generator_name(G: nn.Module) -> str:
    """Which weights samples come from: "ema" (tricks.ema) or "G"."""
    return "G" if sampling_forward(G) is G else "ema"


class EMA(Trick):
    """An exponential moving average of G's weights (Karras et al. 2018), with StyleGAN2-ADA's schedule:
    after each step, beta = 0.5 ** (batch / half_life), where the half-life (in images) is capped at
    ``rampup`` times the images seen so far. Samples, ``ganhacks sample``, evaluations and the doctor's
    probe use the averaged G; training uses G. The average lives in G as ``G.ema``, so checkpoints and
    ``load_run`` carry it."""

    key = "tricks.ema"

    def __init__(self, conf: EMAConfig, device: torch.device, seed: int):
        self.conf = conf

    def build(self, G: nn.Module, D: nn.Module) -> None:
        G.ema = AveragedWeights(G)

    def beta(self, step: int, batch: int) -> float:
        """The decay after ``step`` (0-based) with ``batch`` images per step."""
        half = self.conf.half_life
        if self.conf.rampup is not None:
            half = min(half, (step + 1) * batch * self.conf.rampup)
        return 0.5 ** (batch / max(half, 1e-8))

    def after_step(self, ctx: StepContext) -> None:
        from ganhacks.monitor.stats import report

        beta = self.beta(ctx.step, ctx.real.shape[0])
        ctx.G.ema.update(ctx.G, beta)
        report("trick/ema/beta", beta)
