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
from ganhacks.metrics.distribution import frechet_distance, kid, kl_to_uniform, prdc
from ganhacks.metrics.toy import mode_metrics

log = logging.getLogger("ganhacks")

EVAL_SEED = 20_000_001  # the fixed z of every evaluation, apart from the sample-grid z
TOY_SAMPLES = 2500  # the PacGAN protocol's evaluation size
DEFAULT_IMAGE_SAMPLES = 5000
STACKED_SAMPLES = 26_000  # the Stacked MNIST protocol's sample count

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
        """The offline classifier: trained on the data's labels, or on mnist5k digits for Stacked MNIST."""
        from ganhacks.metrics.classifier import load_or_train

        if self._classifier is None:
            labelled = self.data
            if self.data.name == "stacked-mnist":  # its channels are mnist5k digits
                from ganhacks.config import DataConfig
                from ganhacks.data import load_data

                labelled = load_data(DataConfig(name="mnist5k"))
            self._classifier = load_or_train(labelled.x, labelled.y, quiet=self.quiet)
        return self._classifier

    def real_classifier_features(self) -> tuple[torch.Tensor, torch.Tensor]:
        from ganhacks.metrics.classifier import real_features

        if "clf" not in self._real:
            model, meta = self.classifier()
            self._real["clf"], self._real["clf_pred"] = real_features(model, meta, self.data.x)
        return self._real["clf"], self._real["clf_pred"]

    # ------------------------------------------------------------------ evaluation

    def __call__(self, sample: SampleFn, n: int | None = None) -> dict[str, Any]:
        """Every metric that applies to this data, from ``n`` generated samples."""
        if self.data.kind == "2d":
            n = n or TOY_SAMPLES
            points = sample(n, EVAL_SEED)
            return {"n": n, "feature_extractor": "none (2D points)", **mode_metrics(points, self.data.modes, self.data.mode_std)}
        if self.data.name == "stacked-mnist":
            return self._stacked(sample, n or STACKED_SAMPLES)
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
        elif extractors:
            if not self.quiet:
                log.info(
                    "Inception metrics skipped: no FID weights given (--inception-weights PATH or "
                    "GANHACKS_INCEPTION_WEIGHTS), so the image metrics use the offline classifier's features only."
                )
        else:
            log.warning(
                "no image metrics: the data has no labels to train the offline classifier on, and no Inception "
                "weights were given (--inception-weights PATH or GANHACKS_INCEPTION_WEIGHTS)"
            )
        out["feature_extractor"] = "+".join(extractors) or "none"
        return out

    def _stacked(self, sample: SampleFn, n: int) -> dict[str, Any]:
        """Stacked MNIST: classify each channel with the mnist5k classifier; count the 1,000 modes."""
        from ganhacks.data.stacked import NUM_MODES, stack_modes
        from ganhacks.metrics.classifier import predict

        model, meta = self.classifier()
        fake = sample(n, EVAL_SEED)  # [n, 3, 28, 28]
        _, digits = predict(model, fake.reshape(n * 3, 1, *fake.shape[-2:]))
        counts = torch.bincount(stack_modes(digits.view(n, 3)), minlength=NUM_MODES)
        return {
            "n": n,
            "feature_extractor": f"classifier:{meta['version']} (mnist5k, per channel)",
            "modes": int((counts > 0).sum()),
            "kl": kl_to_uniform(counts),
            "classifier_accuracy": meta["held_out_accuracy"],
        }

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

    def _cached_real_inception(self) -> torch.Tensor:
        """Inception features of the real data, cached on disk per (data, weights file)."""
        import hashlib

        from ganhacks.cache import cache_dir, cached_tensors
        from ganhacks.metrics.classifier import data_hash
        from ganhacks.metrics.inception import inception_features

        weights = Path(self.inception_weights).expanduser().resolve()
        stat = weights.stat()
        tag = hashlib.sha256(f"{weights}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
        path = cache_dir() / "inception" / f"{data_hash(self.data.x)}-{tag}.safetensors"
        compute = lambda: {"features": inception_features(self.data.x, self.inception_weights)}  # noqa: E731
        return cached_tensors(path, compute, "real Inception features")["features"]

    def _inception_metrics(self, fake: torch.Tensor) -> dict[str, Any]:
        from ganhacks.metrics.inception import inception_features

        if "inception" not in self._real:
            self._real["inception"] = self._cached_real_inception()
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

    from ganhacks.fileio import atomic_write

    path = Path(run_path) / "eval.json"
    atomic_write(path, (json.dumps(result, indent=2) + "\n").encode())
    return path
