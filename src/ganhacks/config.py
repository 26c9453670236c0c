"""Typed run configuration: frozen dataclasses, YAML I/O, dotted overrides and presets.

A config is built in one place, :func:`build_config`, in this order:
defaults -> preset -> YAML file -> ``--set key=value`` overrides. Every key is
checked against the dataclasses below; an unknown key is an error that names the
nearest valid key, and a value of the wrong type or range is an error that says
what was expected.

Fields whose default is ``None`` are *auto*: they are filled from the data set by
:func:`resolve` (for example the PacGAN protocol's learning rate for 2D data and the
DCGAN one for images), and the resolved values are what ``config.yaml`` records.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import operator
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ganhacks.errors import ConfigError


@dataclass(frozen=True)
class DataConfig:
    """Which data to train on and how to shape it."""

    name: str = ""
    """ring8 | grid25 | mnist5k | digits | folder:PATH | npz:PATH"""
    size: int | None = None
    """Image side in pixels. Auto: 64 for folders, the native size for arrays."""
    channels: int | None = None
    """1 (grayscale) or 3 (RGB). Auto: 3 for folders, the native count for arrays."""
    seed: int = 0
    """Seed of the fixed synthetic training set (ring8, grid25), kept apart from train.seed
    so that every training seed sees the same data, as in the PacGAN protocol."""
    num_points: int = 100_000
    """Size of the synthetic 2D training set."""
    coords: Literal["unit", "raw"] = "unit"
    """Coordinates of the 2D sets. unit: divided by the largest coordinate, so the set lies in
    [-1, 1] (trick 1). raw: the protocol's own coordinates (the grid spans ±4), as PacGAN trains them;
    its MLP G ends in a linear layer, so nothing clips them. Metrics and plots are in the protocol's
    coordinates either way."""


@dataclass(frozen=True)
class ModelConfig:
    """Generator and discriminator architecture."""

    arch: Literal["auto", "mlp", "dcgan", "resnet"] = "auto"
    """Auto: the PacGAN MLPs for 2D data, DCGAN for images of DCGAN's sizes (8 to 64), the ResNet for
    128-pixel images. resnet: SNGAN-style residual G and D for images of 32, 64 or 128 pixels."""
    z_dim: int | None = None
    """Latent size. Auto: 2 for 2D data (PacGAN), 100 for images (DCGAN)."""
    ngf: int = 64
    """DCGAN generator width (channels of its last hidden layer)."""
    ndf: int = 64
    """DCGAN discriminator width (channels of its first layer)."""
    mlp_g_hidden: int = 400
    mlp_g_layers: int = 4
    mlp_d_hidden: int = 200
    mlp_d_layers: int = 3
    mlp_d_pieces: int = 5
    """Maxout pieces per discriminator unit."""
    g_norm: Literal["auto", "batch", "instance", "layer", "none"] = "auto"
    """G's normalisation (ganhacks trick 4). Auto: batch."""
    d_norm: Literal["auto", "batch", "instance", "layer", "none"] = "auto"
    """D's normalisation (ganhacks trick 4). Auto: batch for DCGAN, none for the maxout MLP and the ResNet."""
    g_act: Literal["auto", "relu", "leaky_relu"] = "auto"
    """G's activation (ganhacks trick 5). Auto: relu."""
    d_act: Literal["auto", "relu", "leaky_relu", "maxout"] = "auto"
    """D's activation (ganhacks trick 5). Auto: leaky_relu (0.2) for DCGAN, relu for the ResNet; maxout,
    the only choice, for the MLP."""
    up: Literal["convtranspose", "pixelshuffle", "nearest"] = "convtranspose"
    """DCGAN G's 2x upsampling (ganhacks trick 5): strided ConvTranspose, conv + PixelShuffle, or nearest + conv."""
    down: Literal["strided", "avgpool", "maxpool"] = "strided"
    """DCGAN D's 2x downsampling (ganhacks trick 5): strided conv, or conv + average / max pooling."""


@dataclass(frozen=True)
class OptimConfig:
    """One network's optimiser."""

    name: Literal["adam", "sgd"] = "adam"
    """adam (ganhacks trick 9), or sgd (the seed's 'SGD for the discriminator')."""
    lr: float | None = None
    """Auto: 1e-4 for 2D data (PacGAN), 2e-4 for images (DCGAN)."""
    betas: tuple[float, float] | None = None
    """Auto: (0.8, 0.999) for 2D data (PacGAN), (0.5, 0.999) for images (DCGAN)."""
    weight_decay: float = 0.0
    momentum: float = 0.0
    """sgd only."""


@dataclass(frozen=True)
class OptimPair:
    g: OptimConfig = field(default_factory=OptimConfig)
    d: OptimConfig = field(default_factory=OptimConfig)


@dataclass(frozen=True)
class TrainConfig:
    """The training loop."""

    steps: int = 2000
    """Total number of G updates."""
    d_steps: int = 1
    """D updates per G update (ganhacks trick 14), each on a fresh real batch and fresh fakes."""
    d_batches: Literal["separate", "mixed"] = "separate"
    """separate: real and fake through D as their own batches (ganhacks trick 4); mixed: one concatenated batch."""
    batch_size: int | None = None
    """Auto: 100 for 2D data (PacGAN), 64 for images (DCGAN)."""
    seed: int = 0
    precision: Literal["fp32", "bf16"] = "fp32"
    """fp32, or bf16 autocast for the forward passes (weights and optimiser stay fp32)."""
    device: str = "auto"
    """auto (CUDA when available, else CPU), cpu, cuda or cuda:N."""
    threads: int | None = None
    """CPU threads for torch. Auto: torch's own default."""
    cuda_graph: bool | Literal["auto"] = False
    """Replay each step as one CUDA graph (ganhacks.training.graph), which removes the host's cost of
    launching its kernels one by one: true, or auto (capture where the run can be captured, else train
    as usual). CUDA only; every trick on must be capturable, and a run on several processes is not."""
    sync_bn: bool = False
    """Under torchrun: BatchNorm statistics over the global batch (PyTorch's SyncBatchNorm, GPUs only)
    rather than each rank's share of it."""
    log_every: int = 10
    """Steps between rows of metrics.jsonl; each row averages the steps since the last."""
    sample_every: int | None = None
    """Steps between sample grids. Auto: a tenth of the run."""
    sample_n: int = 64
    """Images in each sample grid (points in each 2D scatter: 2,500)."""


