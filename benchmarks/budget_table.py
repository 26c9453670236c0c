"""Every metric of an ablation folder at every budget it evaluated (--eval-at and the final step),
per arm, and each arm's paired difference from a reference arm, as Markdown tables.

    python benchmarks/budget_table.py docs/results/grid25-presets-20k
    python benchmarks/budget_table.py DIR --against +preset:recommended --metrics modes,kl

The statistics are the report's (ganhacks.bench.stats: mean ± SE over seeds, the paired t 95 % CI
and p); the report gives them for the headline metric only, this gives them for every metric and
against any arm, which is what a preset-against-preset comparison needs. Reads a folder with its
runs or one kept without them (ablation.json and results.csv).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ganhacks.bench import stats
from ganhacks.bench.ablate import Ablation, rows_at


def values(rows: list[dict], arm: str, metric: str) -> dict[int, float]:
    """Seed -> the metric, for the arm's rows with a finite value (rows as they stood at one budget)."""
    out = {}
    for r in rows:
        v = r.get("metrics", {}).get(metric) if r["arm"] == arm else None
        if isinstance(v, (int, float)) and math.isfinite(v):
            out[r["seed"]] = float(v)
    return out


def _fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3g}" if abs(x) < 10 else f"{x:.1f}"


def tables(path: Path, against: str | None = None, metrics: list[str] | None = None) -> str:
    folder = Ablation(path)
    plan = folder.read_plan()
    rows = folder.results(plan)
    arms = [a.name for a in plan.arms()]
    metrics = metrics or sorted({m for r in rows for m in r.get("metrics", {})})
    # Each budget's rows as the report reads them: the final budget is the runs' own final evaluation.
    at = {b: rows if b == plan.steps else rows_at(rows, b) for b in plan.budgets()}
    lines = [f"{path}: {len(rows)} runs; mean ± SE over seeds", "", "| arm | seeds | budget | " + " | ".join(metrics) + " |"]
    lines.append("|---" * (3 + len(metrics)) + "|")
    for arm in arms:
        for b in at:
            cells, seeds = [], set()
            for m in metrics:
                v = values(at[b], arm, m)
                seeds |= set(v)
                mean, se = stats.mean_se(list(v.values())) if v else (math.nan, math.nan)
                cells.append(f"{_fmt(mean)} ± {_fmt(se)}" if v else "")
            if seeds:
                lines.append(f"| {arm} | {len(seeds)} | {b} | " + " | ".join(cells) + " |")
    ref = against or arms[0]
    if ref not in arms:
        raise SystemExit(f"--against names no arm of {path}; its arms are {', '.join(arms)}.")
    lines += ["", f"Paired by seed against `{ref}`: Δ [95 % CI], p (paired t)", ""]
    lines += ["| arm | budget | " + " | ".join(f"Δ {m}" for m in metrics) + " |", "|---" * (2 + len(metrics)) + "|"]
    for arm in arms:
        if arm == ref:
            continue
        for b in at:
            cells = []
            for m in metrics:
                c = stats.compare(values(at[b], arm, m), values(at[b], ref, m))
                cells.append(f"{_fmt(c.diff)} [{_fmt(c.lo)}, {_fmt(c.hi)}], {_fmt(c.p)} (n={c.n})" if c.n else "")
            lines.append(f"| {arm} | {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="an ablation folder (or one kept in docs/results/)")
    p.add_argument("--against", help="the reference arm (default: the base)")
    p.add_argument("--metrics", help="comma-separated metrics (default: every one the runs have)")
    args = p.parse_args(argv)
    sys.stdout.write(tables(args.folder, args.against, args.metrics.split(",") if args.metrics else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
