"""A small CNN classifier trained on the labelled data: an offline feature space for image metrics.

Inception weights cannot be downloaded everywhere, so for labelled data sets (mnist5k, digits,
an npz with labels) ganhacks trains this classifier once, on a fixed 80/20 split, and uses its
penultimate layer as the feature space for FD, KID and PRDC, and its predictions for the class
metrics. The trained weights are cached under the user cache directory, keyed by a hash of the
data, and the held-out accuracy is stored beside them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganhacks.cache import cache_dir, cached_tensors, save_tensors
from ganhacks.fileio import atomic_write

log = logging.getLogger("ganhacks")

VERSION = "cnn-v2"  # part of the cache key: bump when the architecture or the training recipe changes
FEATURE_DIM = 128


def data_hash(x: torch.Tensor, y: torch.Tensor | None = None) -> str:
    """A short content hash of images (and labels, when given)."""
    h = hashlib.sha256()
    h.update(str(tuple(x.shape)).encode())
    h.update(x.detach().cpu().contiguous().float().numpy().tobytes())
    if y is not None:
        h.update(y.detach().cpu().contiguous().to(torch.int64).numpy().tobytes())
    return h.hexdigest()[:20]


class Classifier(nn.Module):
    """Two conv blocks (3x3 convs, ReLU, 2x2 max-pool), a 4x4 adaptive pool, a 128-d feature layer, a linear head."""

    def __init__(self, channels: int, num_classes: int, width: int = 16):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(4),
            nn.Flatten(),
            nn.Linear(2 * width * 16, FEATURE_DIM), nn.ReLU(),
        )  # fmt: skip
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features [N, 128] of images [N, C, H, W] in [-1, 1]."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


def split(n: int, seed: int = 0, held_out: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed (train, held-out) index split."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    k = int(round(n * held_out))
    return perm[k:], perm[:k]


def _shift(x: torch.Tensor, g: torch.Generator, max_shift: int) -> torch.Tensor:
    """Random translation by up to ``max_shift`` pixels (per batch), padding with the background -1."""
    if max_shift == 0:
        return x
    dx, dy = (int(v) for v in torch.randint(-max_shift, max_shift + 1, (2,), generator=g))
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    h, w = x.shape[-2:]
    return padded[..., max_shift + dy : max_shift + dy + h, max_shift + dx : max_shift + dx + w]


@torch.no_grad()
def predict(model: Classifier, x: torch.Tensor, batch: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(features [N, 128], predicted labels [N]) in eval mode."""
    model.eval()
    feats, labels = [], []
    for chunk in x.split(batch):
        f = model.features(chunk)
        feats.append(f)
        labels.append(model.head(f).argmax(1))
    return torch.cat(feats), torch.cat(labels)


def train_classifier(x: torch.Tensor, y: torch.Tensor, epochs: int | None = None, seed: int = 0) -> tuple[Classifier, float]:
    """Train on the fixed 80 % split; return the model and its held-out accuracy."""
    # On a forked RNG: training it mid-run (at the first evaluation) must not reseed the run's global
    # RNG, or a run's random draws would depend on whether the classifier was already in the cache.
    with torch.random.fork_rng(devices=[]):
        return _train_classifier(x, y, epochs, seed)


def _train_classifier(x: torch.Tensor, y: torch.Tensor, epochs: int | None, seed: int) -> tuple[Classifier, float]:
    num_classes = int(y.max()) + 1
    train_idx, test_idx = split(len(x), seed)
    torch.manual_seed(seed)
    model = Classifier(x.shape[1], num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    steps_per_epoch = max(1, len(train_idx) // 128)
    # About 500 updates in all: enough for small labelled sets, still a few epochs on large ones.
    epochs = epochs or max(3, min(40, 500 // steps_per_epoch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=epochs * steps_per_epoch)
    max_shift = x.shape[-1] // 14  # 2 px at 28x28; none at 8x8, where a pixel is an eighth of the digit
    for _ in range(epochs):
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=g)]
        for i in range(steps_per_epoch):
            idx = order[i * 128 : (i + 1) * 128]
            loss = F.cross_entropy(model(_shift(x[idx], g, max_shift)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    _, pred = predict(model, x[test_idx])
    return model, float((pred == y[test_idx]).float().mean())


def load_or_train(x: torch.Tensor, y: torch.Tensor, quiet: bool = False) -> tuple[Classifier, dict[str, Any]]:
    """The cached classifier for this data, trained (and cached) the first time it is asked for."""
    from safetensors.torch import load_file

    key = f"{VERSION}-{data_hash(x, y)}"
    folder = cache_dir() / "classifiers"
    weights, meta_path = folder / f"{key}.safetensors", folder / f"{key}.json"
    num_classes = int(y.max()) + 1
    if weights.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            meta["key"] = key
            model = Classifier(x.shape[1], meta["num_classes"])
            model.load_state_dict(load_file(str(weights)))
            return model.eval(), meta
        except Exception as e:  # noqa: BLE001 - a damaged cache entry is retrained, not fatal
            log.warning("retraining the feature classifier: cached copy %s could not be read (%s)", weights, e)
    if not quiet:
        log.info("training the feature classifier on %d labelled images (once; cached in %s)", len(x), folder)
    model, acc = train_classifier(x, y)
    meta = {"version": VERSION, "num_classes": num_classes, "held_out_accuracy": acc, "n": len(x), "shape": list(x.shape[1:])}
    save_tensors(weights, model.state_dict())
    atomic_write(meta_path, json.dumps(meta, indent=2).encode())  # written last: its presence marks a complete entry
    if not quiet:
        log.info("feature classifier held-out accuracy: %.2f%%", 100 * acc)
    return model.eval(), {**meta, "key": key}


def real_features(model: Classifier, meta: dict[str, Any], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, predicted labels) of the real data the classifier was trained on, computed once and cached."""

    def compute() -> dict[str, torch.Tensor]:
        feats, labels = predict(model, x)
        return {"features": feats, "labels": labels}

    path = cache_dir() / "classifiers" / f"{meta['key']}.real.safetensors"
    cached = cached_tensors(path, compute, "real-data features", valid=lambda t: len(t["features"]) == len(x))
    return cached["features"], cached["labels"]
