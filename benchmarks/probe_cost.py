"""What the doctor's probe costs against the training it watches, at the defaults.

    .venv/bin/python benchmarks/probe_cost.py [--data ring8,grid25,digits,mnist5k] [--steps 30] [--probes 10] [--set KEY=VALUE]

For each data set it times the training step (benchmarks/throughput.py's trainer_ms_per_step) and one
probe call (the median of --probes calls on the trained G: fakes, diversity, 2D modes, weights, and
the k-NN precision / recall / coverage), then prints the probe's share of the time between two probes
(doctor.probe_every steps), measured side by side in one process. The feature space is built at the
first probe (the offline classifier loads from its cache, or trains once); that first call is
reported apart, as it is paid once per run.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import torch
from throughput import trainer_ms_per_step

from ganhacks.api import prepare
from ganhacks.config import build_config
from ganhacks.data import load_data
from ganhacks.training import Trainer


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="ring8,grid25,digits,mnist5k")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--probes", type=int, default=10)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override for every data set")
    args = p.parse_args()
    torch.set_num_threads(1)
    print("command: python " + " ".join(sys.argv))
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread")
    print("| data | feature space | ms/step | first probe ms | probe ms | probe_every | probe's share of training |")
    print("|---|---|---|---|---|---|---|")
    for name in args.data.split(","):
        cfg = build_config(preset="baseline", overrides=[f"data.name={name}", "train.steps=1000", *args.set])
        cfg, data = prepare(cfg, load_data(cfg.data))
        trainer = Trainer(cfg, data, quiet=True)
        step_ms = trainer_ms_per_step(trainer, args.steps)
        t0 = time.perf_counter()
        trainer.probe(trainer.G, trainer.D)
        first = (time.perf_counter() - t0) * 1000
        times = []
        for _ in range(args.probes):
            t0 = time.perf_counter()
            trainer.probe(trainer.G, trainer.D)
            times.append((time.perf_counter() - t0) * 1000)
        probe_ms, every = statistics.median(times), cfg.doctor.probe_every
        share = probe_ms / (probe_ms + every * step_ms)
        print(
            f"| {name} | {trainer.probe.feature_space} | {step_ms:.1f} | {first:.0f} | {probe_ms:.1f} | {every} | {share:.1%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