@dataclass(frozen=True)
class CheckpointConfig:
    every: int | None = None
    """Steps between checkpoints. Auto: a quarter of the run. The last step is always saved."""
    keep: int = 3
    """How many recent checkpoints to keep."""


@dataclass(frozen=True)
class LabelSmoothingConfig:
    """ganhacks trick 6: soft targets for D. The seed's text is two-sided; Salimans et al. 2016 smooth only real."""

    mode: Literal["one_sided", "two_sided_random"] = "one_sided"
    real: float = 0.9
    """one_sided: the fixed target for real samples (fake stays 0)."""
    real_range: tuple[float, float] = (0.7, 1.2)
    """two_sided_random: real targets ~ U(real_range)."""
    fake_range: tuple[float, float] = (0.0, 0.3)
    """two_sided_random: fake targets ~ U(fake_range)."""


@dataclass(frozen=True)
class NoisyLabelsConfig:
    """ganhacks trick 6: flip each of D's targets (t -> 1 - t) with probability p."""

    p: float = 0.05


@dataclass(frozen=True)
class InstanceNoiseConfig:
    """ganhacks trick 13: Gaussian noise on every input of D, real and fake, decaying to 0 at step ``until``."""

    sigma: float = 0.1
    until: int | None = None
    """Step at which sigma reaches 0. Auto: half of train.steps."""
    schedule: Literal["linear", "exponential"] = "linear"
    """linear: sigma * (1 - t/T); exponential: sigma * 0.001^(t/T); both 0 from T on."""
    start: int = 0
    """Step at which the decay begins (t counts from here); the doctor's remedy starts noise mid-run."""


@dataclass(frozen=True)
class LayerNoiseConfig(InstanceNoiseConfig):
    """ganhacks trick 13, second half: Gaussian noise added after every activation of G while it
    trains (Zhao et al. 2016, EBGAN), with its own sigma and decay; sampling is noise-free."""


@dataclass(frozen=True)
class ReplayConfig:
    """ganhacks trick 8: a buffer of past fakes, mixed into D's fake batch."""

    size: int = 1000
    """Samples kept (the oldest are overwritten)."""
    p: float = 0.5
    """Probability that each sample of D's fake batch is replaced by a random buffered one."""


@dataclass(frozen=True)
class SwapConfig:
    """ganhacks trick 8: keep past snapshots and occasionally swap one in for a few steps."""

    which: Literal["d", "g", "both"] = "d"
    """Which network's past snapshots are swapped in."""
    every: int = 100
    """Steps between snapshots."""
    keep: int = 5
    """Snapshots kept (the oldest are dropped)."""
    p: float = 0.01
    """Probability, after each step, of swapping an older snapshot in."""
    duration: int = 10
    """Steps an old snapshot stays in before the current weights come back."""


@dataclass(frozen=True)
class LossThresholdConfig:
    """ganhacks trick 11 (discouraged by the seed): extra updates while a loss is above a threshold."""

    d: float | None = 1.3863
    """Repeat D's update while its loss is above this (null: never). Default 2 ln 2, D's loss at chance."""
    g: float | None = None
    """Repeat G's update while its loss is above this (null: never)."""
    max_repeat: int = 5
    """At most this many extra updates of each network per step."""


@dataclass(frozen=True)
class MinibatchStdConfig:
    """ganhacks trick 15, the cheap form: a minibatch-stddev feature before D's last layer (Karras et al. 2018)."""

    group: int | None = None
    """Samples per group; null: the whole batch."""


@dataclass(frozen=True)
class MinibatchDiscriminationConfig:
    """ganhacks trick 15: Salimans et al. 2016's minibatch-discrimination layer before D's last layer."""

    kernels: int = 50
    kernel_dim: int = 5


@dataclass(frozen=True)
class PackConfig:
    """PacGAN packing (Lin et al. 2018): D sees m samples of one kind at once."""

    m: int = 2


@dataclass(frozen=True)
class ConditionalConfig:
    """ganhacks trick 16: a conditional GAN for discrete labels. Each label gets a learned embedding of
    ``embed_dim`` numbers, appended to G's input z and, broadcast over the image, as extra channels of D's input."""

    embed_dim: int = 8


@dataclass(frozen=True)
class ACGANConfig:
    """ganhacks trick 12: AC-GAN (Odena et al. 2017). G is class-conditional (a label embedding appended
    to z) and D gets an auxiliary head that classifies real and fake samples; both networks add its loss."""

    weight: float = 1.0
    """Weight of the auxiliary cross-entropy in D's and G's losses."""
    embed_dim: int = 8
    """Size of the label embedding appended to G's z (shared with tricks.conditional when both are on)."""


@dataclass(frozen=True)
class VAEConfig:
    """ganhacks trick 7: a VAE-GAN hybrid (Larsen et al. 2016). An encoder maps real x to q(z|x); G, as the
    decoder, is trained to reconstruct x from z ~ q(z|x), with a KL term pulling q(z|x) to the prior N(0, I)."""

    kl_weight: float = 0.1
    """Weight of KL(q(z|x) || N(0, I)), averaged over the latent dimensions."""
    recon_weight: float = 1.0
    """Weight of the reconstruction error."""
    recon: Literal["pixel", "features"] = "pixel"
    """pixel: mean squared error on the data; features: on D's trunk features (Larsen's learned similarity)."""


@dataclass(frozen=True)
class R1Config:
    """R1 (Mescheder et al. 2018): D's loss gains gamma/2 * E ||grad_x D(x)||^2 on real data."""

    gamma: float = 10.0
    every: int = 1
    """Lazy regularisation (StyleGAN2): every k steps, as an update of its own, with the penalty
    scaled by k. 1 adds it to every D update's loss."""


@dataclass(frozen=True)
class R2Config(R1Config):
    """R2: the same penalty on D's fakes (Mescheder et al. 2018)."""


@dataclass(frozen=True)
class GradientPenaltyConfig:
    """WGAN-GP (Gulrajani et al. 2017): weight * E (||grad D(x_hat)|| - 1)^2 at random points x_hat
    between a real and a fake sample; meant for loss=wasserstein."""

    weight: float = 10.0


@dataclass(frozen=True)
class SpectralNormConfig:
    """Spectral normalisation (Miyato et al. 2018): each weight divided by its largest singular value,
    estimated by one power iteration per forward pass (torch's own parametrization)."""

    which: Literal["d", "g", "both"] = "d"


