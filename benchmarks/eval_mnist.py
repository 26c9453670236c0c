"""Evaluation on mnist5k: classifier accuracy and training time, `ganhacks eval` wall time, and
the real-vs-real baseline (two disjoint random halves of the real data).

Usage:  .venv/bin/python benchmarks/eval_mnist.py [--run RUN_DIR] [--steps 300]

Without --run it trains a short mnist5k run first. The classifier cache goes to a fresh folder,
so the first timing includes training the classifier and the second uses the cache.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import torch


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--run")
    p.add_argument("--steps", type=int, default=300)
    args = p.parse_args()
    print("command:", "python " + " ".join(sys.argv))
    os.environ["GANHACKS_CACHE"] = tempfile.mkdtemp(prefix="ganhacks-cache-")
    exe = [sys.executable, "-m", "ganhacks"]
    run = args.run
    if run is None:
        out = tempfile.mkdtemp(prefix="ganhacks-runs-")
        res = subprocess.run(
            [*exe, "train", "--data", "mnist5k", "--steps", str(args.steps), "--quiet", "--out", out],
            capture_output=True,
            text=True,
            check=True,
        )
        run = res.stdout.strip().splitlines()[-1]
    for label in ("first (trains the classifier)", "second (cached classifier)"):
        t0 = time.perf_counter()
        subprocess.run([*exe, "eval", run, "--n", "5000"], capture_output=True, text=True, check=True)
        print(f"ganhacks eval {run} --n 5000, {label}: {time.perf_counter() - t0:.1f} s")

    from ganhacks.config import DataConfig
    from ganhacks.data import load_data
    from ganhacks.metrics import frechet_distance, kid, prdc
    from ganhacks.metrics.classifier import load_or_train, predict

    data = load_data(DataConfig(name="mnist5k"))
    model, meta = load_or_train(data.x, data.y)
    print(f"classifier held-out accuracy: {100 * meta['held_out_accuracy']:.2f}%")
    feats, pred = predict(model, data.x)
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    a, b = perm[:2500], perm[2500:]
    km, ks = kid(feats[a], feats[b])
    pr = prdc(feats[a], feats[b])
    print(
        f"real half vs disjoint real half: fd {frechet_distance(feats[a], feats[b]):.3f}, kid {km:.3f} ± {ks:.3f}, "
        f"class_modes {int(torch.bincount(pred[b], minlength=10).gt(0).sum())}, "
        + ", ".join(f"{k} {v:.3f}" for k, v in pr.items())
    )


if __name__ == "__main__":
    main()
