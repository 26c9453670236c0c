"""SNGAN-style residual generator and discriminator (Miyato et al. 2018; Gulrajani et al. 2017) for
square images of 32, 64 or 128 pixels.

G: z -> a 4x4 grid by a linear layer, then one residual block per 2x upsampling (BatchNorm, ReLU,
nearest-neighbour upsampling, 3x3 convolutions, and a 1x1 convolution on the upsampled shortcut),
then BatchNorm, ReLU, a 3x3 convolution to the image and tanh.

D: residual blocks down to 8x8 (3x3 convolutions, ReLU, 2x2 average pooling, a 1x1 convolution on the
pooled shortcut), one more block at 8x8, ReLU, a sum over the grid and a linear head. No
normalisation by default: spectral norm (tricks.spectral_norm) is what the ``modern`` preset adds.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganhacks.errors import ConfigError
from ganhacks.models.base import Discriminator, Generator
from ganhacks.models.dcgan import norm2d

SUPPORTED_SIZES = (32, 64, 128)
MAX_MULT = 8  # widths grow by 2x per resolution step up to 8x the base width


def _steps(size: int) -> int:
    if size not in SUPPORTED_SIZES:
        raise ConfigError(
            f"The ResNet supports image sizes {', '.join(map(str, SUPPORTED_SIZES))}, got {size}; set data.size to one "
            "of them, or use model.arch=dcgan."
        )
    return int(math.log2(size // 4))


def activation(kind: str) -> nn.Module:
    """ReLU or LeakyReLU(0.2), not in place: a block's input also feeds its shortcut."""
    return nn.LeakyReLU(0.2) if kind == "leaky_relu" else nn.ReLU()


def resnet_init(module: nn.Module) -> None:
    """Xavier-uniform weights and zero biases for every convolution and linear layer (SNGAN's init)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class UpBlock(nn.Module):
    """norm, act, 2x nearest upsampling, conv3x3, norm, act, conv3x3; plus upsample + conv1x1 of the input."""

    def __init__(self, cin: int, cout: int, norm: str, act: str):
        super().__init__()
        self.main = nn.Sequential(
            norm2d(norm, cin),
            activation(act),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(cin, cout, 3, 1, 1),
            norm2d(norm, cout),
            activation(act),
            nn.Conv2d(cout, cout, 3, 1, 1),
        )
        self.shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DownBlock(nn.Module):
    """[act], conv3x3, act, conv3x3, [2x2 average pool]; plus conv1x1 (+ pool) of the input. The first
    block of D takes the image itself, so it starts with the convolution (no activation before it)."""

    def __init__(self, cin: int, cout: int, down: bool, first: bool, norm: str, act: str):
        super().__init__()
        layers: list[nn.Module] = [] if first else [activation(act)]
        layers += [nn.Conv2d(cin, cout, 3, 1, 1), norm2d(norm, cout), activation(act), nn.Conv2d(cout, cout, 3, 1, 1)]
        if down:
            layers.append(nn.AvgPool2d(2))
        self.main = nn.Sequential(*layers)
        self.first, self.down = first, down
        self.shortcut = nn.Conv2d(cin, cout, 1) if (cin != cout or down) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x
        if self.shortcut is not None:
            # The first block pools before its 1x1 convolution, the others after (SNGAN's order).
            if self.first and self.down:
                s = self.shortcut(F.avg_pool2d(s, 2))
            else:
                s = self.shortcut(s)
                s = F.avg_pool2d(s, 2) if self.down else s
        return self.main(x) + s


class SumPool(nn.Module):
    """act, then the sum over the spatial grid: [N, C, H, W] -> [N, C]."""

    def __init__(self, act: str):
        super().__init__()
        self.act = activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x).sum(dim=(2, 3))


class ResNetGenerator(Generator):
    """z [N, z_dim] -> image [N, channels, size, size] in (-1, 1)."""

    def __init__(self, z_dim: int = 128, size: int = 32, channels: int = 3, ngf: int = 64, norm: str = "batch",
                 act: str = "relu"):  # fmt: skip
        super().__init__()
        n_up = _steps(size)
        widths = [ngf * min(MAX_MULT, 2 ** (n_up - 1 - i)) for i in range(n_up)]  # block outputs, 8x8 .. size
        self.z_dim, self.base = z_dim, widths[0]
        self.project = nn.Linear(z_dim, 4 * 4 * widths[0])
        self.blocks = nn.Sequential(*[
            UpBlock(w_in, w_out, norm, act) for w_in, w_out in zip([widths[0], *widths[:-1]], widths, strict=True)
        ])  # fmt: skip
        self.out = nn.Sequential(norm2d(norm, widths[-1]), activation(act), nn.Conv2d(widths[-1], channels, 3, 1, 1), nn.Tanh())
        resnet_init(self)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(self.project(z.flatten(1)).view(z.shape[0], self.base, 4, 4)))


class ResNetDiscriminator(Discriminator):
    """image [N, channels, size, size] -> logit [N]."""

    def __init__(self, size: int = 32, channels: int = 3, ndf: int = 64, norm: str = "none", act: str = "relu"):
        super().__init__()
        n_down = _steps(size) - 1  # down to 8x8
        widths = [ndf * min(MAX_MULT, 2**i) for i in range(n_down)]
        blocks = [DownBlock(channels, widths[0], down=True, first=True, norm=norm, act=act)]
        blocks += [DownBlock(a, b, down=True, first=False, norm=norm, act=act) for a, b in zip(widths, widths[1:], strict=False)]
        blocks.append(DownBlock(widths[-1], widths[-1], down=False, first=False, norm=norm, act=act))
        self.image_size = size
        self.features = nn.Sequential(*blocks, SumPool(act))
        # The image feeds the first block's convolution and its shortcut: tricks that widen D's input
        # (PacGAN, conditioning) widen both.
        self.features.input_layers = ("0.main.0", "0.shortcut")
        self.head = nn.Linear(widths[-1], 1)
        resnet_init(self)
