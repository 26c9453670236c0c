"""Stress test for crash safety: SIGKILL a training run at random moments, resume it each time, and check
that it ends bit-identical to a run that was never interrupted.

    .venv/bin/python benchmarks/kill_resume.py --kills 20 --seed 0

Each round starts `ganhacks train` (or `--resume`) in a subprocess, waits a random time and sends
SIGKILL, so kills land anywhere: between steps, inside a checkpoint save, while metrics.jsonl is
appended. Checkpoints are written every 3 steps, so many kills hit a save. After the kills the run is
resumed to the end and compared with the reference: every metrics.jsonl row (wall time aside), the
final weights and optimiser state, and verdict.json. It prints one line per kill and a summary.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

STEPS = 400
SETTINGS = [
    "--quiet", "--set", "data.num_points=2000", "--set", "model.mlp_g_hidden=64", "--set", "model.mlp_d_hidden=32",
    "--set", "train.log_every=2", "--set", "checkpoint.every=3", "--set", "checkpoint.keep=2", "--set", "train.threads=1",
    "--set", "doctor.probe_every=6", "--set", "doctor.warmup=6", "--set", "tricks.replay.p=0.5",
    "--set", "tricks.instance_noise.sigma=0.1", "--set", "train.sample_every=30",
]  # fmt: skip
GANHACKS = [sys.executable, "-m", "ganhacks"]


def rows(run: Path) -> list[dict]:
    out = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        row.pop("sec_per_step", None)
        out.append(row)
    return out


def final(run: Path) -> dict[str, torch.Tensor]:
    tensors = load_file(str(run / "checkpoints" / f"step_{STEPS:07d}.safetensors"))
    return {k: v for k, v in tensors.items() if k.startswith(("G.", "D.", "opt_"))}


def metrics_size(run: Path | None) -> int:
    try:
        return (run / "metrics.jsonl").stat().st_size if run else -1
    except FileNotFoundError:
        return -1


def first(out: Path) -> Path | None:
    return next(out.iterdir(), None)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--window", type=float, default=1.0, help="kill within this many seconds of training (default 1)")
    args = p.parse_args()
    rng = random.Random(args.seed)
    base = ["train", "--data", "ring8", "--steps", str(STEPS), "--seed", "1", *SETTINGS]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        subprocess.run([*GANHACKS, *base, "--out", str(tmp / "ref")], check=True, capture_output=True)
        full = time.perf_counter() - start
        ref = next((tmp / "ref").iterdir())
        print(f"reference: {STEPS} steps in {full:.1f} s (start-up included)")
        out = tmp / "killed"
        out.mkdir()
        run: Path | None = None
        kills = 0
        while kills < args.kills:
            cmd = [*GANHACKS, "train", "--resume", str(run), "--quiet"] if run else [*GANHACKS, *base, "--out", str(out)]
            seen = metrics_size(run)
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # Kill while it trains, not while Python starts: wait for a new metrics row, then a random moment.
            while proc.poll() is None and metrics_size(run or first(out)) <= seen:
                time.sleep(0.01)
            wait = rng.uniform(0.0, args.window)
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            run = run or first(out)
            if proc.returncode == 0:
                print(f"the run finished after {kills} kills; raise STEPS for more")
                break
            if proc.returncode != -signal.SIGKILL:
                print(f"unexpected exit {proc.returncode}: {proc.stderr.read().decode().strip()[-500:]}")
                return 1
            kills += 1
            names = {p.name for p in (run / "checkpoints").glob("*")} | {p.name for p in (run / "checkpoints").glob(".*")}
            torn = sum(n.endswith(".tmp") for n in names)
            half = sum(n.endswith(".safetensors") and n.replace(".safetensors", ".json") not in names for n in names)
            step = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1] or "{}").get("step")
            print(f"kill {kills:2d}, {wait:4.2f} s into training, last row at step {step}: "
                  f"{torn} torn temporary files, {half} tensor files without their JSON")  # fmt: skip
        if run is None:
            print("no run folder was ever created; raise --kills")
            return 1
        done = subprocess.run([*GANHACKS, "train", "--resume", str(run), "--quiet"], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"final resume failed: {done.stderr.strip()}")
            return 1
        same_rows = rows(run) == rows(ref)
        a, b = final(run), final(ref)
        same_weights = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        same_verdict = json.loads((run / "verdict.json").read_text()) == json.loads((ref / "verdict.json").read_text())
        resumes = len(json.loads((run / "run.json").read_text()).get("resumes", []))
        print(
            f"{kills} SIGKILLs, {resumes} resumes: metrics rows identical {same_rows}, final weights and optimiser "
            f"state identical {same_weights}, verdict identical {same_verdict}"
        )
        return 0 if same_rows and same_weights and same_verdict else 1


if __name__ == "__main__":
    sys.exit(main())
