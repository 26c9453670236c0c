"""ganhacks tricks 12 and 16: use the data's class labels (AC-GAN, and the conditional GAN)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganhacks.config import ACGANConfig, ConditionalConfig
from ganhacks.errors import ConfigError
from ganhacks.models.layers import LabelChannels, init_normal, widen_first_layer
from ganhacks.tricks.base import StepContext, Trick


def _needs_labels(key: str, num_classes: int | None) -> int:
    if not num_classes:
        raise ConfigError(
            f"{key} needs class labels and this data set has none; use labelled data "
            "(mnist5k, digits, stacked-mnist, ring8, grid25, or an npz with y) or switch it off."
        )
    return num_classes


def condition_generator(G: nn.Module, num_classes: int, dim: int) -> None:
    """Make G class-conditional: a label embedding appended to z, G's first layer widened to take it."""
    if G.condition is not None:  # already conditioned by another trick (conditional + acgan)
        return
    widen_first_layer(G, extra=dim)
    G.condition = LabelChannels(num_classes, dim)


class Conditional(Trick):
    """Conditional GAN (Mirza & Osindero 2014), as the seed's trick 16 puts it: each label's learned
    embedding is appended to G's z and, upsampled to the image, added as extra channels of D's input.
    Fakes are drawn with labels sampled uniformly; sampling cycles through the classes unless labels are given."""

    key = "tricks.conditional"
    needs_labels = True

    def __init__(self, conf: ConditionalConfig, device: torch.device, seed: int, num_classes: int | None = None):
        self.dim = conf.embed_dim
        self.num_classes = _needs_labels(self.key, num_classes)

    def build(self, G: nn.Module, D: nn.Module) -> None:
        condition_generator(G, self.num_classes, self.dim)
        widen_first_layer(D.features, extra=self.dim)
        D.condition = LabelChannels(self.num_classes, self.dim)


class ACGAN(Trick):
    """AC-GAN (Odena et al. 2017), the seed's trick 12: G is class-conditional and D has an auxiliary
    head on its trunk features that predicts the class. D minimises the head's cross-entropy on real
    and fake samples; G minimises it on its fakes, so each fake must look like its class."""

    key = "tricks.acgan"
    needs_labels = True

    def __init__(self, conf: ACGANConfig, device: torch.device, seed: int, num_classes: int | None = None):
        self.conf = conf
        self.num_classes = _needs_labels(self.key, num_classes)
        self.head: nn.Module | None = None

    def build(self, G: nn.Module, D: nn.Module) -> None:
        from ganhacks.tricks.batch import head_input

        condition_generator(G, self.num_classes, self.conf.embed_dim)
        h = head_input(D)
        if h.dim() == 4:  # DCGAN: a conv over the whole base grid, like D's own head
            head: nn.Module = nn.Sequential(nn.Conv2d(h.shape[1], self.num_classes, h.shape[-1], bias=True), nn.Flatten())
        else:
            head = nn.Linear(h.shape[1], self.num_classes)
        for m in head.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                init_normal(m)
        D.aux_head = head  # a submodule of D: D's optimiser trains it and checkpoints hold it
        self.head = head

    def _ce(self, features: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.head(features).float()
        return F.cross_entropy(logits, labels), (logits.argmax(1) == labels).float().mean()

    def extra_d_loss(self, ctx: StepContext) -> torch.Tensor:
        from ganhacks.monitor.stats import report

        real, acc_real = self._ce(ctx.real_features, ctx.labels)
        fake, acc_fake = self._ce(ctx.fake_features, ctx.d_fake_labels)
        report("trick/acgan/acc_real", acc_real)
        report("trick/acgan/acc_fake", acc_fake)
        return self.conf.weight * (real + fake)

    def extra_g_loss(self, ctx: StepContext) -> torch.Tensor:
        loss, _ = self._ce(ctx.g_features, ctx.fake_labels)
        return self.conf.weight * loss
