"""Compare two ablation folders of one plan (a stored folder and its retrain): what moved.

    .venv/bin/python benchmarks/compare_folders.py docs/results/mnist5k-modern \\
        docs/results/retrained-2026-12-06/mnist5k-modern

For each trick of the plan it prints the headline difference, p, raw and Benjamini-Hochberg adjusted
verdicts and the failure rates (with / without) of both folders side by side, then each arm's failure
rate, and counts what moved. Both folders' statistics are computed afresh from their results.csv with
this version's ``ganhacks.bench.ablate.summarize``, so a difference is one of runs or of the doctor
that judged them (results.csv's ``healthy`` column), never of the statistics. Nothing is trained.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from ganhacks.bench.ablate import fmt_p, load_plan, rows_from_csv, summarize
from ganhacks.bench.report import fmt_rate


def summary(folder: Path) -> dict[str, Any]:
    """The statistics of ``folder`` (its ablation.json and results.csv) as this version computes them."""
    plan_file, table = folder / "ablation.json", folder / "results.csv"
    for f in (plan_file, table):
        if not f.is_file():
            raise SystemExit(f"error: {f} does not exist; give ablation folders that hold ablation.json and results.csv.")
    return summarize(load_plan(plan_file), rows_from_csv(table.read_text(encoding="utf-8")))


def _moved(a: str, b: str) -> str:
    return a if a == b else f"**{a} → {b}**"


def compare(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], dict[str, int]]:
    """Markdown lines comparing two summaries of one plan, and counts of what moved."""
    if (old["data"], old["steps"]) != (new["data"], new["steps"]):
        raise SystemExit(
            f"error: the folders hold different plans ({old['data']} at {old['steps']} steps, {new['data']} at {new['steps']}); "
            "give two folders of one plan."
        )
    effects = {(e["trick"], e["role"]): e for e in new["effects"]}
    lines = [
        "| trick | Δ (stored → retrained) | p (t) | verdict | adjusted verdict | failure rate with / without |",
        "|---|---|---|---|---|---|",
    ]
    moved = {"verdict": 0, "adjusted": 0, "failure rate": 0}
    for e in old["effects"]:
        f = effects.get((e["trick"], e["role"]))
        if f is None:
            continue
        head = e["headline"]
        d_old = e["metrics"][head]["diff"] if head else math.nan
        d_new = f["metrics"][head]["diff"] if head and head in f["metrics"] else math.nan
        rate_old = f"{fmt_rate(e['failure_rate_with'])} / {fmt_rate(e['failure_rate_without'])}"
        rate_new = f"{fmt_rate(f['failure_rate_with'])} / {fmt_rate(f['failure_rate_without'])}"
        moved["verdict"] += e["verdict"] != f["verdict"]
        moved["adjusted"] += e["verdict_adjusted"] != f["verdict_adjusted"]
        moved["failure rate"] += rate_old != rate_new
        name = e["trick"] if e["role"] == "add" else f"-{e['trick']}"
        lines.append(
            f"| {name} | {head}: {d_old:+.4g} → {d_new:+.4g} | {fmt_p(e['p'])} → {fmt_p(f['p'])} | {_moved(e['verdict'], f['verdict'])} | "
            f"{_moved(e['verdict_adjusted'], f['verdict_adjusted'])} (q {fmt_p(e['q'])} → {fmt_p(f['q'])}) | {_moved(rate_old, rate_new)} |"
        )
    arms = {a["arm"]: a for a in new["arms"]}
    lines += ["", "| arm | runs | failure rate (stored → retrained) |", "|---|---|---|"]
    for a in old["arms"]:
        b = arms.get(a["arm"])
        if b is not None:
            lines.append(
                f"| {a['arm']} | {a['runs']} → {b['runs']} | {_moved(fmt_rate(a['failure_rate']), fmt_rate(b['failure_rate']))} |"
            )
    return lines, moved


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stored", type=Path, help="the stored ablation folder")
    ap.add_argument("retrained", type=Path, help="a folder of the same plan, trained again")
    args = ap.parse_args(argv)
    lines, moved = compare(summary(args.stored), summary(args.retrained))
    print("\n".join(lines))
    print("\nmoved: " + ", ".join(f"{n} {what}" for what, n in moved.items()))
    print(f"command: .venv/bin/python benchmarks/compare_folders.py {args.stored} {args.retrained}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
