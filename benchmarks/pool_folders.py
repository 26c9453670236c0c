"""Pool the paired differences of several ablation folders that ran the same arms, and test once.

    .venv/bin/python benchmarks/pool_folders.py docs/results/ring8-modern \\
        docs/results/retrained-2026-12-06/ring8-modern --metric kl

Two folders of the same plan trained on different machines do not hold the same runs: a CPU's float
kernels move a chaotic 2D run's trajectory, so seed 3 on one machine is another draw than seed 3 on
the other (docs/results.md, "Retrained so they keep their records"). Each folder is then an
independent sample of the same seed population, and their (arm - base) differences, paired within
each folder, can be pooled: n folders of 10 seeds give up to 10 n pairs. This prints, per arm, each
folder's mean difference and the pooled paired t interval, p, sign-flip p, Benjamini-Hochberg q over
the table and the verdicts, with the statistics of ``ganhacks.bench.stats``. Nothing is trained.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ganhacks.bench import stats
from ganhacks.bench.ablate import rows_from_csv


def differences(folder: Path, metric: str) -> dict[str, list[float]]:
    """Arm -> its (arm - base) differences of ``metric``, one per seed both arms have a value for."""
    table = folder / "results.csv"
    if not table.is_file():
        raise SystemExit(f"error: {table} does not exist; give ablation folders that hold a results.csv.")
    value: dict[tuple[str, int], float] = {}
    for r in rows_from_csv(table.read_text(encoding="utf-8")):
        v = r["metrics"].get(metric)
        if v is not None and math.isfinite(v):
            value[(r["arm"], r["seed"])] = v
    out: dict[str, list[float]] = {}
    for (arm, seed), v in sorted(value.items()):
        if arm != "base" and ("base", seed) in value:
            out.setdefault(arm, []).append(v - value[("base", seed)])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path, help="ablation folders of the same plan")
    ap.add_argument("--metric", default="kl", help=f"a results.csv column: {', '.join(stats.DIRECTIONS)}")
    args = ap.parse_args(argv)
    if args.metric not in stats.DIRECTIONS:
        raise SystemExit(
            f"error: --metric {args.metric!r} is not one the bench tests; choose one of {', '.join(stats.DIRECTIONS)}."
        )
    per = [differences(f, args.metric) for f in args.folders]
    arms = sorted(set().union(*per))
    tests = []
    for arm in arms:
        pooled = [d for p in per for d in p.get(arm, [])]
        mean, lo, hi, p = stats.paired_t(pooled) if len(pooled) >= stats.MIN_SEEDS else (math.nan,) * 4
        flip = stats.sign_flip_p(pooled) if len(pooled) >= stats.SIGNFLIP_MIN_SEEDS else math.nan
        tests.append((arm, pooled, mean, lo, hi, p, flip))
    qs = stats.bh_adjust([t[5] for t in tests])
    direction = stats.DIRECTIONS[args.metric]
    names = " | ".join(f"Δ {args.metric} in {f}" for f in args.folders)
    print(f"| arm | {names} | pairs | pooled Δ | 95 % CI (t) | p (t) | p (sign-flip) | verdict | q (BH) | adjusted verdict |")
    print("|---" * (9 + len(per)) + "|")
    for (arm, pooled, mean, lo, hi, p, flip), q in zip(tests, qs, strict=True):
        each = " | ".join(f"{sum(x[arm]) / len(x[arm]):+.3f} ({len(x[arm])})" if x.get(arm) else "–" for x in per)
        print(
            f"| {arm} | {each} | {len(pooled)} | {mean:+.3f} | [{lo:+.3f}, {hi:+.3f}] | {p:.2g} | {'n/a' if math.isnan(flip) else f'{flip:.2g}'} | "
            f"{stats.verdict(mean, p, direction)} | {q:.2g} | {stats.verdict(mean, q, direction)} |"
        )
    print(f"\ncommand: .venv/bin/python benchmarks/pool_folders.py {' '.join(map(str, args.folders))} --metric {args.metric}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