@dataclass(frozen=True)
class EMAConfig:
    """An exponential moving average of G's weights (Karras et al. 2018; StyleGAN2-ADA's form), used
    for samples, evaluation and the doctor's probe."""

    half_life: float = 10_000.0
    """Images after which an old weight's share has halved."""
    rampup: float | None = 0.05
    """The half-life is at most this fraction of the images seen so far, so early weights fade fast
    (null: the full half-life from the start)."""


@dataclass(frozen=True)
class DiffAugmentConfig:
    """DiffAugment (Zhao et al. 2020): the same random, differentiable augmentations of every batch D
    sees, real and fake, in both updates; for small image data sets."""

    policy: str = "color,translation,cutout"
    """A comma-separated subset of color, translation and cutout."""


@dataclass(frozen=True)
class ADAConfig:
    """Adaptive augmentation (Karras et al. 2020, StyleGAN2-ADA): each DiffAugment op is applied to each
    sample with probability p, and p follows D's overfitting r_t = E[sign(D(real))] towards ``target``."""

    target: float = 0.6
    interval: int = 4
    """Steps between adjustments of p (r_t is averaged over them)."""
    speed: float = 500_000.0
    """Images over which p can move from 0 to 1 (StyleGAN2-ADA: 500k)."""
    p: float = 0.0
    """p at the first step."""
    policy: str = "color,translation,cutout"


@dataclass(frozen=True)
class LeCamConfig:
    """The LeCam regulariser (Tseng et al. 2021): D's outputs are pulled towards moving averages of its
    outputs on the other kind of sample, which limits how far D can separate them on little data."""

    weight: float = 0.3
    decay: float = 0.99
    """Decay of the moving averages (anchors) of D's mean output on real and on fake samples."""


@dataclass(frozen=True)
class BCRConfig:
    """Balanced consistency regularisation (Zhao et al. 2021): D's outputs on real and fake samples
    should not change when the samples are augmented."""

    weight_real: float = 10.0
    weight_fake: float = 10.0
    policy: str = "translation"
    """The augmentation T, a comma-separated subset of color, translation and cutout."""


@dataclass(frozen=True)
class TricksConfig:
    """Tricks that hook into the loop. Each is off (null) unless set: ``--set tricks.NAME=on`` turns
    one on with its defaults, ``--set tricks.NAME.KEY=VALUE`` turns it on and sets a key."""

    label_smoothing: LabelSmoothingConfig | None = None
    noisy_labels: NoisyLabelsConfig | None = None
    instance_noise: InstanceNoiseConfig | None = None
    g_noise: LayerNoiseConfig | None = None
    replay: ReplayConfig | None = None
    swap: SwapConfig | None = None
    loss_threshold: LossThresholdConfig | None = None
    minibatch_stddev: MinibatchStdConfig | None = None
    minibatch_discrimination: MinibatchDiscriminationConfig | None = None
    pack: PackConfig | None = None
    conditional: ConditionalConfig | None = None
    acgan: ACGANConfig | None = None
    vae: VAEConfig | None = None
    r1: R1Config | None = None
    r2: R2Config | None = None
    gradient_penalty: GradientPenaltyConfig | None = None
    spectral_norm: SpectralNormConfig | None = None
    ema: EMAConfig | None = None
    diffaugment: DiffAugmentConfig | None = None
    ada: ADAConfig | None = None
    lecam: LeCamConfig | None = None
    bcr: BCRConfig | None = None


AUGMENT_OPS = ("color", "translation", "cutout")


def augment_policy(text: str, key: str) -> tuple[str, ...]:
    """The ops of a DiffAugment policy string, checked; an unknown or empty one is a ConfigError."""
    ops = tuple(o.strip() for o in text.split(",") if o.strip())
    bad = [o for o in ops if o not in AUGMENT_OPS]
    if bad or not ops:
        raise ConfigError(f"Config key '{key}' must be a comma-separated subset of {','.join(AUGMENT_OPS)}, got {text!r}.")
    return ops


@dataclass(frozen=True)
class EvalConfig:
    every: int | None = None
    """Steps between evaluations during training (metrics merged into that step's metrics.jsonl row). Off when null."""
    at: tuple[int, ...] | None = None
    """Steps at which to evaluate during training as well, e.g. [2000, 10000] (merged into those rows
    of metrics.jsonl, as with ``every``); `ganhacks ablate --eval-at` sets it. Off when null."""
    n: int | None = None
    """Samples per evaluation. Auto: 2,500 for 2D data (the protocol), else min(5,000, max(N, 1,000))."""
    inception_weights: str | None = None
    """Local FID Inception weights (pt_inception-2015-12-05); also read from $GANHACKS_INCEPTION_WEIGHTS."""


@dataclass(frozen=True)
class LoggingConfig:
    """Where a run's statistics go besides its run folder (which is always written)."""

    tensorboard: bool = False
    """Also write TensorBoard event files (scalars, sample grids, the doctor's events) to RUN/tb/;
    needs ``pip install 'ganhacks[tb]'``. Changing it on --resume is not a config change."""


REMEDIES = ("halve_lr", "halve_lr_d", "halve_lr_g", "instance_noise", "label_smoothing")


