"""Validate the doctor on runs broken on purpose, and on healthy runs.

Each failure case reliably induces one failure, by config or by a fault injected at a known step;
each healthy case is one of the presets (baseline, recommended, modern) on one data set. Every case
runs over its own seeds (5 per broken case, 10 per healthy one; --seeds sets them all). The table
gives, per case, the detection rate of the expected event, the median delay from the failure's onset
to its detection, and the runs with any other event (on healthy cases these are false alarms), with
how many of those were still on at the run's last row (the others ended: the run recovered). For
the slow collapses (packing and SGD for D on MNIST) it also counts the runs whose event came by the
first probe where recall fell below half its best.

    .venv/bin/python benchmarks/doctor_eval.py --workers 2 --out runs/doctor-eval        # the full table
    .venv/bin/python benchmarks/doctor_eval.py --only mnist5k --workers 2 --out runs/doctor-eval
    .venv/bin/python benchmarks/doctor_eval.py --only ring8 --only digits --out runs/doctor-eval  # cases on either
    .venv/bin/python benchmarks/doctor_eval.py --no-run --out runs/doctor-eval           # the table so far
    .venv/bin/python benchmarks/doctor_eval.py --fast                                    # a few short cases
    .venv/bin/python benchmarks/doctor_eval.py --workers 2 --out runs/doctor-eval --keep docs/doctor-eval

Runs go to --out/CASE/seed_N and are kept: calling again with the same --out trains only the runs
that have not finished, and every table re-diagnoses the recorded runs with today's doctor (it is a
function of metrics.jsonl, so these are the events it would raise live). The onset is step 0 for a
failure induced by config (it is there from the start) and the injection step otherwise.

--keep DIR also copies the record of each finished run (what the doctor reads of it: metrics.jsonl,
gzipped, with config.yaml, run.json, events.jsonl and verdict.json; about 10-30 kB a run; see
ganhacks.training.rundir.keep_record) to DIR/CASE/seed_N. A run recorded
there is not trained again and is diagnosed from its record, so a table that takes more CPU-hours
than one machine keeps its runs/ for can be filled over several sessions from a folder git keeps.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
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

FOLDER = "folder"  # a case's data: the photo crops of photo_crops()


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
    # The event that must be raised, or several of which any counts (a failure that shows as more than
    # one: mixed batches make D win and G draw one class); None for a healthy case.
    expect: str | tuple[str, ...] | None
    data: str
    steps: int
    overrides: list[str] = field(default_factory=list)
    inject: Callable[[], list[Trick]] | None = None
    onset: int = 0
    seeds: int | None = None  # its own seed count (the issue's: 5 per broken case, 10 per healthy one); --seeds overrides
    # For a slow collapse: also count the runs whose event came by the first probe where recall fell
    # below half the best it had reached (the deadline for packing and SGD for D).
    by_recall_half: bool = False
    # A run that fails early and gets out on its own: the expected event must be raised and must also
    # have ended by the last row (the table counts both).
    recovers: bool = False

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "-", self.name).strip("-").lower()


PACK = "mode_collapse: packing m=2, mnist5k"
PACK4 = "mode_collapse: packing m=4, mnist5k"
SGD = "mode_collapse: SGD for D (lr 1e-2), mnist5k"
# The first seven cases break a run at once (by config) or at a known step (by injection); the
# next four lose variety slowly or from the start, on MNIST, where the bench measured it.
CASES = [
    Case("d_wins: D lr x50, G lr /10", "d_wins", "digits", 600, ["optim.d.lr=1e-2", "optim.g.lr=2e-5"]),
    Case("exploding: D weights x30 at 300", "exploding_gradients", "ring8", 600, inject=lambda: [InflateD(300)], onset=300),
    Case("mode_collapse: G lr 0.1", "mode_collapse", "ring8", 600, ["optim.g.lr=0.1"]),
    Case("non_finite: G weights NaN at 300", "non_finite", "digits", 600, inject=lambda: [PoisonG(300)], onset=300),
    Case("g_fools: D's labels inverted", "g_fools_with_garbage", "digits", 600, ["tricks.noisy_labels.p=1.0"]),
    Case("stalled: G lr 1e-12", "stalled", "digits", 600, ["optim.g.lr=1e-12"]),
    Case("unstable: lr x50 at 400", "unstable", "digits", 800, inject=lambda: [LrSpike(400)], onset=400),
    Case(PACK, "mode_collapse", "mnist5k", 800, ["tricks.pack=on"], by_recall_half=True),
    Case(PACK4, "mode_collapse", "mnist5k", 800, ["tricks.pack.m=4"], by_recall_half=True),
    Case(SGD, "mode_collapse", "mnist5k", 800, ["optim.d.name=sgd", "optim.d.lr=1e-2"], by_recall_half=True),
    # The bench saw both collapse every MNIST seed to one class, and the doctor call them d_wins
    # (docs/results.md): D wins because G has collapsed, so either event names the failure.
    Case("collapse: mixed real/fake batches, mnist5k", ("mode_collapse", "d_wins"), "mnist5k", 800, ["train.d_batches=mixed"]),
    Case("collapse: G without BatchNorm, mnist5k", ("mode_collapse", "d_wins"), "mnist5k", 800, ["model.g_norm=none"]),
]
# Healthy: the three presets on the four data sets, and an image folder without labels (random
# crops of scikit-learn's two sample photos), 10 seeds each. The folder's baseline is the exception:
# in every seed D holds D(real) > 0.99 and D(fake) < 0.01 from about step 110 to 260-330 before G
# gets out, a phase instance noise (recommended) and modern's tricks remove, so it is a case of a
# d_wins that must be named and must end, not a healthy run (docs/doctor.md).
FOLDER_BASELINE = "d_wins, then recovers: folder of photo crops, baseline"
HEALTHY_STEPS = {"ring8": 1500, "grid25": 1500, "digits": 1500, "mnist5k": 1000, FOLDER: 1000}
for _preset in ("baseline", "recommended", "modern"):
    for _data, _steps in HEALTHY_STEPS.items():
        _overrides = [] if _preset == "baseline" else [f"preset={_preset}"]
        if _data == FOLDER and _preset == "baseline":
            CASES.append(Case(FOLDER_BASELINE, "d_wins", _data, _steps, _overrides, seeds=10, recovers=True))
            continue
        _label = "folder of photo crops" if _data == FOLDER else _data
        _name = f"healthy: {_label}" + ("" if _preset == "baseline" else f", {_preset}")
        CASES.append(Case(_name, None, _data, _steps, _overrides, seeds=10))
CASES.append(
    Case("healthy: digits, minibatch stddev, 2 D steps", None, "digits", 1500, ["tricks.minibatch_stddev=on", "train.d_steps=2"])
)
BROKEN_SEEDS = 5
FAST = ["d_wins: D lr x50, G lr /10", "non_finite: G weights NaN at 300", "healthy: digits"]
FAST_STEPS = 400


def photo_crops(folder: Path, n: int = 2000, side: int = 48) -> str:
    """``folder:`` data without labels: ``n`` random ``side``-pixel crops of scikit-learn's two sample
    photos (they ship with it, so nothing is downloaded), written once as PNGs. Returns the data name."""
    if not (folder / "done").is_file():
        import numpy as np
        from PIL import Image
        from sklearn.datasets import load_sample_images

        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        photos = load_sample_images().images
        rng = np.random.default_rng(0)
        for i in range(n):
            img = photos[i % len(photos)]
            y, x = rng.integers(0, img.shape[0] - side), rng.integers(0, img.shape[1] - side)
            Image.fromarray(img[y : y + side, x : x + side]).save(folder / f"{i:05d}.png")
        (folder / "done").write_text("")
    return f"folder:{folder}"


def finished_run(where: Path) -> Path | None:
    """The run folder under ``where`` that finished (it has its verdict), or None."""
    return next((r for r in sorted(where.glob("*")) if (r / "verdict.json").is_file()), None)


def kept_record(keep: str | None, case: Case, seed: int) -> Path | None:
    """The record of this case's run at ``seed`` under ``keep``, if a complete one is there."""
    from ganhacks.training.rundir import is_record

    if keep is None:
        return None
    kept = Path(keep) / case.slug / f"seed_{seed}"
    return kept if is_record(kept) else None


