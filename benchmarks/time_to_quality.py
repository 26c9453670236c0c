"""Time to quality: how much training wall time a preset needs to reach the baseline's final FD.

Usage:  .venv/bin/python benchmarks/time_to_quality.py [--presets baseline,modern] [--steps 2500]
        [--every 250] [--seed 0] [--data mnist5k] [--out runs-ttq]

Trains one run per preset at ``make demo``'s settings (mnist5k, 2,500 steps), all at the same time,
one process and one thread each, so every run sees the same machine. Each evaluates every
``--every`` steps (``eval.every``; evaluation time is not training time: the loop's ``sec_per_step``
excludes it). Then, from each run's ``metrics.jsonl``, it prints the FD at every evaluation against
the training seconds spent so far, and the seconds each preset needed to reach the first preset's
final FD, with the ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def timeline(run: Path) -> list[tuple[int, float, float]]:
    """(step, training seconds so far, FD) at each evaluated row of a run's metrics.jsonl."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    out, seconds, last = [], 0.0, 0
    for row in rows:
        seconds += row["sec_per_step"] * (row["step"] - last)
        last = row["step"]
        if "fd" in row:
            out.append((row["step"], seconds, row["fd"]))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--presets", default="baseline,modern")
    p.add_argument("--data", default="mnist5k")
    p.add_argument("--steps", type=int, default=2500)
    p.add_argument("--every", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs-ttq")
    args = p.parse_args()
    print("command:", "python " + " ".join(sys.argv))
    presets = args.presets.split(",")
    procs = {}
    for preset in presets:
        cmd = [sys.executable, "-m", "ganhacks", "train", "--data", args.data, "--steps", str(args.steps), "--seed",
               str(args.seed), "--preset", preset, "--quiet", "--out", f"{args.out}/{preset}",
               "--set", f"eval.every={args.every}", "--set", "train.threads=1"]  # fmt: skip
        procs[preset] = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    runs = {}
    for preset, proc in procs.items():
        out, _ = proc.communicate()
        if proc.returncode:
            sys.exit(f"{preset}: training failed (exit {proc.returncode})")
        runs[preset] = Path(out.strip().splitlines()[-1])
    lines = {preset: timeline(run) for preset, run in runs.items()}
    for preset, line in lines.items():
        print(f"\n{preset} ({runs[preset]}):")
        print(f"{'step':>6} {'train s':>8} {'fd':>8}")
        for step, seconds, fd in line:
            print(f"{step:>6} {seconds:>8.1f} {fd:>8.1f}")
    first = presets[0]
    goal, total = lines[first][-1][2], lines[first][-1][1]
    print(f"\nseconds to reach {first}'s final FD {goal:.1f} ({first} took {total:.1f} s):")
    for preset, line in lines.items():
        reached = next(((s, t) for s, t, fd in line if fd <= goal), None)
        if reached is None:
            print(f"  {preset}: not reached in {args.steps} steps (final FD {line[-1][2]:.1f})")
        else:
            print(f"  {preset}: {reached[1]:.1f} s (step {reached[0]}), {reached[1] / total:.2f} x {first}'s time")


if __name__ == "__main__":
    main()