@dataclass(frozen=True)
class DoctorConfig:
    """The doctor (ganhacks trick 10): reads each metrics row, names failures, and acts on them.
    Windows count logged rows (``train.log_every`` steps each) or probes (``probe_every`` steps each)."""

    action: Literal["warn", "stop", "rollback"] = "warn"
    """warn: report and go on; stop: end the run with a final checkpoint; rollback: restore the last
    healthy checkpoint, apply the remedy, and go on (at most ``max_rollbacks`` times, then stop)."""
    remedy: str = "auto"
    """What rollback changes: auto (chosen per failure, see docs/doctor.md) or a comma-separated list of
    halve_lr, halve_lr_d, halve_lr_g, instance_noise, label_smoothing."""
    max_rollbacks: int = 3
    warmup: int | None = None
    """Steps before the slow detectors (d_wins, g_fools_with_garbage, mode_collapse, slow_collapse,
    unstable, stalled) may fire; a GAN's first steps look like all of them. Auto: a tenth of the run."""
    window: int = 5
    """Consecutive rows (probes for the probe-based detectors) a condition must hold before it is raised."""
    probe_every: int = 50
    """Steps between probes: sample diversity, 2D mode coverage, weight finiteness and G's weight change."""
    probe_n: int = 256
    """Fakes (and real samples) per probe, from a fixed z."""
    d_gap: float = 0.9
    """d_wins: D(real) - D(fake) at least this."""
    grad_limit: float = 1000.0
    """exploding_gradients: a global or per-layer gradient norm above this. The seed says 100, but healthy
    PacGAN MLP runs on ring8 reach 300 in G (docs/doctor.md)."""
    fool_gap: float = 0.2
    """g_fools_with_garbage: D(fake) - D(real) at least this while G's loss falls."""
    trend: int = 10
    """g_fools_with_garbage: rows over which G's loss must fall."""
    diversity_floor: float = 0.25
    """mode_collapse: fakes' mean pairwise distance below this fraction of the real data's (and below half
    the best G reached)."""
    coverage_floor: float = 0.5
    """mode_collapse: fewer than this fraction of the modes (2D) or classes (eval rows) covered."""
    recall_fraction: float = 0.5
    """mode_collapse (image data): the probe's recall (k-NN, against a fixed real sample) below this fraction of the
    best recall the run reached, once that best is at least recall_min_best ..."""
    recall_min_best: float = 0.1
    """... (below it, 256 probe samples measure recall too coarsely to call a fall) ..."""
    recall_floor: float | None = None
    """... or below this floor. Off by default: a healthy MNIST run's probe recall starts at 0 and
    stays under 0.05 for its first 300 steps (docs/doctor.md), so a floor alone cannot tell "not
    learned yet" from "collapsed"."""
    collapse_trend: int = 10
    """slow_collapse (image data): probes over which recall must fall while precision holds."""
    recall_drop: float = 0.3
    """slow_collapse: the least fall of recall over that window, as a fraction of its level at the start."""
    spike_factor: float = 5.0
    """unstable: the losses' median row-to-row swing over a window above this multiple of its recent size ..."""
    swing_floor: float = 0.25
    """... and above this; healthy ring8 runs swing up to about 0.12 as G starts to learn (docs/doctor.md)."""
    stall_tol: float = 1e-6
    """stalled: G's weights change by less than this (relative) between probes."""


@dataclass(frozen=True)
class RunConfig:
    """The root of a run's configuration; ``config.yaml`` is this, resolved."""

    preset: str = "baseline"
    loss: Literal["nonsaturating", "minimax", "flip_labels", "hinge", "wasserstein", "least_squares", "relativistic"] = (
        "nonsaturating"
    )
    """The GAN objective. The seed's G losses (ganhacks trick 2), each with D's cross-entropy:
    nonsaturating: max log D(G(z)); minimax: min log(1 - D(G(z))); flip_labels: G trained on D's loss
    with real and fake swapped, BCE(D(G(z)), 1). Later objectives, which set D's loss too: hinge
    (SNGAN, BigGAN); wasserstein (use with tricks.gradient_penalty: WGAN-GP); least_squares (LSGAN);
    relativistic (the relativistic average standard GAN)."""
    latent: Literal["gaussian", "uniform"] = "gaussian"
    """Latent distribution (ganhacks trick 3): N(0, I), or U(-1, 1) (the seed advises against it)."""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimPair = field(default_factory=OptimPair)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    tricks: TricksConfig = field(default_factory=TricksConfig)
    doctor: DoctorConfig = field(default_factory=DoctorConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)


# A preset is a named set of overrides on the defaults. `baseline` is the plain
# DCGAN / PacGAN set-up with none of the optional tricks.
PRESETS: dict[str, dict[str, Any]] = {
    "baseline": {},
    # Set from the bench (docs/results.md, 2026-11-27; every applicable trick, 5 seeds each): the
    # tricks whose headline verdict was "helps" on at least one of ring8, grid25 and mnist5k and
    # "hurts" on none (benchmarks/verdict_matrix.py applies the rule). Three passed, all on MNIST's FD:
    # LeakyReLU in G -78, instance noise -50, noise in G's layers -2.9; none showed evidence on 2D
    # (raw verdicts; the rule now reads the adjusted ones, below).
    # The label tricks (conditional, AC-GAN) are outside the rule: they need labels. Measured as one
    # arm: MNIST FD 397 -> 296 (5 seeds), Stacked MNIST 770 -> 821 modes (10 seeds), no evidence on
    # the 2D sets' KL (10 seeds); these numbers are for the set with g_noise in it.
    # At 10 seeds on the 2D sets the rule also admits latent=uniform and two-sided random label
    # smoothing (each helps the ring alone). Added together to this set they showed no evidence on
    # either 2D set and hurt MNIST (FD +10.9, CI [5.7, 15.6]), so they stay out.
    # At 20,000 steps on grid25 (10 seeds, 2026-12-03) the set hurt the KL, and LeakyReLU in G alone
    # carried that harm, so on 2D data it is left out (PRESET_IMAGE_ONLY); images keep it.
    # Re-derived from the adjusted verdicts (2026-12-08): g_noise's one "helps" (MNIST FD -2.9) does
    # not survive the Benjamini-Hochberg adjustment, so the rule no longer admits it. Left out of the
    # set it showed no evidence at 10 seeds (mnist5k leave-one-out, FD +3.4, CI [-1.7, 8.4], p 0.17),
    # nor did instance noise alone against instance noise + g_noise on grid25 at 20k steps in PacGAN's
    # coordinates (modes -1.7, p 0.22; KL +0.005, p 0.97). Both point estimates favour keeping it.
    "recommended": {
        "model": {"g_act": "leaky_relu"},  # trick 5
        "tricks": {
            "instance_noise": {"sigma": 0.1},  # trick 13: decaying noise on D's inputs
        },
    },
    # The stabilisers that came after the seed: the hinge loss and an EMA generator everywhere; for
    # images, spectral norm on D with R1 beside it, and DiffAugment (PRESET_IMAGE_ONLY). On mnist5k at
    # the demo's 2,500 steps (5 seeds, docs/results.md) R1 beside spectral norm beat spectral norm
    # alone and R1 in its place, though no variant beat `baseline` or `recommended` there.
    "modern": {
        "loss": "hinge",
        "tricks": {
            "spectral_norm": {"which": "d"},
            "r1": {"gamma": 10.0},
            "ema": {},
            "diffaugment": {"policy": "color,translation,cutout"},
        },
    },
}