def run_case(name: str, seed: int, out: str, steps: int | None = None, keep: str | None = None) -> dict:
    """Train the case called ``name`` at one seed into ``out/CASE/seed_N`` (kept: a later call with the
    same --out reuses a finished run, as it reuses a record under ``keep``), and diagnose it with
    today's doctor."""
    import ganhacks
    from ganhacks.config import build_config

    case = next(c for c in CASES if c.name == name)
    torch.set_num_threads(1)
    where = Path(out) / case.slug / f"seed_{seed}"
    kept = kept_record(keep, case, seed)
    run_path = kept or finished_run(where)
    start = time.perf_counter()
    if run_path is None:
        shutil.rmtree(where, ignore_errors=True)  # a run killed on the way: train it again from the start
        data = photo_crops(Path(out) / "_photo-crops") if case.data == FOLDER else case.data
        extra = ["data.num_points=5000"] if case.data in ("ring8", "grid25") else []
        extra += ["data.size=32"] if case.data == FOLDER else []
        cfg = build_config(
            overrides=[f"data.name={data}", f"train.steps={steps or case.steps}", f"train.seed={seed}", *extra, *case.overrides]
        )
        run_path = ganhacks.train(cfg, out=where, tricks=case.inject() if case.inject else []).path
    if keep is not None and kept is None:
        from ganhacks.training.rundir import keep_record

        run_path = keep_record(
            run_path, Path(keep) / case.slug / f"seed_{seed}"
        )  # diagnosed from the record, as a later call will be
    result = diagnosed(run_path)
    return {"case": case.name, "seed": seed, **result, "seconds": time.perf_counter() - start, "run": str(run_path)}


