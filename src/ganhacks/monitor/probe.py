"""The doctor's probe: a few numbers about G and D that the per-step statistics cannot show.

Every ``doctor.probe_every`` steps the loop draws a fixed batch of fakes and measures how varied it is
against the same number of real samples, how many 2D modes it covers, whether every weight is still
finite, and how far G's weights moved since the last probe. The numbers go into that step's
``metrics.jsonl`` row as ``doctor/*`` keys, so the doctor can be replayed from the files alone.

It also measures the fakes' precision, recall and coverage (k-NN manifolds, as in PRDC) against a
fixed real sample, so that a slow loss of variety shows while training runs, with no labels and no
download. The feature space: the 2D points themselves; the offline classifier's features for image
data with labels (the one the evaluation uses); and for images without labels (``folder:`` data,
Stacked MNIST) a fixed, untrained convolutional embedding. D's own features were the other choice;
they move as D trains, so a recall measured in them would change when G has not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganhacks.data import Dataset
from ganhacks.metrics.toy import hq_mode_counts
from ganhacks.sampling import generate, latents

PROBE_SEED = 0xD0C
MODE_SHARE = 0.02  # of the probe's fakes, for a 2D mode to count as covered
FEATURE_SIDE = 16  # images are average-pooled to at most 16x16 before distances: cheap, and blind to pixel noise
PRDC_K = 5  # neighbours that set each k-NN ball, as in Naeem et al. 2020
EMBED_WIDTH = 32  # channels of the random embedding's first layer (doubled at each of its three layers)


def _features(x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 4 and x.shape[-1] > FEATURE_SIDE:
        x = F.adaptive_avg_pool2d(x, FEATURE_SIDE)
    return x.flatten(1).double()


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean L2 distance over all pairs of rows of ``x`` (images pooled to 16x16 first)."""
    return float(torch.pdist(_features(x)).mean())


def random_embedding(channels: int, seed: int = PROBE_SEED) -> nn.Module:
    """A fixed, untrained conv net: three stride-2 3x3 convs (LeakyReLU), then the mean and the max of
    each channel over the image ([N, 2 * 4 * EMBED_WIDTH] features). Seeded, so every run of every
    data set with these channels measures in the same space. Random convolutions still respond to
    local structure (strokes, edges, textures), which is what k-NN recall needs, and cost little."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        w = EMBED_WIDTH
        net = nn.Sequential(
            nn.Conv2d(channels, w, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        )  # fmt: skip
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


def _embed_with(net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    @torch.no_grad()
    def embed(x: torch.Tensor) -> torch.Tensor:
        h = net(x.float())
        return torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)

    return embed


def feature_space(data: Dataset) -> tuple[str, Callable[[torch.Tensor], torch.Tensor]]:
    """(its name, the function) of the probe's feature space for ``data``; see the module docstring."""
    if data.kind == "2d":
        return "points", lambda x: data.to_data_space(x).double()
    if data.y is not None and data.name != "stacked-mnist":  # Stacked MNIST's labels are its 1,000 modes, not classes
        from ganhacks.metrics.classifier import load_or_train

        model, _ = load_or_train(data.x, data.y, quiet=True)

        @torch.no_grad()
        def classify(x: torch.Tensor) -> torch.Tensor:
            return model.features(x.float())

        return "classifier", classify
    return "random_conv", _embed_with(random_embedding(data.x.shape[1]))


def weights_finite(*modules: nn.Module) -> bool:
    """True when no parameter of ``modules`` holds a NaN or Inf."""
    return all(bool(torch.isfinite(p).all()) for m in modules for p in m.parameters())


def _flat(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().float().cpu() for p in module.parameters()])


class Probe:
    """Measures a fixed batch of fakes against a fixed batch of real data; see the module docstring."""

    def __init__(self, data: Dataset, z_dim: int, latent: str, n: int = 256):
        n = min(n, len(data))
        self.data = data
        self.z = latents(n, z_dim, PROBE_SEED, latent)
        idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(PROBE_SEED))[:n]
        self.real = data.x[idx].cpu()
        self.real_diversity = mean_pairwise_distance(self.real)
        self._last_g: torch.Tensor | None = None
        # Built at the first probe: the classifier may have to be trained (once; it is cached), and a
        # run that never probes should not pay for it.
        self._embed: Callable[[torch.Tensor], torch.Tensor] | None = None
        self._real_features: torch.Tensor | None = None
        self.feature_space = ""

    def manifold(self, fake: torch.Tensor) -> dict[str, float]:
        """Precision, recall and coverage of ``fake`` (model space) against the probe's real sample."""
        from ganhacks.metrics.distribution import prdc

        if self._embed is None:
            self.feature_space, self._embed = feature_space(self.data)
            self._real_features = self._embed(self.real)
        if min(len(fake), len(self.real)) <= PRDC_K:
            return {}
        m = prdc(self._real_features, self._embed(fake.cpu()), k=PRDC_K)
        return {"doctor/precision": m["precision"], "doctor/recall": m["recall"], "doctor/coverage": m["coverage"]}

    def __call__(self, G: nn.Module, D: nn.Module) -> dict[str, float]:
        finite = weights_finite(G, D)
        out: dict[str, float] = {"doctor/finite": float(finite)}
        g = _flat(G)
        if self._last_g is not None and self._last_g.shape == g.shape:
            out["doctor/g_change"] = float((g - self._last_g).norm() / (self._last_g.norm() + 1e-12))
        self._last_g = g
        if not finite:
            return out
        fake = generate(G, self.z)
        if not torch.isfinite(fake).all():
            out["doctor/finite"] = 0.0
            return out
        out["doctor/diversity"] = mean_pairwise_distance(fake) / max(self.real_diversity, 1e-12)
        out.update(self.manifold(fake))
        if self.data.kind == "2d":
            counts, n_hq = hq_mode_counts(self.data.to_data_space(fake), self.data.modes, self.data.mode_std)
            # A mode counts when it holds a real share of the probe (not the 1-2 stray high-quality
            # samples that an untrained G scatters), so early training does not look like coverage.
            out["doctor/modes"] = float((counts >= max(2, MODE_SHARE * len(fake))).sum())
            out["doctor/hq"] = n_hq / len(fake)
        return out

    def state_dict(self) -> dict[str, Any]:
        """G's weights at the last probe (the next weight change is measured from them)."""
        return {"last_g": self._last_g}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._last_g = state.get("last_g")

    def reset(self) -> None:
        """Forget the last weights (after a rollback the weight change would span the jump)."""
        self._last_g = None