# Settings of a preset for images only: 2D data gets the rest of the preset without them. DiffAugment
# has nothing to augment there. Spectral norm and R1 hold a 2D D at chance: on grid25 at 20,000 steps
# (10 seeds, docs/results.md) hinge + SN + R1 + EMA covered 5.8 modes at KL 1.89, and hinge + EMA
# alone 22 modes at KL 0.47, beating `recommended`'s 16 modes and KL 1.10.
PRESET_IMAGE_ONLY: dict[str, tuple[str, ...]] = {
    "recommended": ("model.g_act",),
    "modern": ("tricks.diffaugment", "tricks.spectral_norm", "tricks.r1"),
}


# --------------------------------------------------------------------------- parsing


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _switchable(tp: Any) -> type | None:
    """The dataclass inside ``X | None``: a section that is off when null (a trick)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        inner = [a for a in args if a is not type(None)]
        if type(None) in args and len(inner) == 1 and _is_dataclass_type(inner[0]):
            return inner[0]
    return None


def valid_keys(cls: type = RunConfig, prefix: str = "") -> list[str]:
    """Every dotted key of a config class that takes a value, e.g. ``optim.g.lr`` or ``tricks.replay``."""
    keys = []
    for name, tp in _hints(cls).items():
        if _is_dataclass_type(tp):
            keys += valid_keys(tp, f"{prefix}{name}.")
        elif (inner := _switchable(tp)) is not None:
            keys += [prefix + name, *valid_keys(inner, f"{prefix}{name}.")]
        else:
            keys.append(prefix + name)
    return keys


def _unknown_key(key: str, cls: type, prefix: str) -> ConfigError:
    options = valid_keys(cls, prefix) + [prefix + n for n, t in _hints(cls).items() if _is_dataclass_type(t)]
    near = difflib.get_close_matches(key, options, n=1, cutoff=0.5)
    if not near:  # try matching only the last component, e.g. 'lrr' -> 'optim.g.lr'
        tail = key.rsplit(".", 1)[-1]
        names = {k.rsplit(".", 1)[-1]: k for k in valid_keys()}
        near = [names[n] for n in difflib.get_close_matches(tail, list(names), n=1, cutoff=0.6)]
    hint = f"did you mean '{near[0]}'?" if near else "run `ganhacks train --dry-run` to see every key."
    return ConfigError(f"Unknown config key '{key}'; {hint}")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_type_name(args[0]).removeprefix('an ').removeprefix('a ')}s"
        return f"a list of {len(args)} numbers"
    if tp is type(None):
        return "null"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert a YAML value to the field type ``tp``, or raise ConfigError."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"Config key '{key}' must be {_type_name(tp)}, got {value!r}.")
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "auto")):
            if type(None) in args:
                return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
        raise bad
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise bad
    if origin is tuple:
        args = typing.get_args(tp)
        if isinstance(value, str):
            value = [v.strip() for v in value.strip("()[] ").split(",") if v.strip()]
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[int, ...]: any length, a lone value for one
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = [value]
            if not isinstance(value, (list, tuple)):
                raise bad
            return tuple(_coerce(v, args[0], key) for v in value)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise bad
        return tuple(_coerce(v, a, key) for v, a in zip(value, args, strict=True))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                f = float(value)
            except ValueError:
                raise bad from None
            if f.is_integer():
                return int(f)
        raise bad
    if tp is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise bad from None
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    raise bad  # pragma: no cover - every field type is handled above


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build config class ``cls`` from a nested dict, checking every key and value."""
    if not isinstance(data, dict):
        raise ConfigError(f"Config section '{prefix.rstrip('.') or 'root'}' must be a mapping of keys to values.")
    hints = _hints(cls)
    kwargs = {}
    for key, value in data.items():
        if not isinstance(key, str) or key not in hints:
            full = f"{prefix}{key}"
            while isinstance(value, dict) and len(value) == 1:  # name the whole dotted key the user wrote
                ((sub, value),) = value.items()
                full += f".{sub}"
            raise _unknown_key(full, RunConfig, "")
        tp = hints[key]
        if _is_dataclass_type(tp):
            kwargs[key] = from_dict(tp, value or {}, f"{prefix}{key}.")
        elif (inner := _switchable(tp)) is not None:
            kwargs[key] = _switch(value, inner, prefix + key)
        else:
            kwargs[key] = _coerce(value, tp, prefix + key)
    return cls(**kwargs)


def _switch(value: Any, cls: type, key: str) -> Any:
    """on/true -> the section with its defaults; off/false/null -> None; a mapping -> the section with those keys."""
    word = value.lower() if isinstance(value, str) else value
    if word in (None, False, "off", "none", "null", "false"):
        return None
    if word in (True, "on", "true"):
        return cls()
    if isinstance(value, dict):
        return from_dict(cls, value, f"{key}.")
    first = next(iter(_hints(cls)))
    raise ConfigError(
        f"Config key '{key}' switches a trick: use on, off, or set one of its keys such as {key}.{first}=...; got {value!r}."
    )


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain nested dict (tuples as lists), ready for YAML or JSON."""

    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def nest(dotted: dict[str, Any]) -> dict[str, Any]:
    """``{'optim.g.lr': 1e-4}`` -> ``{'optim': {'g': {'lr': 1e-4}}}``."""
    out: dict[str, Any] = {}
    for key, value in dotted.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"Config key '{key}' conflicts with another value given for '{part}'.")
        node[parts[-1]] = value
    return out


def flatten(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The inverse of :func:`nest`: ``{'optim': {'g': {'lr': 1e-4}}}`` -> ``{'optim.g.lr': 1e-4}``.
    An empty mapping is a value (a trick switched on with its defaults), not a branch."""
    out: dict[str, Any] = {}
    for key, value in nested.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def changed_keys(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The keys of two flat dicts whose values differ (or that only one has), sorted."""
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def parse_override(text: str) -> dict[str, Any]:
    """Turn ``'optim.g.lr=1e-4'`` into ``{'optim': {'g': {'lr': 1e-4}}}`` (value parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"Override '{text}' must look like key=value, for example optim.g.lr=1e-4.")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"Override '{text}' has an empty key; write it like optim.g.lr=1e-4.")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    # A full key always names a leaf: `--set data.name=folder:x` must stay a string.
    if isinstance(value, dict):
        value = raw
    return nest({key: value})


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a dict (safe loader only)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"Config file '{p}' does not exist; check the path given to --config.")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"Config file '{p}' is not valid YAML ({first}); fix the syntax and try again.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file '{p}' must hold a mapping of keys to values at its top level.")
    return data


