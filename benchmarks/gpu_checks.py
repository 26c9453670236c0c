"""Checks of stacked runs that need a GPU (benchmarks/device.sh runs them; they print, never assert).

Usage:  python3 benchmarks/gpu_checks.py [--runs 8] [--steps 200]

1. No host sync: a stacked step under ``torch.cuda.set_sync_debug_mode("error")`` (the first steps of
   an epoch, which copy the new data order to the device, are left out).
2. Batched vs single on the GPU: the largest relative difference of the logged losses and D outputs
   between each run of a batched stack and its single run, over ``--steps`` steps.
3. TF32 vs fp32 on one arm: the same stack with TF32 matmuls and convolutions, and the 2D metrics
   (modes, high-quality share, KL) of each after ``--steps`` steps.
4. The step as a CUDA graph (``train.cuda_graph=true``): the same batched stack with and without the
   graph, for the baseline and for PacGAN2 (``tricks.pack``, batch 200): the largest difference of
   the logged rows (the graph replays the same kernels on the same data and draws, so it should be
   0), whether the final weights are equal, and each one's seconds.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from ganhacks.api import prepare
from ganhacks.config import build_config
from ganhacks.monitor.stats import collecting
from ganhacks.training import RunDir, Trainer
from ganhacks.training.stacked import StackTrainer, build_stack

KEYS = ("loss_d", "loss_g", "d_real", "d_fake")


DEVICE = "cuda"


def configs(k: int, steps: int, extra: tuple[str, ...] = ()) -> tuple[list, object]:
    cfgs, data = [], None
    for seed in range(k):
        overrides = ["data.name=grid25", f"train.steps={steps}", f"train.device={DEVICE}", f"train.seed={seed}", *extra]
        cfg, data = prepare(build_config(overrides=overrides), data)
        cfgs.append(cfg)
    return cfgs, data


def stacked(cfgs, data, root: Path, batched: bool = True) -> list[Trainer]:
    trainers = build_stack(cfgs, data)
    for t in trainers:
        t.run = RunDir(root / f"seed{t.cfg.train.seed}")
        t.run.path.mkdir(parents=True)
    StackTrainer(trainers, batched=batched).fit()
    return trainers


def no_sync(k: int) -> None:
    cfgs, data = configs(k, 100)
    stack = StackTrainer(build_stack(cfgs, data), batched=True)

    def step() -> None:
        stack.engine()
        for t in stack.trainers:
            t.step += 1

    with collecting(stack.collector):
        for _ in range(3):  # the first draw of an epoch copies its order to the device
            step()
        if DEVICE == "cpu":
            print("1. skipped on the CPU (no host sync to find)")
            return
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(5):
                step()
            print(f"1. no host sync in 5 stacked steps of {k} runs: ok")
        except RuntimeError as e:
            print(f"1. a stacked step synchronised with the host: {str(e).splitlines()[0]}")
        finally:
            torch.cuda.set_sync_debug_mode(0)


def graph_check(k: int, steps: int, root: Path) -> None:
    """Check 4: each arm's batched stack with and without the step as a CUDA graph."""
    arms = {"baseline": (), "PacGAN2": ("tricks.pack=on", "train.batch_size=200")}
    for arm, extra in arms.items():
        try:
            out = {}
            for graph in (False, True):
                cfgs, data = configs(k, steps, (*extra, f"train.cuda_graph={str(graph).lower()}"))
                if DEVICE == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                runs = stacked(cfgs, data, root / f"graph-{arm}-{graph}")
                out[graph] = (runs, time.perf_counter() - start)
            (eager, t_eager), (replayed, t_graph) = out[False], out[True]
            diff = max(worst(a.run.read_metrics(), b.run.read_metrics()) for a, b in zip(eager, replayed, strict=True))
            same = all(
                torch.equal(a.G.state_dict()[n], b.G.state_dict()[n]) for a, b in zip(eager, replayed, strict=True)
                for n in a.G.state_dict()
            )  # fmt: skip
            print(f"4. {arm}, {k} runs x {steps} steps as a CUDA graph: worst relative difference {diff:.2e}, "
                  f"G's final weights {'equal' if same else 'differ'}; {t_eager:.1f} s without, {t_graph:.1f} s with")  # fmt: skip
        except Exception as e:  # a failed capture is a result to bring back, not the end of the checks
            print(f"4. {arm}: the CUDA graph failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


def worst(a: list[dict], b: list[dict]) -> float:
    return max(abs(x[k] - y[k]) / max(abs(x[k]), 1e-12) for x, y in zip(a, b, strict=True) for k in KEYS)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--device", default="cuda", help="cuda; cpu only tries the script out")
    args = p.parse_args()
    global DEVICE
    DEVICE = args.device
    name = torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu"
    print(f"device: {name}, torch {torch.__version__}")
    no_sync(args.runs)
    root = Path(tempfile.mkdtemp())
    try:
        if DEVICE == "cuda":
            graph_check(args.runs, args.steps, root)
        else:
            print("4. skipped on the CPU (no CUDA graph to capture)")
        cfgs, data = configs(args.runs, args.steps)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        start = time.perf_counter()
        fp32 = stacked(cfgs, data, root / "fp32")
        sec = time.perf_counter() - start
        singles = []
        for cfg in cfgs[:2]:
            t = Trainer(cfg, data)
            t.run = RunDir(root / f"single{cfg.train.seed}")
            t.run.path.mkdir()
            t.fit()
            singles.append(t.run.read_metrics())
        diffs = [worst(s, t.run.read_metrics()) for s, t in zip(singles, fp32, strict=False)]
        print(f"2. batched stack vs single runs on {DEVICE}, {args.steps} steps: worst relative difference "
              f"{max(diffs):.2e} (runs 0-1); the stack of {args.runs} took {sec:.1f} s")  # fmt: skip
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        tf32 = stacked(cfgs, data, root / "tf32")
        for name, runs in (("fp32", fp32), ("tf32", tf32)):
            metrics = [t.evaluate() for t in runs]
            mean = {k: sum(m[k] for m in metrics) / len(metrics) for k in ("modes", "hq", "kl") if all(k in m for m in metrics)}
            print(f"3. {name}: " + ", ".join(f"{k} {v:.4g}" for k, v in mean.items()) + f" (mean of {len(runs)} runs)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