def diagnosed(run: Path) -> dict:
    """The events today's doctor raises on a recorded run (the doctor is a function of metrics.jsonl,
    so these are the events it would raise live), and the probe step where recall first fell below
    half the best it had reached (None if it never did)."""
    import dataclasses

    import yaml

    from ganhacks.config import DoctorConfig
    from ganhacks.monitor.doctor import diagnose
    from ganhacks.training.rundir import RunDir

    rows = RunDir(run).read_metrics()  # a run's metrics.jsonl, or a record's metrics.jsonl.gz
    warmup = yaml.safe_load((run / "config.yaml").read_text())["doctor"]["warmup"]
    events = diagnose(rows, dataclasses.replace(DoctorConfig(), warmup=warmup), json.loads((run / "run.json").read_text()))
    best, half = 0.0, None
    for r in rows:
        recall = r.get("doctor/recall")
        if isinstance(recall, (int, float)):
            if half is None and best > 0 and recall < best / 2:
                half = int(r["step"])
            best = max(best, recall)
    return {"events": [(e.code, e.started, e.step, e.ended) for e in events], "recall_half": half}


def ongoing(event: tuple | list) -> bool:
    """Whether an event (code, started, step[, ended]) still held at the run's last row; a result
    recorded before events carried their end has no such field, and counts as ongoing."""
    return len(event) < 4 or event[3] is None


def summarise(case: Case, results: list[dict]) -> dict:
    expects = (case.expect,) if isinstance(case.expect, str) else case.expect or ()
    detected = [r for r in results if any(e[0] in expects and e[2] >= case.onset for e in r["events"])]
    first = {id(r): min(e[2] for e in r["events"] if e[0] in expects and e[2] >= case.onset) for r in detected}
    delays = [first[id(r)] - case.onset for r in detected]
    other = [r for r in results if any(e[0] not in expects for e in r["events"])]
    # A run whose other events all ended recovered from them; still a false alarm on a healthy case,
    # but a passing phase rather than a run the doctor calls failing at its end.
    still = [r for r in other if any(e[0] not in expects and ongoing(e) for e in r["events"])]
    row = {
        "case": case.name,
        "expect": " or ".join(expects) or "(healthy)",
        "seeds": len(results),
        "detected": len(detected) if case.expect else None,
        # of the detected runs, those whose expected event(s) had all ended at the last row
        "ended": sum(1 for r in detected if not any(e[0] in expects and ongoing(e) for e in r["events"]))
        if case.recovers
        else None,
        "median_delay": statistics.median(delays) if delays else None,
        "other_events": len(other),
        "other_ongoing": len(still),
        "other_codes": sorted({e[0] for r in other for e in r["events"] if e[0] not in expects}),
    }
    if case.by_recall_half:
        timed = [r for r in results if r.get("recall_half") is not None]
        row["by_recall_half"] = (sum(1 for r in timed if id(r) in first and first[id(r)] <= r["recall_half"]), len(timed))
    return row


def replay(result_files: list[str]) -> tuple[list[dict], list[dict]]:
    """Re-diagnose recorded runs (the ``--json`` files of earlier calls) with today's default thresholds."""
    results = []
    for path in result_files:
        for r in json.loads(Path(path).read_text())["runs"]:
            results.append({**r, **diagnosed(Path(r["run"]))})
    names = [c.name for c in CASES]
    cases = [c for c in CASES if any(r["case"] == c.name for r in results)]
    results = [r for r in results if r["case"] in names]  # cases since retired are left out
    return [summarise(c, [r for r in results if r["case"] == c.name]) for c in cases], results


def table(rows: list[dict]) -> str:
    recall = any("by_recall_half" in r for r in rows)
    lines = [
        "| case | expected event | detected | median delay (steps) | runs with other events | of them, still on at the end |"
        + (" raised by recall's half-best step |" if recall else ""),
        "|---|---|---|---|---|---|" + ("---|" if recall else ""),
    ]
    for r in rows:
        detected = "–" if r["detected"] is None else f"{r['detected']}/{r['seeds']}"
        if r.get("ended") is not None:
            detected += f", {r['ended']} ended"
        delay = "–" if r["median_delay"] is None else f"{r['median_delay']:.0f}"
        other = f"{r['other_events']}/{r['seeds']}" + (f" ({', '.join(r['other_codes'])})" if r["other_codes"] else "")
        still = "–" if not r["other_events"] else f"{r.get('other_ongoing', r['other_events'])}/{r['other_events']}"
        line = f"| {r['case']} | {r['expect']} | {detected} | {delay} | {other} | {still} |"
        if recall:
            on_time, timed = r.get("by_recall_half", (None, 0))
            line += (
                " – |"
                if on_time is None
                else f" {on_time}/{timed}" + (f" ({r['seeds'] - timed} never fell)" if timed < r["seeds"] else "") + " |"
            )
        lines.append(line)
    return "\n".join(lines)