def build_config(
    *,
    preset: str | None = None,
    file: str | Path | None = None,
    overrides: list[str] | None = None,
    values: dict[str, Any] | None = None,
) -> RunConfig:
    """Build and validate a RunConfig: defaults -> preset -> file -> values -> overrides.

    ``values`` is a nested dict (the Python API); ``overrides`` are ``key=value`` strings (the CLI).
    """
    layers: list[dict[str, Any]] = []
    if file is not None:
        layers.append(load_yaml(file))
    if values:
        layers.append(values)
    for text in overrides or []:
        layers.append(parse_override(text))
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = merge(merged, layer)
    name = preset or merged.get("preset") or "baseline"
    if not isinstance(name, str) or name not in PRESETS:
        near = difflib.get_close_matches(str(name), list(PRESETS), n=1)
        hint = f"did you mean '{near[0]}'?" if near else "choose one of: " + ", ".join(PRESETS) + "."
        raise ConfigError(f"Unknown preset '{name}'; {hint}")
    merged = merge(PRESETS[name], merged)
    merged["preset"] = name
    cfg = from_dict(RunConfig, merged)
    validate(cfg)
    return cfg


def validate(cfg: RunConfig) -> None:
    """Check value ranges and combinations; raise one ConfigError naming the first problem."""

    def positive(key: str, value: float | int | None, allow_none: bool = True) -> None:
        if value is None and allow_none:
            return
        if value is None or not (value > 0) or (isinstance(value, float) and not math.isfinite(value)):
            raise ConfigError(f"Config key '{key}' must be a positive number, got {value!r}.")

    positive("train.steps", cfg.train.steps)
    positive("train.d_steps", cfg.train.d_steps)
    positive("train.batch_size", cfg.train.batch_size)
    positive("train.log_every", cfg.train.log_every)
    positive("train.sample_every", cfg.train.sample_every)
    positive("train.sample_n", cfg.train.sample_n)
    positive("train.threads", cfg.train.threads)
    positive("checkpoint.every", cfg.checkpoint.every)
    positive("checkpoint.keep", cfg.checkpoint.keep)
    positive("eval.every", cfg.eval.every)
    positive("eval.n", cfg.eval.n)
    for step in cfg.eval.at or ():
        positive("eval.at", step, allow_none=False)
    positive("data.size", cfg.data.size)
    positive("data.num_points", cfg.data.num_points)
    positive("model.z_dim", cfg.model.z_dim)
    for key in ("ngf", "ndf", "mlp_g_hidden", "mlp_g_layers", "mlp_d_hidden", "mlp_d_layers", "mlp_d_pieces"):
        positive(f"model.{key}", getattr(cfg.model, key))
    if cfg.data.channels is not None and cfg.data.channels not in (1, 3):
        raise ConfigError(f"Config key 'data.channels' must be 1 (grayscale) or 3 (RGB), got {cfg.data.channels}.")
    for net in ("g", "d"):
        o: OptimConfig = getattr(cfg.optim, net)
        positive(f"optim.{net}.lr", o.lr)
        if o.betas is not None and not all(0.0 <= b < 1.0 for b in o.betas):
            raise ConfigError(f"Config key 'optim.{net}.betas' must be two numbers in [0, 1), got {list(o.betas)}.")
        if o.weight_decay < 0:
            raise ConfigError(f"Config key 'optim.{net}.weight_decay' must be >= 0, got {o.weight_decay}.")
        if not 0.0 <= o.momentum < 1.0:
            raise ConfigError(f"Config key 'optim.{net}.momentum' must be in [0, 1), got {o.momentum}.")
    _validate_tricks(cfg.tricks)
    _validate_doctor(cfg.doctor)
    if cfg.loss in ("hinge", "wasserstein"):
        for name in ("label_smoothing", "noisy_labels"):
            if getattr(cfg.tricks, name) is not None:
                raise ConfigError(
                    f"tricks.{name} changes D's targets, which loss={cfg.loss} does not have; use it with a "
                    "cross-entropy, least_squares or relativistic loss, or switch it off."
                )
    if cfg.tricks.vae and cfg.latent != "gaussian":
        raise ConfigError("tricks.vae pulls the encoder towards a N(0, I) prior, so it needs latent=gaussian.")
    dev = cfg.train.device
    if not (dev in ("auto", "cpu", "cuda", "mps") or (dev.startswith("cuda:") and dev[5:].isdigit())):
        raise ConfigError(f"Config key 'train.device' must be auto, cpu, cuda or cuda:N, got {dev!r}.")


