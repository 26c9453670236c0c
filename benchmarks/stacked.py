"""Stacked runs against the single-run loop, measured side by side in one process.

Usage:  .venv/bin/python benchmarks/stacked.py [--device cpu|cuda] [--models grid25,mnist5k,stacked-mnist]
                                              [--ks 1,2,4,8] [--steps 10] [--threads 1]
                                              [--layouts per-run,batched,batched+graph]

For each model (the grid25 PacGAN MLP, the mnist5k DCGAN, the Stacked MNIST D = 1/4 G DCGAN) it prints:

- the single-run loop's steps per second (``Trainer.train_step``, as ``ganhacks train`` runs it);
- for each stack size K, run-steps per second (K runs x steps per second) of the stacked step, in the
  per-run layout (each run's own networks, the CPU default) and the batched one (bmm / grouped convolutions,
  the GPU default), and the ratio to the single-run loop; on CUDA, also the batched stack replayed as one
  CUDA graph a step (``batched+graph``: ``train.cuda_graph=true``);
- the fraction of a GEMM peak measured in the same run (a 1024^2 fp32 matmul on this device), from
  the step's FLOPs counted by torch's FlopCounterMode.

Every number is the median of 3 timed blocks after a warm-up; a block ends by reading the statistics
back, as a logging step does, so queued GPU work is counted. On the CPU, the best single-run layout
is one process per core, each on one thread: run with ``--threads 1`` and compare per core.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from ganhacks.api import prepare
from ganhacks.config import build_config
from ganhacks.errors import ConfigError
from ganhacks.monitor.stats import Collector, StackCollector, collecting
from ganhacks.training import Trainer
from ganhacks.training.stacked import StackTrainer, build_stack

STACKED_SET = ["model.ngf=16", "model.ndf=2", "train.batch_size=128"]  # PacGAN Table 3, D = 1/4 G
MODELS = {
    "grid25": ["data.name=grid25"],
    "mnist5k": ["data.name=mnist5k"],
    "stacked-mnist": ["data.name=stacked-mnist", *STACKED_SET],
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_peak(device: torch.device, n: int = 1024) -> float:
    """GFLOP/s of an n x n fp32 matmul on ``device`` (the median of 5 timed blocks)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    reps = 200 if device.type == "cuda" else 10
    for _ in range(3):
        a @ b
    times = []
    for _ in range(5):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        times.append((time.perf_counter() - t0) / reps)
    return 2 * n**3 / statistics.median(times) / 1e9


def configs(model: str, k: int, device: str, extra: tuple[str, ...] = ()) -> tuple[list, object]:
    cfgs, data = [], None
    for seed in range(k):
        overrides = [*MODELS[model], f"train.seed={seed}", f"train.device={device}", *extra]
        cfg, data = prepare(build_config(overrides=overrides), data)
        cfgs.append(cfg)
    return cfgs, data


def timed(step, device: torch.device, steps: int, collector, warmup: int = 3) -> float:
    """Seconds per call of ``step`` (median of 3 blocks of ``steps`` after ``warmup`` warm-up calls)."""
    with collecting(collector):
        for _ in range(warmup):
            step()
        blocks = []
        for _ in range(3):
            sync(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            drain(collector)
            sync(device)
            blocks.append((time.perf_counter() - t0) / steps)
    return statistics.median(blocks)


def drain(collector) -> None:
    # A stack's collector is a Collector too, so ask for the stack first: a stack of 1 is still a stack.
    if isinstance(collector, StackCollector):
        collector.drain_into([Collector() for _ in range(collector.runs)])
    else:
        collector.collect()


def step_flops(trainer: Trainer) -> float:
    """FLOPs of one single-run step (forward and backward), counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with collecting(trainer.collector), counter:
        trainer.train_step()
    return float(counter.get_total_flops())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--models", default="grid25,mnist5k,stacked-mnist")
    p.add_argument("--ks", default=None, help="stack sizes (default: 1,2,4,8 on the CPU, 1,4,16,64,128 on CUDA)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--layouts", default="per-run,batched",
        help="which stack layouts to measure (default both); batched+graph: the batched stack replayed as a CUDA "
        "graph (train.cuda_graph=true, CUDA only)",
    )  # fmt: skip
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # the fp32 numbers: the stack's math, not TF32's
        torch.backends.cudnn.allow_tf32 = False
    ks = [int(k) for k in (args.ks or ("1,4,16,64,128" if device.type == "cuda" else "1,2,4,8")).split(",")]
    from ganhacks.bench.ablate import machine_description

    print("command: python " + " ".join(sys.argv))
    print(f"machine: {machine_description()}; threads {torch.get_num_threads()}; device {device}")
    peak = gemm_peak(device)
    print(f"1024^2 fp32 GEMM peak: {peak:.1f} GFLOP/s")
    for model in args.models.split(","):
        cfgs, data = configs(model, 1, args.device)
        single = Trainer(cfgs[0], data)
        flops = step_flops(single)
        sec = timed(single.train_step, device, args.steps, single.collector)
        base = 1 / sec
        print(f"\n{model}: {flops / 1e9:.3f} GFLOP per run-step")
        print(f"{'layout':<16} {'K':>4} {'run-steps/s':>12} {'vs single':>10} {'of peak':>8}")
        print(f"{'single loop':<16} {1:>4} {base:>12.1f} {1.0:>10.2f} {flops * base / 1e9 / peak:>8.1%}")
        for name in args.layouts.split(","):
            batched, graph = name.startswith("batched"), name.endswith("+graph")
            name = {"per-run": "per run"}.get(name, name)
            for k in ks:
                cfgs, data = configs(model, k, args.device, ("train.cuda_graph=true",) if graph else ())
                try:
                    stack = StackTrainer(build_stack(cfgs, data), batched=batched)
                except torch.OutOfMemoryError:
                    print(f"{name:<16} {k:>4} {'out of memory':>12}")
                    break
                except ConfigError as e:  # a graph on the CPU
                    print(f"{name:<16} {k:>4} {'-':>12}  {e}")
                    break

                def step(stack=stack):
                    stack.engine()
                    for t in stack.trainers:
                        t.step += 1

                # A graphed step runs 3 eager steps, then captures: time its replays only.
                rate = k / timed(step, device, args.steps, stack.collector, warmup=5 if graph else 3)
                print(f"{name:<16} {k:>4} {rate:>12.1f} {rate / base:>10.2f} {flops * rate / 1e9 / peak:>8.1%}")
                del stack
                if device.type == "cuda":
                    torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
