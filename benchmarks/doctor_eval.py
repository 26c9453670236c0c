"""Validate the doctor on runs broken on purpose, and on healthy runs.

Each failure case reliably induces one failure, by config or by a fault injected at a known step;
each healthy case is a plain baseline. Every case runs over several seeds. The table gives, per case,
the detection rate of the expected event, the median delay from the failure's onset to its detection,
and the runs with any other event (on healthy cases these are false alarms).

    .venv/bin/python benchmarks/doctor_eval.py --seeds 5 --workers 2          # the full table
    .venv/bin/python benchmarks/doctor_eval.py --fast                        # a few short cases

The onset is step 0 for a failure induced by config (it is there from the start) and the injection
step otherwise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganhacks.tricks import Trick


class Injection(Trick):
    """A fault injected once, at the end of step ``at``; after a rollback it does not strike again."""

    def __init__(self, at: int, factor: float = 1.0):
        self.at, self.factor, self.fired = at, factor, False

    def after_step(self, ctx):
        if ctx.step + 1 == self.at and not self.fired:
            self.fired = True
            with torch.no_grad():
                self.strike(ctx)

    def strike(self, ctx) -> None:
        raise NotImplementedError


class PoisonG(Injection):
    """G's first weight tensor becomes NaN."""

    key = "inject/poison_g"

    def strike(self, ctx):
        next(ctx.G.parameters()).fill_(float("nan"))


class InflateD(Injection):
    """Every weight of D is multiplied by ``factor``, so its logits and the gradients through it grow
    by orders of magnitude."""

    key = "inject/inflate_d"

    def __init__(self, at: int, factor: float = 30.0):
        super().__init__(at, factor)

    def strike(self, ctx):
        for name, p in ctx.D.named_parameters():
            if "weight" in name or name.endswith(".T"):
                p.mul_(self.factor)


class LrSpike(Injection):
    """Both learning rates are multiplied by ``factor`` (a schedule bug)."""

    key = "inject/lr_spike"

    def __init__(self, at: int, factor: float = 50.0):
        super().__init__(at, factor)

    def strike(self, ctx):
        for opt in (ctx.opt_g, ctx.opt_d):
            for group in opt.param_groups:
                group["lr"] *= self.factor


@dataclass
class Case:
    name: str
    expect: str | None  # the event that must be raised; None for a healthy case
    data: str
    steps: int
    overrides: list[str] = field(default_factory=list)
    inject: Callable[[], list[Trick]] | None = None
    onset: int = 0


CASES = [
    Case("d_wins: D lr x50, G lr /10", "d_wins", "digits", 600, ["optim.d.lr=1e-2", "optim.g.lr=2e-5"]),
    Case("exploding: D weights x30 at 300", "exploding_gradients", "ring8", 600, inject=lambda: [InflateD(300)], onset=300),
    Case("mode_collapse: G lr 0.1", "mode_collapse", "ring8", 600, ["optim.g.lr=0.1"]),
    Case("non_finite: G weights NaN at 300", "non_finite", "digits", 600, inject=lambda: [PoisonG(300)], onset=300),
    Case("g_fools: D's labels inverted", "g_fools_with_garbage", "digits", 600, ["tricks.noisy_labels.p=1.0"]),
    Case("stalled: G lr 1e-12", "stalled", "digits", 600, ["optim.g.lr=1e-12"]),
    Case("unstable: lr x50 at 400", "unstable", "digits", 800, inject=lambda: [LrSpike(400)], onset=400),
    Case("healthy: ring8", None, "ring8", 1500),
    Case("healthy: grid25", None, "grid25", 1500),
    Case("healthy: digits", None, "digits", 1500),
    Case("healthy: mnist5k", None, "mnist5k", 1000),
    Case("healthy: ring8, recommended", None, "ring8", 1500, ["preset=recommended"]),
    Case("healthy: grid25, recommended", None, "grid25", 1500, ["preset=recommended"]),
    Case("healthy: digits, recommended", None, "digits", 1500, ["preset=recommended"]),
    Case(
        "healthy: digits, minibatch stddev, 2 D steps", None, "digits", 1500, ["tricks.minibatch_stddev=on", "train.d_steps=2"]
    ),  # fmt: skip
]
FAST = ["d_wins: D lr x50, G lr /10", "non_finite: G weights NaN at 300", "healthy: digits"]
FAST_STEPS = 400


def run_case(name: str, seed: int, out: str, steps: int | None = None) -> dict:
    """Train the case called ``name`` at one seed; the doctor's events and the wall time."""
    import ganhacks
    from ganhacks.config import build_config

    case = next(c for c in CASES if c.name == name)
    torch.set_num_threads(1)
    extra = ["data.num_points=5000"] if case.data in ("ring8", "grid25") else []
    cfg = build_config(
        overrides=[f"data.name={case.data}", f"train.steps={steps or case.steps}", f"train.seed={seed}", *extra,
                   *case.overrides]
    )  # fmt: skip
    start = time.perf_counter()
    run = ganhacks.train(cfg, out=out, tricks=case.inject() if case.inject else [])
    verdict = json.loads((run.path / "verdict.json").read_text())
    return {
        "case": case.name,
        "seed": seed,
        "events": [(e["code"], e["started"], e["step"]) for e in verdict["events"]],
        "seconds": time.perf_counter() - start,
        "run": str(run.path),
    }


