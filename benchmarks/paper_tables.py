"""Reproduce PacGAN's 2D ring and grid table (../shared/PROTOCOLS.md) with our tricks, and print our
rows beside the published ones.

Rows: `baseline` (PacGAN's plain GAN row), each ganhacks trick that applies to MLPs added alone to
it, and the `recommended` preset. Every row is an arm of one `ganhacks ablate` folder per data set
(add-one mode over 10 seeds), so the statistics, the doctor's verdicts and report.html come with it.

    .venv/bin/python benchmarks/paper_tables.py --steps 2000 --workers 2 --out bench/paper   # our default budget
    .venv/bin/python benchmarks/paper_tables.py --steps 400000 ...                            # the paper's length
    .venv/bin/python benchmarks/paper_tables.py --fast                                        # a smoke run
    # PacGAN's Table 1 rows at 20k steps, with verdicts at 2k, 10k and 20k (PacGAN2 and PacGAN4 with
    # PacGAN's own batches, as PACGAN2 and PACGAN4 below):
    .venv/bin/python benchmarks/paper_tables.py \
        --tricks tricks.pack.m=2+train.batch_size=200,tricks.pack.m=4+train.batch_size=400,preset:recommended \
        --steps 20000 --eval-at 2000,10000 --workers 2 --out bench/table1-20k

The paper trains 400k steps; the default here is a short budget (--steps), and the printed table
says which was used. The 2D sets train in PacGAN's own coordinates (`data.coords=raw`: the grid spans
±4); `--coords unit` trains them scaled into [-1, 1] as `ganhacks train` does by default, which is
how the folders made before 2026-12-02 were trained. Calling again with the same --out resumes; `--no-run` trains nothing and prints
the table from the runs finished so far, each row saying how many seeds it has.

`--stacked` adds Stacked MNIST in PacGAN's hard "D = 1/4 G" setting, approximated with our DCGAN at
28x28 (G widths 32, 16; D widths 2, 4; Adam D 2e-4, G 1e-4, betas (0.5, 0.99), batch 128), with
`baseline`, `recommended` and PacGAN4 (`tricks.pack.m=4`) rows. `--data '' --stacked` runs it alone
(on a GPU, with one worker per core: about 105 s a run on an H100 with 15 at once).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

from ganhacks.bench.ablate import Ablation, Plan, ablate, machine_description, main_progress

# Each trick of the seed that a 2D MLP GAN can use, as an add-one arm. conditional and acgan are
# here because ring8/grid25 label each point with its mode, but they see those labels, so they do
# not compare with unconditional rows.
MLP_TRICKS = [
    "loss=minimax",  # 2
    "latent=uniform",  # 3
    "train.d_batches=mixed",  # 4
    "model.g_norm=none",  # 4
    "model.g_act=leaky_relu",  # 5
    "tricks.label_smoothing",  # 6, one-sided
    "tricks.label_smoothing.mode=two_sided_random",  # 6, two-sided random
    "tricks.noisy_labels",  # 6
    "tricks.vae",  # 7
    "tricks.replay",  # 8
    "tricks.swap",  # 8
    "optim.d.name=sgd+optim.d.lr=1e-2",  # 9, SGD for D
    "tricks.loss_threshold",  # 11
    "tricks.acgan",  # 12
    "tricks.instance_noise",  # 13
    "tricks.g_noise",  # 13
    "train.d_steps=2",  # 14
    "tricks.minibatch_discrimination",  # 15
    "tricks.minibatch_stddev",  # 15
    "tricks.pack",  # 15 / PacGAN2
    "tricks.pack.m=4",  # PacGAN4
    "tricks.conditional",  # 16
    "preset:recommended",
]

# PacGAN's own packing: each step draws m batches of 100 (real and fake), so D still judges 100 packs
# of m. `tricks.pack` alone packs the one batch of 100 into 100/m packs, which gives D (and G) m times
# fewer inputs per step; these arms are the paper's set-up.
PACGAN2 = "tricks.pack.m=2+train.batch_size=200"
PACGAN4 = "tricks.pack.m=4+train.batch_size=400"

# PacGAN Table 1 (10 trials, mean +- s.e.): modes, HQ %, KL for ring then grid.
PUBLISHED_2D = {
    "GAN": ((6.3, 0.5), (98.2, 0.2), (0.45, 0.09), (17.3, 0.8), (94.8, 0.7), (0.70, 0.07)),
    "ALI": ((6.6, 0.3), (97.6, 0.4), (0.36, 0.04), (24.1, 0.4), (95.7, 0.6), (0.14, 0.03)),
    "PacGAN2": ((7.9, 0.1), (95.6, 2.0), (0.07, 0.03), (23.8, 0.7), (91.3, 0.8), (0.13, 0.04)),
    "PacGAN3": ((7.8, 0.1), (97.7, 0.3), (0.10, 0.02), (24.6, 0.4), (94.2, 0.4), (0.06, 0.02)),
    "PacGAN4": ((7.8, 0.1), (95.9, 1.4), (0.07, 0.02), (24.8, 0.2), (93.6, 0.6), (0.04, 0.01)),
}
# PacGAN Table 3, D = 1/4 G (50 trials): modes, KL.
PUBLISHED_STACKED = {
    "DCGAN": ((78.5, 17.6), (5.21, None)),
    "Unrolled GAN (10)": ((327.2, 74.7), (4.66, None)),
    "PacDCGAN4": ((667.4, 29.0), (1.81, None)),
}
STACKED_SET = [
    "model.ngf=16",
    "model.ndf=2",
    "optim.d.lr=2e-4",
    "optim.g.lr=1e-4",
    "optim.d.betas=[0.5,0.99]",
    "optim.g.betas=[0.5,0.99]",
    "train.batch_size=128",
]


def cell(mean_se: tuple[float, float | None], scale: float = 1.0, digits: int = 2) -> str:
    mean, se = mean_se
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    text = f"{mean * scale:.{digits}f}"
    if se is not None and not math.isnan(se):
        text += f"±{se * scale:.{digits}f}"
    return text


def arm_of(summary: dict, arm: str) -> dict | None:
    """One arm's statistics from a summary (None where the folder has no such arm)."""
    return next((a for a in summary["arms"] if a["arm"] == arm), None)