def _validate_tricks(t: TricksConfig) -> None:
    def probability(key: str, p: float) -> None:
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"Config key '{key}' is a probability and must be in [0, 1], got {p}.")

    def interval(key: str, r: tuple[float, float]) -> None:
        if r[0] > r[1]:
            raise ConfigError(f"Config key '{key}' must be [low, high] with low <= high, got {list(r)}.")

    if t.label_smoothing:
        interval("tricks.label_smoothing.real_range", t.label_smoothing.real_range)
        interval("tricks.label_smoothing.fake_range", t.label_smoothing.fake_range)
    if t.noisy_labels:
        probability("tricks.noisy_labels.p", t.noisy_labels.p)
    for name in ("instance_noise", "g_noise"):
        noise = getattr(t, name)
        if noise is None:
            continue
        if noise.sigma < 0:
            raise ConfigError(f"Config key 'tricks.{name}.sigma' must be >= 0, got {noise.sigma}.")
        if noise.until is not None and noise.until < 1:
            raise ConfigError(f"Config key 'tricks.{name}.until' must be a positive step, got {noise.until}.")
        if noise.start < 0 or (noise.until is not None and noise.until <= noise.start):
            raise ConfigError(f"Config key 'tricks.{name}.start' must be >= 0 and before .until, got {noise.start}.")
    if t.minibatch_stddev and t.minibatch_discrimination:
        raise ConfigError(
            "tricks.minibatch_stddev and tricks.minibatch_discrimination both replace D's last layer; switch one of them off."
        )
    if t.minibatch_stddev and t.minibatch_stddev.group is not None and t.minibatch_stddev.group < 1:
        raise ConfigError(
            f"Config key 'tricks.minibatch_stddev.group' must be a positive number, got {t.minibatch_stddev.group}."
        )
    if t.minibatch_discrimination and min(t.minibatch_discrimination.kernels, t.minibatch_discrimination.kernel_dim) < 1:
        raise ConfigError("Config keys 'tricks.minibatch_discrimination.kernels' and '.kernel_dim' must be positive numbers.")
    if t.pack and t.pack.m < 2:
        raise ConfigError(f"Config key 'tricks.pack.m' must be at least 2 (samples per pack), got {t.pack.m}.")
    if t.swap:
        probability("tricks.swap.p", t.swap.p)
        for key in ("every", "keep", "duration"):
            if getattr(t.swap, key) < 1:
                raise ConfigError(f"Config key 'tricks.swap.{key}' must be a positive number, got {getattr(t.swap, key)}.")
    if t.loss_threshold:
        if t.loss_threshold.d is None and t.loss_threshold.g is None:
            raise ConfigError("tricks.loss_threshold is on but sets no threshold; set tricks.loss_threshold.d and/or .g.")
        if not 1 <= t.loss_threshold.max_repeat <= 100:
            raise ConfigError(
                f"Config key 'tricks.loss_threshold.max_repeat' must be in 1..100, got {t.loss_threshold.max_repeat}."
            )
    for name in ("conditional", "acgan"):
        section = getattr(t, name)
        if section is not None and section.embed_dim < 1:
            raise ConfigError(f"Config key 'tricks.{name}.embed_dim' must be a positive number, got {section.embed_dim}.")
        if section is not None and t.pack:
            # PacGAN regroups D's inputs before D sees them, so labels no longer line up with samples.
            raise ConfigError(f"tricks.{name} gives each sample its own label, which tricks.pack cannot keep; switch one off.")
    if t.acgan and t.acgan.weight < 0:
        raise ConfigError(f"Config key 'tricks.acgan.weight' must be >= 0, got {t.acgan.weight}.")
    if t.vae:
        if t.vae.kl_weight < 0 or t.vae.recon_weight < 0:
            raise ConfigError("Config keys 'tricks.vae.kl_weight' and 'tricks.vae.recon_weight' must be >= 0.")
        if t.vae.recon == "features" and t.pack:
            raise ConfigError(
                "tricks.vae.recon=features reads D's features per sample, which tricks.pack regroups; use recon=pixel."
            )
    if t.replay:
        probability("tricks.replay.p", t.replay.p)
        if t.replay.size < 1:
            raise ConfigError(f"Config key 'tricks.replay.size' must be a positive number, got {t.replay.size}.")
    for name in ("r1", "r2"):
        section = getattr(t, name)
        if section is not None and (section.gamma < 0 or section.every < 1):
            raise ConfigError(f"Config keys 'tricks.{name}.gamma' and '.every' must be >= 0 and >= 1, got "
                              f"{section.gamma} and {section.every}.")  # fmt: skip
    if t.gradient_penalty and t.gradient_penalty.weight < 0:
        raise ConfigError(f"Config key 'tricks.gradient_penalty.weight' must be >= 0, got {t.gradient_penalty.weight}.")
    if t.ema:
        if not t.ema.half_life > 0:
            raise ConfigError(f"Config key 'tricks.ema.half_life' must be a positive number of images, got {t.ema.half_life}.")
        if t.ema.rampup is not None and not t.ema.rampup > 0:
            raise ConfigError(f"Config key 'tricks.ema.rampup' must be positive or null, got {t.ema.rampup}.")
    if t.diffaugment:
        augment_policy(t.diffaugment.policy, "tricks.diffaugment.policy")
    if t.ada:
        augment_policy(t.ada.policy, "tricks.ada.policy")
        probability("tricks.ada.p", t.ada.p)
        if not -1.0 <= t.ada.target <= 1.0:
            raise ConfigError(f"Config key 'tricks.ada.target' is a target for E[sign(D(real))] and must be in [-1, 1], "
                              f"got {t.ada.target}.")  # fmt: skip
        if t.ada.interval < 1 or not t.ada.speed > 0:
            raise ConfigError("Config keys 'tricks.ada.interval' and 'tricks.ada.speed' must be positive numbers.")
        if t.diffaugment:
            raise ConfigError("tricks.ada and tricks.diffaugment both augment D's inputs (ADA adapts DiffAugment's "
                              "ops); switch one of them off.")  # fmt: skip
    if t.bcr:
        augment_policy(t.bcr.policy, "tricks.bcr.policy")
        if t.bcr.weight_real < 0 or t.bcr.weight_fake < 0:
            raise ConfigError("Config keys 'tricks.bcr.weight_real' and 'tricks.bcr.weight_fake' must be >= 0.")
    if t.lecam and (t.lecam.weight < 0 or not 0.0 <= t.lecam.decay < 1.0):
        raise ConfigError("Config keys 'tricks.lecam.weight' (>= 0) and 'tricks.lecam.decay' (in [0, 1)) are out of range.")


def auto_warmup(steps: int) -> int:
    """doctor.warmup when it is auto: a tenth of the run."""
    return steps // 10


def remedy_names(text: str) -> list[str]:
    """The remedies named by ``doctor.remedy`` ([] for auto); an unknown name is a ConfigError."""
    if text.strip() == "auto":
        return []
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in REMEDIES:
            raise ConfigError(f"Unknown doctor.remedy '{name}'; use auto or a comma-separated list of {', '.join(REMEDIES)}.")
    if not names:
        raise ConfigError("Config key 'doctor.remedy' is empty; use auto or a comma-separated list of remedies.")
    return names


