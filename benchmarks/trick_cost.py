"""What each stabiliser costs per training step, measured side by side in one process.

Usage:  .venv/bin/python benchmarks/trick_cost.py [--steps 10] [--threads 1] [--data mnist5k,grid25]
        [--settings tricks.r1=on,tricks.bcr=on]

For each data set's default model, prints ms per step (the median of 3 timed blocks after 3 warm-up
steps) with no trick and with each trick or setting alone, and the ratio to no trick. Settings that
do not apply to a data set (augmentation on 2D points) are skipped. docs/tricks.md records the output.
"""

from __future__ import annotations

import argparse
import platform
import sys

import torch
from throughput import trainer_ms_per_step  # benchmarks/: same timing as throughput.py

from ganhacks.api import prepare
from ganhacks.config import build_config
from ganhacks.training import Trainer

SETTINGS = (
    "loss=hinge",
    "loss=wasserstein+tricks.gradient_penalty=on",
    "loss=least_squares",
    "loss=relativistic",
    "tricks.r1=on",
    "tricks.r1.every=16",
    "tricks.r2=on",
    "tricks.spectral_norm=on",
    "tricks.ema=on",
    "tricks.diffaugment=on",
    "tricks.ada=on",
    "tricks.lecam=on",
    "tricks.bcr=on",
)
IMAGE_ONLY = ("tricks.diffaugment", "tricks.ada", "tricks.bcr")


def ms_per_step(data: str, setting: str | None, steps: int) -> float:
    overrides = [f"data.name={data}", *(setting.split("+") if setting else [])]
    cfg, ds = prepare(build_config(overrides=overrides))
    return trainer_ms_per_step(Trainer(cfg, ds), steps)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", default="mnist5k,grid25")
    p.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated; '+' joins the keys of one")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print("command:", "python " + " ".join(sys.argv))
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    for data in args.data.split(","):
        base = ms_per_step(data, None, args.steps)
        print(f"\n{data}: no trick {base:.1f} ms/step")
        print(f"{'setting':<46} {'ms/step':>8} {'ratio':>6}")
        for setting in args.settings.split(","):
            if data in ("ring8", "grid25") and setting.startswith(IMAGE_ONLY):
                continue
            ms = ms_per_step(data, setting, args.steps)
            print(f"{setting:<46} {ms:>8.1f} {ms / base:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
