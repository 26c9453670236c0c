"""DCGAN generator and discriminator (Radford et al. 2015) for square images of size 8, 16, 28, 32 or 64.

Both networks double or halve the resolution per layer between a base grid and the image:
4x4 for sizes 8/16/32/64, and 7x7 for 28 (MNIST). At 64x64 with ngf = ndf = 64 they are
the reference DCGAN (pytorch/examples), with nz = 100.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from ganhacks.errors import ConfigError
from ganhacks.models.base import Discriminator, Generator

SUPPORTED_SIZES = (8, 16, 28, 32, 64)


def plan(size: int) -> tuple[int, int]:
    """(base grid side, number of 2x resolution steps) for an image side."""
    if size not in SUPPORTED_SIZES:
        raise ConfigError(
            f"DCGAN supports image sizes {', '.join(map(str, SUPPORTED_SIZES))}, got {size}; set data.size to one of them."
        )
    base = 7 if size == 28 else 4
    return base, int(math.log2(size // base))


Norm = Literal["batch", "instance", "layer", "none"]
Act = Literal["relu", "leaky_relu"]


def norm2d(kind: str, channels: int) -> nn.Module:
    """batch, instance (per sample and channel; ganhacks trick 4's fallback), layer (per sample) or none."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "layer":
        return nn.GroupNorm(1, channels)  # one group: normalise over C, H, W of each sample
    return nn.Identity()


def activation(kind: str) -> nn.Module:
    """ReLU, or LeakyReLU(0.2), which keeps gradients from going sparse (ganhacks trick 5)."""
    return nn.LeakyReLU(0.2, True) if kind == "leaky_relu" else nn.ReLU(True)


def upsample(kind: str, cin: int, cout: int) -> list[nn.Module]:
    """2x upsampling: a strided transposed conv, a conv + PixelShuffle, or nearest-neighbour + conv."""
    if kind == "pixelshuffle":
        return [nn.Conv2d(cin, cout * 4, 3, 1, 1, bias=False), nn.PixelShuffle(2)]
    if kind == "nearest":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=False)]
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)]


def downsample(kind: str, cin: int, cout: int) -> list[nn.Module]:
    """2x downsampling: a strided conv, or a conv followed by average or max pooling."""
    if kind == "avgpool":
        return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.AvgPool2d(2)]
    if kind == "maxpool":
        return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.MaxPool2d(2)]
    return [nn.Conv2d(cin, cout, 4, 2, 1, bias=False)]


def dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's init: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02) and shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(Generator):
    """z [N, z_dim] -> image [N, channels, size, size] in (-1, 1): ConvTranspose + BatchNorm + ReLU, tanh out."""

    def __init__(
        self, z_dim: int = 100, size: int = 64, channels: int = 3, ngf: int = 64,
        norm: Norm = "batch", act: Act = "relu", up: str = "convtranspose",
    ):  # fmt: skip
        super().__init__()
        base, n_up = plan(size)
        widths = [ngf * 2 ** (n_up - 1 - i) for i in range(n_up)]  # at base, 2*base, ..., size/2
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, widths[0], base, 1, 0, bias=False),  # 1x1 -> base x base
            norm2d(norm, widths[0]),
            activation(act),
        ]
        for w_in, w_out in zip(widths, widths[1:], strict=False):
            layers += [*upsample(up, w_in, w_out), norm2d(norm, w_out), activation(act)]
        layers += [*upsample(up, widths[-1], channels), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.z_dim = z_dim
        dcgan_init(self)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(Discriminator):
    """image [N, channels, size, size] -> logit [N]: strided convs, BatchNorm (not on the first), LeakyReLU 0.2."""

    def __init__(
        self, size: int = 64, channels: int = 3, ndf: int = 64,
        norm: Norm = "batch", act: Act = "leaky_relu", down: str = "strided",
    ):  # fmt: skip
        super().__init__()
        base, n_down = plan(size)
        self.image_size = size
        widths = [ndf * 2**i for i in range(n_down)]  # at size/2, size/4, ..., base
        layers: list[nn.Module] = [*downsample(down, channels, widths[0]), activation(act)]
        for w_in, w_out in zip(widths, widths[1:], strict=False):
            layers += [*downsample(down, w_in, w_out), norm2d(norm, w_out), activation(act)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(widths[-1], 1, base, 1, 0, bias=False)  # base x base -> 1 logit
        dcgan_init(self)