def case_seeds(case: Case, seeds: int | None) -> int:
    return seeds or case.seeds or BROKEN_SEEDS


def evaluate(
    cases: list[Case],
    seeds: int | None,
    workers: int,
    out: str,
    steps: int | None = None,
    run: bool = True,
    keep: str | None = None,
) -> tuple[list[dict], list[dict]]:
    """Run every case at its seeds (``seeds`` for all, when given); (one summary row per case, one result
    per run). Finished runs under ``out`` and records under ``keep`` are reused; with ``run`` False
    nothing trains and the table holds the finished runs only."""
    jobs = [(case, seed) for case in cases for seed in range(case_seeds(case, seeds))]
    if not run:
        jobs = [(c, s) for c, s in jobs if kept_record(keep, c, s) or finished_run(Path(out) / c.slug / f"seed_{s}")]
    # Recorded runs first, so a long queue shows what is already known before it trains.
    jobs.sort(key=lambda job: kept_record(keep, *job) is None)
    names = [c.name for c, _ in jobs]
    seeds_ = [s for _, s in jobs]
    n = len(jobs)
    if workers > 1 and run:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(run_case, names, seeds_, [out] * n, [steps] * n, [keep] * n))
    else:
        results = [run_case(name, seed, out, steps, keep) for name, seed in zip(names, seeds_, strict=True)]
    rows = [summarise(case, [r for r in results if r["case"] == case.name]) for case in cases]
    return [r for r in rows if r["seeds"]], results


def select(only: list[str] | None = None, fast: bool = False) -> list[Case]:
    """The cases to run: the fast few or all of them, narrowed to those whose name contains a text in
    ``only`` or whose data set is one (so one call can queue every quick 2D and digits case)."""
    cases = [c for c in CASES if c.name in FAST] if fast else CASES
    return [c for c in cases if any(text in c.name or text == c.data for text in only)] if only else cases


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, help=f"seeds per case (default: each case's own, {BROKEN_SEEDS} broken, 10 healthy)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--fast", action="store_true", help=f"only {len(FAST)} cases, {FAST_STEPS} steps, 1 seed")
    p.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="run only the cases whose name contains this text or whose data set it is (repeatable: any of them)",
    )
    p.add_argument("--out", help="where the runs go, kept so that a later call resumes (default: a temporary folder)")
    p.add_argument(
        "--keep", metavar="DIR", help="also keep what the doctor reads of each finished run here, and reuse it (see above)"
    )
    p.add_argument("--no-run", action="store_true", help="train nothing: the table of the finished runs in --out and --keep")
    p.add_argument("--json", help="also write the per-run results here")
    p.add_argument("--replay", nargs="+", metavar="JSON", help="re-diagnose the runs recorded in these --json files")
    args = p.parse_args(argv)
    if args.replay:
        rows, results = replay(args.replay)
        print(table(rows))
        print(f"\n{len(results)} recorded runs re-diagnosed with the current thresholds")
        return 0
    if args.no_run and not (args.out or args.keep):
        p.error("--no-run reads the runs in --out or the records in --keep; name the folder")
    cases = select(args.only, args.fast)
    seeds = 1 if args.fast else args.seeds
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        rows, results = evaluate(
            cases, seeds, args.workers, args.out or tmp, FAST_STEPS if args.fast else None, not args.no_run, args.keep
        )
        print(table(rows))
        alarms = sum(r["other_events"] for r in rows if r["expect"] == "(healthy)")
        still = sum(r["other_ongoing"] for r in rows if r["expect"] == "(healthy)")
        missed = sum(r["seeds"] - r["detected"] for r in rows if r["detected"] is not None)
        unrecovered = sum(r["detected"] - r["ended"] for r in rows if r.get("ended") is not None)
        print(f"\nmissed detections: {missed}; false alarms on healthy runs: {alarms} ({still} still on at the end); "
              f"expected recoveries that did not end: {unrecovered}; "
              f"{len(results)} runs in {time.perf_counter() - start:.0f} s")  # fmt: skip
        print("command: .venv/bin/python benchmarks/doctor_eval.py " + " ".join(sys.argv[1:] if argv is None else argv))
        if args.json:
            Path(args.json).write_text(json.dumps({"summary": rows, "runs": results}, indent=2))
    return 0 if missed == 0 and alarms == 0 and unrecovered == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
