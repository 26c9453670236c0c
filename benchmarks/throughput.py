"""Training throughput per data set, fp32 vs bf16 autocast, measured side by side in one run.

Usage:  .venv/bin/python benchmarks/throughput.py [--steps 30] [--data ring8,digits,mnist5k]

Prints ms per training step (median of 3 timed blocks after warm-up) for each data set's default
model, and the bf16/fp32 ratio. bf16 pays off on CPUs with AMX / AVX-512 bf16 and on GPUs; on
CPUs without them autocast adds casts and runs slower.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import torch

from ganhacks.api import prepare
from ganhacks.config import build_config
from ganhacks.monitor.stats import collecting
from ganhacks.training import Trainer


def ms_per_step(name: str, precision: str, steps: int) -> float:
    cfg, data = prepare(build_config(overrides=[f"data.name={name}", f"train.precision={precision}"]))
    return trainer_ms_per_step(Trainer(cfg, data), steps)


def trainer_ms_per_step(trainer: Trainer, steps: int) -> float:
    """Median ms per ``trainer.train_step()`` over 3 blocks of ``steps``, after 3 warm-up steps."""
    with collecting(trainer.collector):
        for _ in range(3):
            trainer.train_step()
        blocks = []
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(steps):
                trainer.train_step()
            trainer.collector.collect()  # forces the device to finish, as a logging step does
            blocks.append((time.perf_counter() - t0) / steps * 1000)
    return statistics.median(blocks)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--data", default="ring8,digits,mnist5k")
    args = p.parse_args()
    print("command:", "python " + " ".join(sys.argv))
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{'data':<10} {'fp32 ms/step':>13} {'bf16 ms/step':>13} {'bf16/fp32':>10}")
    for name in args.data.split(","):
        fp32 = ms_per_step(name, "fp32", args.steps)
        bf16 = ms_per_step(name, "bf16", args.steps)
        print(f"{name:<10} {fp32:>13.1f} {bf16:>13.1f} {bf16 / fp32:>10.2f}")


if __name__ == "__main__":
    main()