def summarise(case: Case, results: list[dict]) -> dict:
    detected = [r for r in results if any(c == case.expect and s >= case.onset for c, _, s in r["events"])]
    delays = [min(s for c, _, s in r["events"] if c == case.expect and s >= case.onset) - case.onset for r in detected]
    other = [r for r in results if any(c != case.expect for c, _, _ in r["events"])]
    return {
        "case": case.name,
        "expect": case.expect or "(healthy)",
        "seeds": len(results),
        "detected": len(detected) if case.expect else None,
        "median_delay": statistics.median(delays) if delays else None,
        "other_events": len(other),
        "other_codes": sorted({c for r in other for c, _, _ in r["events"] if c != case.expect}),
    }


def replay(result_files: list[str]) -> tuple[list[dict], list[dict]]:
    """Re-diagnose recorded runs (the ``--json`` files of earlier calls) with today's default thresholds.
    The doctor is a function of metrics.jsonl, so this gives the events a live run would have raised."""
    import dataclasses

    import yaml

    from ganhacks.config import DoctorConfig
    from ganhacks.monitor.doctor import diagnose

    results = []
    for path in result_files:
        for r in json.loads(Path(path).read_text())["runs"]:
            run = Path(r["run"])
            rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
            warmup = yaml.safe_load((run / "config.yaml").read_text())["doctor"]["warmup"]
            cfg = dataclasses.replace(DoctorConfig(), warmup=warmup)
            events = diagnose(rows, cfg, json.loads((run / "run.json").read_text()))
            results.append({**r, "events": [(e.code, e.started, e.step) for e in events]})
    names = [c.name for c in CASES]
    cases = [c for c in CASES if any(r["case"] == c.name for r in results)]
    results = [r for r in results if r["case"] in names]  # cases since retired are left out
    return [summarise(c, [r for r in results if r["case"] == c.name]) for c in cases], results


def table(rows: list[dict]) -> str:
    lines = [
        "| case | expected event | detected | median delay (steps) | runs with other events |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        detected = "–" if r["detected"] is None else f"{r['detected']}/{r['seeds']}"
        delay = "–" if r["median_delay"] is None else f"{r['median_delay']:.0f}"
        other = f"{r['other_events']}/{r['seeds']}" + (f" ({', '.join(r['other_codes'])})" if r["other_codes"] else "")
        lines.append(f"| {r['case']} | {r['expect']} | {detected} | {delay} | {other} |")
    return "\n".join(lines)


def evaluate(cases: list[Case], seeds: int, workers: int, out: str, steps: int | None = None) -> tuple[list[dict], list[dict]]:
    """Run every case at every seed; (one summary row per case, one result per run)."""
    jobs = [(case.name, seed) for case in cases for seed in range(seeds)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(run_case, *zip(*jobs, strict=True), [out] * len(jobs), [steps] * len(jobs)))
    else:
        results = [run_case(name, seed, out, steps) for name, seed in jobs]
    return [summarise(case, [r for r in results if r["case"] == case.name]) for case in cases], results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--fast", action="store_true", help=f"only {len(FAST)} cases, {FAST_STEPS} steps, 1 seed")
    p.add_argument("--only", help="run only the cases whose name contains this text")
    p.add_argument("--out", help="where the runs go (default: a temporary folder)")
    p.add_argument("--json", help="also write the per-run results here")
    p.add_argument("--replay", nargs="+", metavar="JSON", help="re-diagnose the runs recorded in these --json files")
    args = p.parse_args(argv)
    if args.replay:
        rows, results = replay(args.replay)
        print(table(rows))
        print(f"\n{len(results)} recorded runs re-diagnosed with the current thresholds")
        return 0
    cases = [c for c in CASES if c.name in FAST] if args.fast else CASES
    cases = [c for c in cases if args.only in c.name] if args.only else cases
    seeds = 1 if args.fast else args.seeds
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        rows, results = evaluate(cases, seeds, args.workers, args.out or tmp, FAST_STEPS if args.fast else None)
        print(table(rows))
        alarms = sum(r["other_events"] for r in rows if r["expect"] == "(healthy)")
        missed = sum(r["seeds"] - r["detected"] for r in rows if r["detected"] is not None)
        print(f"\nmissed detections: {missed}; false alarms on healthy runs: {alarms}; "
              f"{len(results)} runs in {time.perf_counter() - start:.0f} s")  # fmt: skip
        print("command: .venv/bin/python benchmarks/doctor_eval.py " + " ".join(sys.argv[1:] if argv is None else argv))
        if args.json:
            Path(args.json).write_text(json.dumps({"summary": rows, "runs": results}, indent=2))
    return 0 if missed == 0 and alarms == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
