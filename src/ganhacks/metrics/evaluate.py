"""Evaluate a generator against its data set: the code behind ``ganhacks eval`` and ``eval.every``.

2D mixtures get the PacGAN mode metrics (``modes``, ``hq``, ``kl``) from 2,500 samples of a fixed z.
Labelled image data gets FD, KID, precision/recall/density/coverage in the feature space of a
classifier trained on that data, plus ``class_modes`` and ``class_kl`` from its predictions.
Given InceptionV3 FID weights, image data also gets ``fd_inception``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ganhacks.data import Dataset
from ganhacks.metrics.distribution import frechet_distance, kid, prdc
from ganhacks.metrics.toy import mode_metrics

log = logging.getLogger("ganhacks")

EVAL_SEED = 20_000_001  # the fixed z of every evaluation, apart from the sample-grid z
TOY_SAMPLES = 2500  # the PacGAN protocol's evaluation size
DEFAULT_IMAGE_SAMPLES = 5000

SampleFn = Callable[[int, int], torch.Tensor]  # (n, seed) -> n samples in data coordinates, on the CPU


def class_kl(fake_labels: torch.Tensor, real_labels: torch.Tensor, num_classes: int) -> float:
    """KL(p_fake ‖ p_real) of class histograms, over the classes the fakes hit (inf if the real data lacks one)."""
    p = torch.bincount(fake_labels.cpu(), minlength=num_classes).double()
    q = torch.bincount(real_labels.cpu(), minlength=num_classes).double()
    p, q = p / p.sum(), q / q.sum()
    hit = p > 0
    if (q[hit] == 0).any():
        return math.inf
    return float((p[hit] * (p[hit] / q[hit]).log()).sum())


class Evaluator:
    """Holds the feature extractors and real-data statistics for one data set, built once and reused."""

    def __init__(self, data: Dataset, inception_weights: str | Path | None = None, quiet: bool = True):
        self.data = data
        self.quiet = quiet
        self._classifier: Any = None
        self._real: dict[str, torch.Tensor] = {}
        self.inception_weights = inception_weights or os.environ.get("GANHACKS_INCEPTION_WEIGHTS") or None

    # ------------------------------------------------------------------ feature spaces

    def classifier(self) -> tuple[Any, dict[str, Any]]:
        from ganhacks.metrics.classifier import load_or_train

        if self._classifier is None:
            self._classifier = load_or_train(self.data.x, self.data.y, quiet=self.quiet)
        return self._classifier

    def real_classifier_features(self) -> tuple[torch.Tensor, torch.Tensor]:
        from ganhacks.metrics.classifier import predict

        if "clf" not in self._real:
            model, _ = self.classifier()
            self._real["clf"], self._real["clf_pred"] = predict(model, self.data.x)
        return self._real["clf"], self._real["clf_pred"]

    # ------------------------------------------------------------------ evaluation

    def __call__(self, sample: SampleFn, n: int | None = None) -> dict[str, Any]:
        """Every metric that applies to this data, from ``n`` generated samples."""
        if self.data.kind == "2d":
            n = n or TOY_SAMPLES
            points = sample(n, EVAL_SEED)
            return {"n": n, "feature_extractor": "none (2D points)", **mode_metrics(points, self.data.modes, self.data.mode_std)}
        n = n or min(DEFAULT_IMAGE_SAMPLES, max(len(self.data), 1000))
        fake = sample(n, EVAL_SEED)
        out: dict[str, Any] = {"n": n, "n_real": len(self.data)}
        extractors = []
        if self.data.y is not None:
            out.update(self._classifier_metrics(fake))
            extractors.append(f"classifier:{self.classifier()[1]['version']}")
        if self.inception_weights:
            out.update(self._inception_metrics(fake))
            extractors.append("inception-v3-fid")
        else:
            log.info(
                "Inception metrics skipped: no FID weights given (--inception-weights PATH or "
                "GANHACKS_INCEPTION_WEIGHTS), so the image metrics use the offline classifier's features only."
            )
        if not extractors:
            log.warning("no feature space for image metrics: the data has no labels to train the offline classifier on")
        out["feature_extractor"] = "+".join(extractors) or "none"
        return out

    def _classifier_metrics(self, fake: torch.Tensor) -> dict[str, Any]:
        from ganhacks.metrics.classifier import predict

        model, meta = self.classifier()
        real_f, _ = self.real_classifier_features()
        fake_f, fake_pred = predict(model, fake)
        kid_mean, kid_std = kid(real_f, fake_f)
        k = meta["num_classes"]
        return {
            "fd": frechet_distance(real_f, fake_f),
            "kid": kid_mean,
            "kid_std": kid_std,
            **prdc(real_f, fake_f, k=5),
            "class_modes": int((torch.bincount(fake_pred, minlength=k) > 0).sum()),
            "class_kl": class_kl(fake_pred, self.data.y, k),
            "classifier_accuracy": meta["held_out_accuracy"],
        }

    def _inception_metrics(self, fake: torch.Tensor) -> dict[str, Any]:
        from ganhacks.metrics.inception import inception_features

        if "inception" not in self._real:
            self._real["inception"] = inception_features(self.data.x, self.inception_weights)
        fake_f = inception_features(fake, self.inception_weights)
        kid_mean, kid_std = kid(self._real["inception"], fake_f)
        return {
            "fd_inception": frechet_distance(self._real["inception"], fake_f),
            "kid_inception": kid_mean,
            "kid_inception_std": kid_std,
        }


def write_eval(run_path: str | Path, result: dict[str, Any]) -> Path:
    """Write ``eval.json`` into a run directory atomically."""
    import json

    from ganhacks.training.checkpoint import atomic_write

    path = Path(run_path) / "eval.json"
    atomic_write(path, (json.dumps(result, indent=2) + "\n").encode())
    return path