def ours_cell(summary: dict, arm: str, metric: str, scale: float, digits: int) -> str:
    """Our mean±SE; where the metric is undefined in some runs (KL with no high-quality sample),
    the count it averages over, so a mean of 3 runs does not pass for one of 5."""
    a = arm_of(summary, arm)
    if a is None or metric not in a["metrics"]:
        return cell((math.nan, math.nan))
    m = a["metrics"][metric]
    text = cell((m["mean"], m["se"]), scale, digits)
    if 0 < m["n"] < a["runs"]:
        text += f" ({m['n']} of {a['runs']} runs)"
    return text


def row_name(arm: str) -> str:
    names = {
        "base": "baseline",
        "+preset:recommended": "recommended",
        f"+{PACGAN2}": "PacGAN2 (100 packs of 2)",
        f"+{PACGAN4}": "PacGAN4 (100 packs of 4)",
    }
    return names.get(arm, arm)


def source(summaries: list[dict | None], arm: str) -> str:
    """'ours, STEPS steps, K seeds', with the seeds actually finished (an interrupted table has fewer)."""
    done = []
    for summary in summaries:
        if summary is not None:
            a = arm_of(summary, arm)
            done.append(f"{a['runs'] if a else 0}" + ("" if a and a["runs"] >= summary["seeds"] else f" of {summary['seeds']}"))
    steps = next(s["steps"] for s in summaries if s is not None)
    seeds = done[0] if len(set(done)) == 1 else " / ".join(done)
    return f"ours, {steps} steps, {seeds} seeds"


