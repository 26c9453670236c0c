"""ganhacks trick 15 (and PacGAN): tricks that let D look at several samples at once."""

from __future__ import annotations

import torch
from torch import nn

from ganhacks.config import MinibatchDiscriminationConfig, MinibatchStdConfig, PackConfig
from ganhacks.models.layers import MinibatchDiscrimination, MinibatchStdDev, widen_first_layer
from ganhacks.models.layers import init_normal as _init
from ganhacks.tricks.base import StepContext, Trick


def head_input(D: nn.Module) -> torch.Tensor:
    """The shape of what D's head receives, found with one dummy sample pair through D.features."""
    first = next(m for m in D.features.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
    if isinstance(first, nn.Linear):
        probe = torch.zeros(2, first.in_features)
    else:
        size = getattr(D, "image_size", None) or 64
        probe = torch.zeros(2, first.in_channels, size, size)
    was = D.training
    D.eval()
    with torch.no_grad():
        out = D.features(probe)
    D.train(was)
    return out


class MinibatchStd(Trick):
    """Inserts a minibatch-stddev layer before D's last layer (the cheap form of trick 15)."""

    key = "tricks.minibatch_stddev"

    def __init__(self, conf: MinibatchStdConfig, device: torch.device, seed: int):
        self.conf = conf

    def build(self, G: nn.Module, D: nn.Module) -> None:
        head = D.head
        if isinstance(head, nn.Linear):
            new = _init(nn.Linear(head.in_features + 1, head.out_features))
        else:
            new = _init(
                nn.Conv2d(head.in_channels + 1, head.out_channels, head.kernel_size, head.stride, head.padding, bias=False)
            )
        D.head = nn.Sequential(MinibatchStdDev(self.conf.group), new)


class MinibatchDiscriminationTrick(Trick):
    """Inserts Salimans et al.'s minibatch-discrimination layer before D's last layer (trick 15)."""

    key = "tricks.minibatch_discrimination"

    def __init__(self, conf: MinibatchDiscriminationConfig, device: torch.device, seed: int):
        self.conf = conf

    def build(self, G: nn.Module, D: nn.Module) -> None:
        features = head_input(D).flatten(1).shape[1]
        layer = MinibatchDiscrimination(features, self.conf.kernels, self.conf.kernel_dim)
        D.head = nn.Sequential(layer, _init(nn.Linear(features + self.conf.kernels, 1)))


class Pack(Trick):
    """PacGAN (Lin et al. 2018): D judges packs of ``m`` samples of the same kind, concatenated along
    channels (features for 2D). Its first layer takes m times the inputs; a batch of N gives N/m logits.

    PacGAN's own code draws m batches a step, so its D still judges N packs; ``train.batch_size=m*N``
    is that set-up (``benchmarks/paper_tables.py`` names it PACGAN2 and PACGAN4)."""

    key = "tricks.pack"
    capturable = True  # a reshape of D's input

    def __init__(self, conf: PackConfig, device: torch.device, seed: int):
        self.m = conf.m

    def build(self, G: nn.Module, D: nn.Module) -> None:
        widen_first_layer(D.features, factor=self.m)

    def d_input(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        n = x.shape[0]
        return x.reshape(n // self.m, self.m * x.shape[1], *x.shape[2:])
