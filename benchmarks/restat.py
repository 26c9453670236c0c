"""Recompute the statistics of kept ablation folders and rewrite their report.md, listing what changed.

    .venv/bin/python benchmarks/restat.py docs/results/*/        # rewrite, and list changed verdicts
    .venv/bin/python benchmarks/restat.py --check docs/results/*/  # list only; write nothing

A kept folder is what docs/results/ holds of an ablation: its ablation.json and results.csv (the
runs themselves stay on the machine that trained them). The statistics come afresh from those rows
with the current ganhacks.bench.stats, so a change of test shows up in every report at once. For
each folder it prints the headline verdicts that differ from the report.md it replaces: the old
verdict, the new raw one and the new FDR-adjusted one. Nothing is trained.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganhacks.bench.ablate import Ablation, summarize, verdict_text
from ganhacks.bench.report import _write, ablation_markdown


def old_verdicts(report: Path) -> dict[tuple[str, str], str]:
    """(trick, test) -> the verdict cell of the verdict table in an earlier report.md."""
    if not report.is_file():
        return {}
    out: dict[tuple[str, str], str] = {}
    header: list[str] | None = None
    for line in report.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if "trick" not in header or "verdict" not in header or set(line) <= set("|-"):
            continue
        row = dict(zip(header, cells, strict=False))
        out[(row["trick"].replace("\\|", "|"), row.get("test", ""))] = row["verdict"]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--check", action="store_true", help="list the changes without rewriting report.md")
    args = p.parse_args()
    changed = 0
    for path in args.folders:
        folder = Ablation(path)
        if not folder.plan_file.is_file():
            sys.exit(f"'{path}' holds no ablation.json; pass folders that `ganhacks ablate` wrote.")
        plan = folder.read_plan()
        rows = folder.results(plan)
        summary = summarize(plan, rows)
        before = old_verdicts(path / "report.md")
        lines = []
        for e in summary["effects"]:
            test = "added to base" if e["role"] == "add" else "removed from full set"
            new = verdict_text(e, summary)
            old = before.get((e["trick"], test))
            adjusted = verdict_text(e, summary, "verdict_adjusted")
            if old is not None and (old.split(" (")[0] != new.split(" (")[0] or new.split(" (")[0] != adjusted.split(" (")[0]):
                lines.append(f"  {e['trick']} ({test}): {old} -> {new}; adjusted: {adjusted}")
        print(f"{path}: {len(lines)} verdict(s) changed")
        print("\n".join(lines)) if lines else None
        changed += len(lines)
        if not args.check:
            _write(path / "report.md", ablation_markdown(plan, summary, len(rows)))
    print(f"{changed} verdict(s) changed in {len(args.folders)} folder(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
