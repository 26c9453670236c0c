"""One table of every trick's verdict across several ablation folders, and the `recommended` rule.

    .venv/bin/python benchmarks/verdict_matrix.py ring8=bench/paper/ring8 grid25=bench/paper/grid25 \\
        mnist5k=bench/ablate-mnist5k mnist5k=bench/ablate-mnist5k-c

Each argument is LABEL=FOLDER; a label may be given several folders (one data set ablated in several
calls), and a trick measured in more than one of them is taken from the last. Rows are add-one
effects in the seed's trick order, cells the headline metric's difference, its 95 % CI and the
verdict, exactly as each folder's statistics compute them. Nothing is trained and nothing is written
into the folders.

The matrix asks many questions at once (tricks × data sets), so each cell's p value is also
Benjamini-Hochberg adjusted over every complete cell of the matrix (whatever --tricks shows), and a
cell whose adjusted verdict differs from its raw one says so: "(adjusted: no evidence)".

The rule printed last is the one docs/results.md states for the `recommended` preset: a trick joins
it when its adjusted headline verdict is `helps` on at least one data set and `hurts` on none, with
every data set measured. Tricks that need labels (conditional, AC-GAN) and preset arms are left out: the
preset is for unlabelled data, and a preset is not a trick.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ganhacks.bench.ablate import Ablation, adjusted, summarize
from ganhacks.tricks.catalogue import CATALOGUE

NEEDS_LABELS = ("tricks.conditional", "tricks.acgan")


def switch_key(spec: str) -> str:
    """The config key an arm spec sets first: 'tricks.label_smoothing.mode=x' -> 'tricks.label_smoothing.mode'."""
    key = spec.split("+")[0].split("=")[0]
    if "." not in key and key not in {c.key for c in CATALOGUE}:
        key = f"tricks.{key}"  # --tricks accepts a switch without its 'tricks.' prefix
    return key


def under(key: str, section: str) -> bool:
    return key == section or key.startswith(section + ".")


def seed_number(spec: str) -> int | None:
    """The seed's trick number of an arm spec such as 'tricks.label_smoothing.mode=two_sided_random'."""
    key = switch_key(spec)
    hits = [c for c in CATALOGUE if under(key, c.key)]
    return max(hits, key=lambda c: len(c.key)).number if hits else None


def seed_numbers(spec: str) -> list[int]:
    """The seed's trick numbers of every setting an arm spec joins with '+', in order, each once."""
    out: list[int] = []
    for part in spec.split(" = ")[0].split("+"):
        n = seed_number(part)
        if n is not None and n not in out:
            out.append(n)
    return out


def effects(folder: Path) -> tuple[str, dict[str, int], dict[str, dict]]:
    """(headline metric, metric directions, {trick spec: its add-one effect}) of one ablation folder,
    computed afresh."""
    found = Ablation(folder)
    if not found.plan_file.is_file():
        sys.exit(f"'{folder}' holds no ablation; pass folders that `ganhacks ablate` wrote.")
    plan = found.read_plan()
    summary = summarize(plan, found.results(plan))
    overrides = {a["arm"]: a["overrides"] for a in summary["arms"]}
    out = {}
    for e in summary["effects"]:
        if e["role"] != "add":
            continue
        key = e["trick"]
        if key.startswith("preset:"):  # a preset means what it meant when the folder was made: say what
            key += " = " + ", ".join(overrides[e["with"]])
        out[key] = e
    return summary["primary"], summary["directions"], out


def cell(effect: dict | None, primary: str) -> str:
    if effect is None:
        return "not run"
    verdict = effect["verdict"]
    label = f"**{verdict}**" if verdict in ("helps", "hurts") else verdict
    if verdict == "pending":
        label = f"pending ({effect['seeds_done']} seeds)"
    head = effect.get("headline") or primary
    m = effect["metrics"].get(head)
    if m is None or math.isnan(m["diff"]):
        return label if verdict == "pending" else f"{label} (Δ undefined)"
    lo, hi = m["ci"]
    on = f" on {head}" if head != primary else ""  # the primary metric is undefined in some runs
    adjusted = effect.get("matrix_verdict", verdict)
    note = f" (adjusted: {adjusted})" if adjusted != verdict else ""
    return f"{label}{on} {m['diff']:+.3g} [{lo:.3g}, {hi:.3g}]{note}"


def adjust_matrix(labels: dict[str, dict[str, dict]], directions: dict[str, dict[str, int]]) -> None:
    """Set ``matrix_q`` and ``matrix_verdict`` on every complete cell: its headline p, adjusted by
    Benjamini-Hochberg over all the matrix's complete cells."""
    cells = [(label, e) for label, found in labels.items() for e in found.values() if e["verdict"] != "pending"]
    results = adjusted([e for _, e in cells], [directions[label] for label, _ in cells])
    for (_, e), (q, verdict) in zip(cells, results, strict=True):
        e["matrix_q"], e["matrix_verdict"] = q, verdict


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", metavar="LABEL=FOLDER")
    p.add_argument(
        "--tricks",
        help="only these rows, comma-separated as the folders spell them (preset:recommended, tricks.pack.m=4); "
        "the rule is then not applied, as it needs every trick",
    )
    args = p.parse_args()
    only = [t.strip() for t in args.tricks.split(",") if t.strip()] if args.tricks else None
    labels: dict[str, dict[str, dict]] = {}
    primaries: dict[str, str] = {}
    directions: dict[str, dict[str, int]] = {}
    for item in args.folders:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            sys.exit(f"'{item}' is not LABEL=FOLDER; write e.g. ring8=bench/paper/ring8.")
        primary, direction, found = effects(Path(path))
        directions.setdefault(label, {}).update(direction)
        if primaries.setdefault(label, primary) != primary:
            sys.exit(
                f"'{label}' folders disagree on the headline metric ({primaries[label]} and {primary}); give them different labels."
            )
        labels.setdefault(label, {}).update(found)

    adjust_matrix(labels, directions)
    order: list[str] = []
    for found in labels.values():
        order += [t for t in found if t not in order]
    order.sort(key=lambda t: (seed_numbers(t) or [99])[0])  # stable: first-seen order within a number
    if only is not None:
        order = [t for t in order if t.split(" = ")[0] in only]
        if not order:
            sys.exit(f"None of {', '.join(only)} is an arm of these folders; spell them as `ganhacks ablate --tricks` did.")

    lines = [
        "| # | trick | " + " | ".join(f"{label} (Δ {primaries[label]})" for label in labels) + " |",
        "|---|---|" + "---|" * len(labels),
    ]
    for trick in order:
        numbers = ", ".join(map(str, seed_numbers(trick))) or "–"
        cells = [cell(labels[label].get(trick), primaries[label]) for label in labels]
        lines.append(f"| {numbers} | {trick} | " + " | ".join(cells) + " |")

    if only is not None:
        print("\n".join(lines))
        return 0
    chosen, reasons = [], []
    for trick in order:
        if trick.startswith("preset:") or any(under(switch_key(trick), k) for k in NEEDS_LABELS):
            continue
        verdicts = [labels[label].get(trick, {}).get("matrix_verdict", "not run") for label in labels]
        if any(v in ("not run", "pending") for v in verdicts):
            reasons.append(f"{trick}: not measured on every data set yet")
        elif "helps" in verdicts and "hurts" not in verdicts:
            chosen.append(trick)
    lines += [
        "",
        "Rule (adjusted verdict helps on one or more data sets, hurts on none): " + (", ".join(chosen) or "no trick"),
    ]
    lines += [f"- {r}" for r in reasons]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
