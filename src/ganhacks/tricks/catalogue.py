"""The catalogue: every ganhacks trick, where it lives in the config, and the hook objects to build.

Some tricks are choices of the model, loss, latent or optimiser (config keys read where those are
built); the others are :class:`~ganhacks.tricks.base.Trick` objects that :func:`build_tricks` creates
from the ``tricks.*`` config sections. Tricks of the seed not listed as implemented here are
documented in docs/tricks.md as not yet available.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ganhacks.config import RunConfig, to_dict
from ganhacks.tricks.augment import ADA, BCR, DiffAugment
from ganhacks.tricks.base import Trick
from ganhacks.tricks.batch import MinibatchDiscriminationTrick, MinibatchStd, Pack
from ganhacks.tricks.conditional import ACGAN, Conditional
from ganhacks.tricks.labels import LabelSmoothing, NoisyLabels
from ganhacks.tricks.noise import InstanceNoise, LayerNoise
from ganhacks.tricks.penalties import R1, R2, GradientPenalty, LeCam
from ganhacks.tricks.replay import ExperienceReplay
from ganhacks.tricks.schedule import LossThreshold
from ganhacks.tricks.swap import CheckpointSwap
from ganhacks.tricks.vae import VAEGAN
from ganhacks.tricks.weights import EMA, SpectralNorm


@dataclass(frozen=True)
class TrickInfo:
    number: int | None  # the seed's trick number (../shared/seed/ganhacks.txt), None if not from the seed
    key: str  # the config key that switches it
    description: str


CATALOGUE: tuple[TrickInfo, ...] = (
    TrickInfo(1, "data", "inputs scaled to [-1, 1] and tanh on G's output; every data loader guarantees the range"),
    TrickInfo(
        2, "loss", "G loss: nonsaturating (max log D), minimax (min log(1-D)), or flip_labels (BCE with real/fake swapped)"
    ),
    TrickInfo(
        3, "latent", "latent distribution: gaussian (spherical z) or uniform; slerp/lerp interpolation in `ganhacks sample`"
    ),
    TrickInfo(4, "train.d_batches", "separate real and fake batches through D (default), or mixed: one batch of both"),
    TrickInfo(4, "model.g_norm", "G's normalisation: batch, instance, layer or none (model.d_norm for D)"),
    TrickInfo(5, "model.g_act", "G's activation: relu or leaky_relu (model.d_act for D; leaky_relu by default)"),
    TrickInfo(5, "model.down", "D's downsampling: strided conv (default), or conv + avgpool / maxpool (sparse gradients)"),
    TrickInfo(5, "model.up", "G's upsampling: convtranspose (default), pixelshuffle or nearest + conv"),
    TrickInfo(
        6,
        "tricks.label_smoothing",
        "soft targets for D: one_sided (real 0.9) or two_sided_random (real U(0.7,1.2), fake U(0,0.3))",
    ),
    TrickInfo(6, "tricks.noisy_labels", "flip each of D's targets with probability p"),
    TrickInfo(
        7,
        "tricks.vae",
        "VAE-GAN hybrid: an encoder, a KL term and a reconstruction term added to G's loss (DCGAN is the default)",
    ),
    TrickInfo(8, "tricks.replay", "experience replay: mix past fakes from a buffer into D's fake batch"),
    TrickInfo(8, "tricks.swap", "keep past snapshots of D (or G) and occasionally swap one in for a few steps"),
    TrickInfo(9, "optim.d.name", "optimiser per network: adam, or sgd (the seed's 'SGD for D'); separate lrs give TTUR"),
    TrickInfo(
        10,
        "doctor.action",
        "track failures early: the doctor names d_wins, g_fools_with_garbage, mode_collapse, slow_collapse, "
        "exploding_gradients, unstable, non_finite and stalled from the logged stats, and warns, stops or rolls back",
    ),
    TrickInfo(11, "tricks.loss_threshold", "discouraged: repeat D (G) updates while its loss is above d (g), capped per step"),
    TrickInfo(12, "tricks.acgan", "AC-GAN: class-conditional G and an auxiliary classifier head on D (needs labels)"),
    TrickInfo(13, "tricks.instance_noise", "Gaussian noise on D's real and fake inputs, sigma decaying to 0 at step `until`"),
    TrickInfo(13, "tricks.g_noise", "Gaussian noise after every activation of G while it trains, decaying to 0 (EBGAN)"),
    TrickInfo(14, "train.d_steps", "D updates per G update"),
    TrickInfo(15, "tricks.minibatch_discrimination", "Salimans et al.'s minibatch-discrimination layer before D's last layer"),
    TrickInfo(15, "tricks.minibatch_stddev", "the cheaper minibatch-stddev feature before D's last layer"),
    TrickInfo(
        16, "tricks.conditional", "conditional GAN: a label embedding appended to G's z and as extra channels of D's input"
    ),
    TrickInfo(None, "tricks.pack", "PacGAN: D judges packs of m samples (m = 2 by default), concatenated along channels"),
    TrickInfo(
        None,
        "loss",
        "later objectives, setting D's loss too: hinge, wasserstein (with tricks.gradient_penalty), least_squares, relativistic",
    ),
    TrickInfo(None, "tricks.r1", "R1: gamma/2 E||grad D(x)||^2 on real data; `every` k makes it lazy (StyleGAN2)"),
    TrickInfo(None, "tricks.r2", "R2: the same zero-centred gradient penalty on the fakes"),
    TrickInfo(None, "tricks.gradient_penalty", "WGAN-GP: weight E(||grad D(x_hat)|| - 1)^2 between real and fake samples"),
    TrickInfo(None, "tricks.spectral_norm", "spectral normalisation of every linear and conv weight of D (`which`: d, g, both)"),
    TrickInfo(None, "tricks.ema", "an EMA of G's weights (half-life in images, ramp-up) for samples, evaluation and the probe"),
    TrickInfo(None, "tricks.diffaugment", "DiffAugment: color, translation, cutout on every batch D sees, differentiably"),
    TrickInfo(None, "tricks.ada", "adaptive augmentation: DiffAugment's ops with probability p driven by E[sign(D(real))]"),
    TrickInfo(None, "tricks.lecam", "LeCam: D's outputs pulled towards moving averages of its outputs on the other kind"),
    TrickInfo(None, "tricks.bcr", "balanced consistency regularisation: D's outputs kept the same under augmentation"),
    TrickInfo(None, "model.arch", "architecture: mlp (2D), dcgan, or resnet (SNGAN-style residual G and D for images)"),
)

# The hook tricks, in the order the loop applies them: smoothing before flipping, so a flipped
# smoothed real target is 1 - 0.9.
HOOK_TRICKS: tuple[tuple[str, type[Trick]], ...] = (
    ("vae", VAEGAN),  # first: its encoder copies D's architecture before other tricks change D
    ("label_smoothing", LabelSmoothing),
    ("noisy_labels", NoisyLabels),
    ("instance_noise", InstanceNoise),
    ("g_noise", LayerNoise),
    ("replay", ExperienceReplay),
    ("swap", CheckpointSwap),
    ("loss_threshold", LossThreshold),
    ("minibatch_stddev", MinibatchStd),
    ("minibatch_discrimination", MinibatchDiscriminationTrick),
    ("conditional", Conditional),
    ("acgan", ACGAN),
    ("r1", R1),
    ("r2", R2),
    ("gradient_penalty", GradientPenalty),
    ("lecam", LeCam),
    ("bcr", BCR),
    ("diffaugment", DiffAugment),
    ("ada", ADA),
    ("pack", Pack),  # after the input tricks: it regroups what they produced
    ("spectral_norm", SpectralNorm),  # after every trick that adds or widens a layer of D
    ("ema", EMA),  # last: it averages every parameter the other tricks gave G
)

# Each trick's RNG seed is train.seed * 1000 + its slot: fixed per name, never by position in the list.
_SEED_SLOTS = {
    name: 17 * (i + 1)
    for i, name in enumerate((
        "label_smoothing", "noisy_labels", "instance_noise", "g_noise", "replay", "swap", "loss_threshold",
        "minibatch_stddev", "minibatch_discrimination", "pack", "conditional", "acgan", "vae",
        "r1", "r2", "gradient_penalty", "spectral_norm", "ema", "diffaugment", "ada", "lecam", "bcr",
    ))
}  # fmt: skip


def _lookup(cfg: dict[str, Any], key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def catalogue(cfg: RunConfig | None = None) -> list[dict[str, Any]]:
    """The catalogue as rows of number, key, default (the config default; 'off' for a trick section), description."""
    defaults = to_dict(cfg or RunConfig())
    rows = []
    for info in CATALOGUE:
        value = _lookup(defaults, info.key)
        if info.key == "data":
            value = "always on"
        elif info.key.startswith("tricks."):
            value = "off" if value is None else "on"
        rows.append({"number": info.number, "key": info.key, "default": value, "description": info.description})
    return rows


def build_tricks(cfg: RunConfig, device: torch.device, num_classes: int | None = None) -> list[Trick]:
    """The hook tricks switched on in ``cfg.tricks``, each with its own seeded RNG. ``num_classes`` is
    the data's label count (None: unlabelled); a trick that needs labels refuses unlabelled data here."""
    tricks = []
    for name, cls in HOOK_TRICKS:
        conf = getattr(cfg.tricks, name)
        if conf is None:
            continue
        seed = cfg.train.seed * 1000 + _SEED_SLOTS[name]
        extra = {"num_classes": num_classes} if getattr(cls, "needs_labels", False) else {}
        tricks.append(cls(conf, device, seed=seed, **extra))
    return tricks
