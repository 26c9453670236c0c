"""A run that collapses and recovers through the doctor's rollback, beside the same run left alone.

A healthy `ring8` run gets one bad optimiser step partway through: G's learning rate is multiplied by
``--factor`` for ``--spike`` steps (a warm restart or a schedule bug), after which the schedule is
back to normal. That wrecks G: its samples collapse onto a point or a line and do not come back
within the run. With ``doctor.action=rollback`` the doctor names the collapse, restores the newest
checkpoint from before its evidence started (one saved before the spike), switches on its remedy
(instance noise, `auto` for mode_collapse) and trains on; the spike is in the past, so it does not
strike again. Both runs are evaluated on PacGAN's 2D metrics at the end.

    .venv/bin/python benchmarks/rollback_demo.py                  # ring8, 3,000 steps, spike at 1,510
    .venv/bin/python benchmarks/rollback_demo.py --seed 1 --out runs/rollback-demo
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

from ganhacks.tricks import Trick


class GLrSpike(Trick):
    """G's learning rate times ``factor`` for ``length`` steps from step ``at``, then back; once per run
    (a rollback to before it does not replay it: the fault was in the past, not in the config)."""

    key = "inject/g_lr_spike"

    def __init__(self, at: int, factor: float, length: int):
        self.at, self.factor, self.length = at, factor, length
        self.fired = False
        self.saved: list[float] | None = None

    def after_step(self, ctx):
        if ctx.step + 1 == self.at and not self.fired:  # the next `length` steps run at the spiked rate
            self.fired = True
            self.saved = [g["lr"] for g in ctx.opt_g.param_groups]
            for g in ctx.opt_g.param_groups:
                g["lr"] *= self.factor
        elif self.saved is not None and ctx.step + 1 >= self.at + self.length:
            for g, lr in zip(ctx.opt_g.param_groups, self.saved, strict=True):
                g["lr"] = lr
            self.saved = None


def train(action: str, args: argparse.Namespace) -> dict:
    import ganhacks
    from ganhacks.config import build_config

    torch.set_num_threads(1)
    cfg = build_config(
        overrides=[
            "data.name=ring8",
            "data.num_points=5000",
            f"train.steps={args.steps}",
            f"train.seed={args.seed}",
            f"checkpoint.every={args.checkpoint_every}",
            "checkpoint.keep=20",
            f"doctor.action={action}",
        ]
    )
    start = time.perf_counter()
    run = ganhacks.train(cfg, out=Path(args.out) / action, tricks=[GLrSpike(args.at, args.factor, args.spike)])
    result = run.evaluate()
    verdict = json.loads((run.path / "verdict.json").read_text())
    return {
        "action": action,
        "run": str(run.path),
        "seconds": round(time.perf_counter() - start, 1),
        "modes": result["modes"],
        "hq": result["hq"],
        "kl": result["kl"],
        "failures": verdict["failures"],
        "actions": [
            f"{a['event']} at {a['step']}"
            + (f" to {a['to_step']}, remedy {'+'.join(a['remedy'])}" if a["event"] == "rollback" else "")
            for a in verdict["actions"]
        ],
        "events": [f"{e['code']} at {e['step']} (since {e['started']})" for e in verdict["events"]],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=3000)
    # Not on a checkpoint step: a checkpoint saved at the spike's first step would hold the spiked
    # rate in its optimiser state, and restoring it would replay the fault.
    p.add_argument("--at", type=int, default=1510, help="the step where G's learning rate spikes")
    p.add_argument("--factor", type=float, default=1000.0, help="how much it is multiplied by")
    p.add_argument("--spike", type=int, default=20, help="for how many steps")
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--out", default="runs/rollback-demo")
    args = p.parse_args(argv)
    rows = [train(action, args) for action in ("warn", "rollback")]
    print("| doctor.action | modes (of 8) | HQ | KL | events | actions |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['action']} | {r['modes']} | {r['hq']:.3f} | {r['kl']:.3f} | {'; '.join(r['events']) or '–'} | "
            f"{'; '.join(r['actions']) or '–'} |"
        )
    print("\ncommand: .venv/bin/python benchmarks/rollback_demo.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "rollback_demo.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