def _validate_doctor(d: DoctorConfig) -> None:
    remedy_names(d.remedy)
    for key in ("window", "probe_every", "probe_n", "trend", "max_rollbacks"):
        if getattr(d, key) < (0 if key == "max_rollbacks" else 1):
            raise ConfigError(f"Config key 'doctor.{key}' must be a positive number, got {getattr(d, key)}.")
    if d.probe_n < 2:
        raise ConfigError(f"Config key 'doctor.probe_n' must be at least 2 (pairwise distances), got {d.probe_n}.")
    if d.warmup is not None and d.warmup < 0:
        raise ConfigError(f"Config key 'doctor.warmup' must be >= 0, got {d.warmup}.")
    for key in ("d_gap", "grad_limit", "fool_gap", "diversity_floor", "coverage_floor", "spike_factor", "swing_floor",
                "stall_tol", "recall_min_best"):  # fmt: skip
        value = getattr(d, key)
        if not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"Config key 'doctor.{key}' must be a positive number, got {value}.")
    if d.recall_floor is not None and not 0 < d.recall_floor < 1:
        raise ConfigError(f"Config key 'doctor.recall_floor' must be a fraction between 0 and 1, or null, got {d.recall_floor}.")
    for key in ("recall_fraction", "recall_drop"):
        value = getattr(d, key)
        if not 0 < value < 1:
            raise ConfigError(f"Config key 'doctor.{key}' must be a fraction between 0 and 1, got {value}.")
    if d.collapse_trend < 4:
        raise ConfigError(f"Config key 'doctor.collapse_trend' must be at least 4 probes (a trend), got {d.collapse_trend}.")


def replace(cfg: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` for nested keys: ``replace(cfg, **{'train.steps': 10})``."""
    nested: dict[str, dict[str, Any]] = {}
    flat: dict[str, Any] = {}
    for key, value in changes.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            flat[head] = value
    for head, sub in nested.items():
        flat[head] = replace(getattr(cfg, head), **sub)
    return dataclasses.replace(cfg, **flat)


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def without_image_only(cfg: RunConfig) -> RunConfig:
    """``cfg`` as 2D data trains it: its preset's image-only settings (``PRESET_IMAGE_ONLY``) back at
    their defaults. A setting at the preset's own value is taken as the preset's, not the user's."""
    if cfg.preset not in PRESET_IMAGE_ONLY:
        return cfg
    preset, default = from_dict(RunConfig, PRESETS[cfg.preset]), RunConfig()
    own = [k for k in PRESET_IMAGE_ONLY[cfg.preset] if operator.attrgetter(k)(cfg) == operator.attrgetter(k)(preset)]
    return replace(cfg, **{k: operator.attrgetter(k)(default) for k in own})


def resolve(cfg: RunConfig, *, kind: Literal["2d", "image"], size: int | None, channels: int | None) -> RunConfig:
    """Fill every auto (None) field from the data kind; the result has no auto left."""
    two_d = kind == "2d"
    if two_d:
        cfg = without_image_only(cfg)
    arch = cfg.model.arch
    if arch == "auto":
        arch = "mlp" if two_d else ("resnet" if size == 128 else "dcgan")
    mlp, resnet = arch == "mlp", arch == "resnet"
    default_d_act = {"mlp": "maxout", "resnet": "relu"}.get(arch, "leaky_relu")
    ch: dict[str, Any] = {
        "data.size": size,
        "data.channels": channels,
        "model.arch": arch,
        "model.z_dim": cfg.model.z_dim or (2 if two_d else 100),
        "model.g_norm": "batch" if cfg.model.g_norm == "auto" else cfg.model.g_norm,
        "model.d_norm": ("none" if mlp or resnet else "batch") if cfg.model.d_norm == "auto" else cfg.model.d_norm,
        "model.g_act": "relu" if cfg.model.g_act == "auto" else cfg.model.g_act,
        "model.d_act": default_d_act if cfg.model.d_act == "auto" else cfg.model.d_act,
        "train.batch_size": cfg.train.batch_size or (100 if two_d else 64),
        "train.sample_every": cfg.train.sample_every or max(1, math.ceil(cfg.train.steps / 10)),
        "checkpoint.every": cfg.checkpoint.every or max(1, math.ceil(cfg.train.steps / 4)),
        "doctor.warmup": cfg.doctor.warmup if cfg.doctor.warmup is not None else auto_warmup(cfg.train.steps),
    }
    for net in ("g", "d"):
        o: OptimConfig = getattr(cfg.optim, net)
        ch[f"optim.{net}.lr"] = o.lr if o.lr is not None else (1e-4 if two_d else 2e-4)
        ch[f"optim.{net}.betas"] = o.betas if o.betas is not None else ((0.8, 0.999) if two_d else (0.5, 0.999))
    for name in ("instance_noise", "g_noise"):
        noise = getattr(cfg.tricks, name)
        if noise is not None and noise.until is None:
            ch[f"tricks.{name}"] = dataclasses.replace(noise, until=max(1, cfg.train.steps // 2))
    out = replace(cfg, **ch)
    pack = out.tricks.pack
    if pack is not None and out.train.batch_size % pack.m:
        raise ConfigError(
            f"tricks.pack.m={pack.m} needs train.batch_size divisible by {pack.m}, got {out.train.batch_size}; change one of them."
        )
    for name in ("diffaugment", "ada", "bcr"):
        if two_d and getattr(out.tricks, name) is not None:
            raise ConfigError(f"tricks.{name} augments images; 2D data has none to augment, so switch it off.")
    if two_d and out.model.arch != "mlp":
        raise ConfigError("2D data needs model.arch=mlp; DCGAN is for images.")
    if not two_d and out.model.arch not in ("dcgan", "resnet"):
        raise ConfigError("Image data needs model.arch=dcgan or resnet; the MLP is for 2D point data.")
    if out.model.arch == "resnet" and (out.model.up, out.model.down) != ("convtranspose", "strided"):
        raise ConfigError("model.up and model.down choose DCGAN's resampling; the ResNet always upsamples by nearest "
                          "neighbour and downsamples by average pooling, so leave them at their defaults.")  # fmt: skip
    if out.model.arch == "mlp":
        if cfg.model.d_act not in ("auto", "maxout"):
            raise ConfigError("The 2D protocol's D uses maxout units, so model.d_act must stay auto (maxout).")
        if "instance" in (out.model.g_norm, out.model.d_norm):
            raise ConfigError(
                "Instance normalisation needs images; for 2D data use model.g_norm / model.d_norm batch, layer or none."
            )
        if (out.model.up, out.model.down) != ("convtranspose", "strided"):
            raise ConfigError("model.up and model.down choose DCGAN's resampling; they do not apply to the 2D MLPs.")
    elif out.model.d_act == "maxout":
        raise ConfigError(f"model.d_act=maxout is the 2D MLP's; for {out.model.arch} choose relu or leaky_relu.")
    return out