def table_2d(summaries: dict[str, dict]) -> str:
    ring, grid = summaries.get("ring8"), summaries.get("grid25")
    arms = [a["arm"] for a in (ring or grid)["arms"]]
    lines = [
        "| method | source | ring modes | ring HQ % | ring KL | grid modes | grid HQ % | grid KL |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, vals in PUBLISHED_2D.items():
        cells = [cell(v, 1, 1 if i in (0, 1, 3, 4) else 2) for i, v in enumerate(vals)]
        lines.append(f"| {name} | PacGAN Table 1, 400k steps | " + " | ".join(cells) + " |")
    for arm in arms:
        cells = []
        for summary in (ring, grid):
            if summary is None:
                cells += ["not run"] * 3
                continue
            cells += [
                ours_cell(summary, arm, "modes", 1, 1),
                ours_cell(summary, arm, "hq", 100, 1),
                ours_cell(summary, arm, "kl", 1, 2),
            ]
        lines.append(f"| {row_name(arm)} | {source([ring, grid], arm)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table_stacked(summary: dict) -> str:
    lines = ["| method | source | modes (of 1000) | KL |", "|---|---|---|---|"]
    for name, (modes, kl) in PUBLISHED_STACKED.items():
        lines.append(f"| {name} | PacGAN Table 3, D = 1/4 G | {cell(modes, 1, 1)} | {cell(kl)} |")
    for a in summary["arms"]:
        lines.append(
            f"| {row_name(a['arm'])} | {source([summary], a['arm'])} | "
            f"{ours_cell(summary, a['arm'], 'modes', 1, 1)} | {ours_cell(summary, a['arm'], 'kl', 1, 2)} |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data",
        default="ring8,grid25",
        help="2D data sets (default ring8,grid25; an empty string with --stacked runs Stacked MNIST alone)",
    )
    p.add_argument("--tricks", default=",".join(MLP_TRICKS), help="arms added to the baseline (default: every MLP trick)")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument(
        "--eval-at",
        default="",
        metavar="N[,N...]",
        help="also evaluate the 2D runs at these steps, each budget with its own verdicts (as ganhacks ablate --eval-at)",
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", help="train every run on this device (cpu, cuda, cuda:N), as ganhacks ablate --device")
    p.add_argument(
        "--cuda-graph",
        choices=["true", "false", "auto"],
        help="train every run with train.cuda_graph=MODE, as ganhacks ablate --cuda-graph",
    )
    p.add_argument("--stack", default="auto", help="auto, off or K: train compatible runs as stacks (as ganhacks ablate --stack)")
    p.add_argument("--out", default="bench/paper_tables")
    p.add_argument("--first", help="train these arms' missing runs before the others' (as ganhacks ablate --first)")
    p.add_argument(
        "--coords",
        choices=["raw", "unit"],
        default="raw",
        help="2D coordinates: raw, PacGAN's own (default), or unit, scaled into [-1, 1] (folders made before 2026-12-02)",
    )
    p.add_argument("--stacked", action="store_true", help="also run Stacked MNIST, D = 1/4 G")
    p.add_argument("--stacked-steps", type=int, default=5000)
    p.add_argument("--fast", action="store_true", help="smoke run: ring8, 3 tricks, 2 seeds, 30 steps")
    p.add_argument(
        "--no-run",
        action="store_true",
        help="train nothing: print the table from the runs already finished in --out (rows show how many seeds)",
    )
    args = p.parse_args()
    if args.fast:
        args.data, args.tricks, args.seeds, args.steps = "ring8", "tricks.pack,tricks.replay,preset:recommended", 2, 30
        args.out = str(Path(args.out) / "fast")
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    made_by: list[str] = []  # the machine and command behind each folder's runs

    def collect(folder: Path, plan: Plan) -> dict:
        if not args.no_run:
            made_by.append(f"{plan.machine}\n\n`{plan.command}`")
            first = [t.strip() for t in (args.first or "").split(",") if t.strip()]
            return ablate(
                folder, plan, workers=args.workers, progress=main_progress, stack=args.stack, device=args.device,
                cuda_graph=args.cuda_graph, first=first,
            )  # fmt: skip
        found = Ablation(folder)
        if not found.plan_file.is_file():
            sys.exit(f"'{folder}' holds no ablation; run without --no-run first to train it.")
        stored = found.read_plan()
        made_by.append(f"{folder.name}: {stored.machine}, started {stored.created}\n\n`{stored.command}`")
        return found.summarize(stored)

    datasets = [d.strip() for d in args.data.split(",") if d.strip()]
    if not datasets and not args.stacked:
        sys.exit("Nothing to run: name 2D data sets with --data, or add --stacked.")
    summaries = {}
    for data in datasets:
        plan = Plan(
            data=data,
            tricks=[t for t in args.tricks.split(",") if t],
            seeds=args.seeds,
            steps=args.steps,
            # "unit" is data.coords' default, left out of --set so folders made before the key existed resume
            set=["data.coords=raw"] if args.coords == "raw" else [],
            eval_at=sorted({int(b) for b in args.eval_at.split(",") if b.strip()}),
            command=command,
            machine=machine_description(),
        )
        summaries[data] = collect(Path(args.out) / data, plan)
    out = [table_2d(summaries)] if summaries else []  # `--data '' --stacked`: Stacked MNIST alone
    if args.stacked:
        plan = Plan(
            data="stacked-mnist",
            tricks=["preset:recommended", "tricks.pack.m=4"],
            seeds=args.seeds,
            steps=args.stacked_steps,
            set=STACKED_SET,
            command=command,
            machine=machine_description(),
        )
        out.append(table_stacked(collect(Path(args.out) / "stacked-mnist", plan)))
    out.insert(0, "# PacGAN's tables beside ours\n\n" + "\n\n".join(dict.fromkeys(made_by)) + "\n")
    text = "\n\n".join(out) + "\n"
    print(text)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "paper_tables.md").write_text(text, encoding="utf-8")
    (Path(args.out) / "paper_tables.json").write_text(json.dumps({k: v["arms"] for k, v in summaries.items()}, indent=1))
    return 0


if __name__ == "__main__":
    from ganhacks.training import stop

    # As `ganhacks ablate`: SIGINT or SIGTERM to this process stops its workers at a step boundary,
    # each run keeping its checkpoint, rather than leaving them training on as orphans.
    try:
        with stop.on_signals():
            sys.exit(main())
    except stop.Stopped as e:
        print(str(e), file=sys.stderr)
        sys.exit(e.exit_code)
