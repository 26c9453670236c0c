"""Self-contained reports: one HTML file (plots inlined as PNG, no scripts, no network) and a Markdown twin.

``write_ablation_report`` covers an ablation folder; ``write_run_report`` a single run folder.
Every string that came from a user (data names, trick specs, overrides, doctor messages, paths)
is escaped before it is written.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganhacks.errors import GanhacksError

if TYPE_CHECKING:
    from ganhacks.bench.ablate import Ablation, Plan

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.helps{background:#d8f0d8}.hurts{background:#f6d4d4}.noev{color:#666}
figure{display:inline-block;margin:.4em;text-align:center}figcaption{font-size:.8em;max-width:260px;word-wrap:break-word}
img.plot{max-width:100%}img.sample{width:240px;image-rendering:pixelated}
code{background:#f4f4f4;padding:0 .2em}.meta td:first-child{font-weight:600;white-space:nowrap}
td{overflow-wrap:anywhere}
"""


def esc(value: Any) -> str:
    """HTML-escape anything for text or attribute context."""
    return html.escape(str(value), quote=True)


def md_esc(value: Any) -> str:
    """Escape a string for a Markdown table cell (no raw HTML, no cell breaks)."""
    text = str(value).replace("\n", " ").replace("\r", " ")
    return html.escape(text, quote=False).replace("|", "\\|").replace("`", "\\`")


def fmt(x: Any, digits: int = 4) -> str:
    if isinstance(x, float):
        return "n/a" if math.isnan(x) else f"{x:.{digits}g}"
    return str(x)


def _png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figure_uri(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return _png_uri(buf.getvalue())


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _img(uri: str, alt: str, cls: str = "plot") -> str:
    return f'<img class="{cls}" src="{uri}" alt="{esc(alt)}">'


def _page(title: str, body: list[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _table(header: list[str] | None, rows: list[list[str]], attrs: str = "") -> str:
    """``rows`` hold cells (``<td>`` HTML) escaped by the caller; the header is escaped here."""
    head = "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead>" if header else ""
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table {attrs}>{head}<tbody>{body}</tbody></table>"


def _td(value: Any, cls: str = "") -> str:
    return f'<td class="{cls}">{esc(value)}</td>' if cls else f"<td>{esc(value)}</td>"


def _verdict_class(verdict: str) -> str:
    return {"helps": "helps", "hurts": "hurts"}.get(verdict, "noev")


def _write(path: Path, text: str) -> None:
    from ganhacks.fileio import atomic_write

    atomic_write(path, text.encode("utf-8"))


# --------------------------------------------------------------------------- plots


def _curves(ax: Any, rows: list[dict[str, Any]], keys: list[str], log: bool = False) -> None:
    for key in keys:
        pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        if pts:
            ax.plot(*zip(*pts, strict=False), label=key, lw=1)
    if log:
        ax.set_yscale("symlog", linthresh=1e-3)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def _median_curve(runs: list[list[dict[str, Any]]], key: str) -> tuple[list[int], list[float]]:
    """The median over runs of ``key`` at each logged step (steps logged by every run)."""
    import numpy as np

    per_step: dict[int, list[float]] = {}
    for rows in runs:
        for r in rows:
            v = r.get(key)
            if isinstance(v, (int, float)) and math.isfinite(v):
                per_step.setdefault(int(r["step"]), []).append(float(v))
    steps = sorted(s for s, v in per_step.items() if len(v) == len(runs))
    return steps, [float(np.median(per_step[s])) for s in steps]


def _loss_grid(arm_runs: list[tuple[str, list[list[dict[str, Any]]]]]) -> str:
    plt = _pyplot()
    n = len(arm_runs)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False, sharex=True)
    for ax, (name, runs) in zip(axes.flat, arm_runs, strict=False):
        for key, colour in (("loss_d", "#1f77b4"), ("loss_g", "#d62728")):
            steps, med = _median_curve(runs, key)
            if steps:
                ax.plot(steps, med, color=colour, lw=1, label=key)
        ax.set_title(name[:40], fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    # The first panel with curves: runs kept without their metrics.jsonl (a folder brought back from a
    # device) have none to draw.
    drawn = next((ax for ax in axes.flat if ax.get_legend_handles_labels()[0]), None)
    if drawn is not None:
        drawn.legend(fontsize=7)
    fig.suptitle("loss curves: median over seeds", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return _figure_uri(fig)


def _metric_bars(summary: dict[str, Any]) -> str:
    plt = _pyplot()
    metrics = summary["metrics"]
    arms = summary["arms"]
    fig, axes = plt.subplots(len(metrics), 1, figsize=(max(5, 0.55 * len(arms) + 2), 2.3 * len(metrics)), squeeze=False)
    for ax, m in zip(axes[:, 0], metrics, strict=False):
        means = [a["metrics"][m]["mean"] for a in arms]
        lo = [a["metrics"][m]["mean"] - a["metrics"][m]["ci"][0] for a in arms]
        hi = [a["metrics"][m]["ci"][1] - a["metrics"][m]["mean"] for a in arms]
        err = [[0 if math.isnan(v) else v for v in lo], [0 if math.isnan(v) else v for v in hi]]
        colours = ["#888888" if a["role"] in ("base", "full") else "#1f77b4" for a in arms]
        ax.bar(range(len(arms)), [0 if math.isnan(v) else v for v in means], yerr=err, color=colours, capsize=3)
        better = "higher is better" if summary["directions"][m] > 0 else "lower is better"
        ax.set_title(f"{m} ({better}); mean over seeds, 95% t CI", fontsize=8)
        ax.set_xticks(range(len(arms)))
        ax.set_xticklabels([a["arm"][:28] for a in arms], rotation=35, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _figure_uri(fig)


def _forest(summary: dict[str, Any]) -> str | None:
    """The primary metric's difference (with - without) and CI per trick."""
    primary, effects = summary["primary"], summary["effects"]
    if not primary or not effects:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(effects) + 1.2))
    for i, e in enumerate(effects):
        m = e["metrics"][primary]
        colour = {"helps": "#2ca02c", "hurts": "#d62728"}.get(e["verdict"], "#777777")
        if not math.isnan(m["diff"]):
            ax.errorbar(m["diff"], i, xerr=[[m["diff"] - m["ci"][0]], [m["ci"][1] - m["diff"]]], fmt="o", color=colour, capsize=3)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(effects)))
    ax.set_yticklabels([f"{'+' if e['role'] == 'add' else '-'}{e['trick'][:36]}" for e in effects], fontsize=7)
    ax.invert_yaxis()
    better = "higher" if summary["directions"][primary] > 0 else "lower"
    ax.set_xlabel(f"{primary}: with trick minus without ({better} is better); 95% t CI", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _figure_uri(fig)


def budget_rows(summary: dict[str, Any]) -> tuple[list[int], list[dict[str, Any]]]:
    """With ``--eval-at``: the budgets, and one row per (trick, role) whose cells give the primary
    metric's difference, CI and raw / adjusted verdict at each budget. Shared by HTML and Markdown."""
    from ganhacks.bench.ablate import verdict_text

    budgets = summary.get("budgets") or []
    primary = summary["primary"]
    rows = []
    for i, e in enumerate(summary["effects"]):
        cells = []
        for b in budgets:
            be = b["effects"][i]
            m = be["metrics"].get(primary, {"diff": math.nan, "ci": [math.nan, math.nan]})
            raw = verdict_text(be, {**summary, "primary": primary})
            adjusted = be.get("verdict_adjusted", "n/a").split(" (")[0]
            cells.append(
                {
                    "diff": m["diff"],
                    "ci": m["ci"],
                    "verdict": raw if raw.split(" (")[0] == adjusted else f"{raw}; adjusted: {adjusted}",
                }
            )
        rows.append({"trick": e["trick"], "role": e["role"], "cells": cells})
    return [b["steps"] for b in budgets], rows


def _along_budget(summary: dict[str, Any]) -> str | None:
    """The primary metric's difference (with - without) against the budget, with CIs, one line per trick."""
    steps, rows = budget_rows(summary)
    primary = summary["primary"]
    # A trick with no finished pair of runs yet has nothing to draw, and an empty log axis cannot be drawn.
    rows = [r for r in rows if any(not math.isnan(c["diff"]) for c in r["cells"])]
    if len(steps) < 2 or not rows or not primary:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for j, r in enumerate(rows):
        d = [c["diff"] for c in r["cells"]]
        lo = [c["diff"] - c["ci"][0] for c in r["cells"]]
        hi = [c["ci"][1] - c["diff"] for c in r["cells"]]
        # a small sideways offset per trick so that overlapping error bars stay readable
        x = [s * (1 + 0.02 * (j - len(rows) / 2)) for s in steps]
        label = f"{'+' if r['role'] == 'add' else '-'}{r['trick'][:36]}"
        clean = [[0 if math.isnan(v) else v for v in lo], [0 if math.isnan(v) else v for v in hi]]
        ax.errorbar(x, d, yerr=clean, fmt="o-", capsize=3, label=label, lw=1)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_xticks(steps)
    ax.set_xticklabels([str(s) for s in steps], fontsize=7)
    better = "higher" if summary["directions"][primary] > 0 else "lower"
    ax.set_xlabel("training steps (budget)", fontsize=8)
    ax.set_ylabel(f"Δ {primary} ({better} is better)", fontsize=8)
    ax.set_title(f"effect on {primary} along the budget; 95% t CI", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return _figure_uri(fig)


# --------------------------------------------------------------------------- ablation report


def _last_sample(run: Path) -> Path | None:
    samples = sorted((run / "samples").glob("step_*.png"))
    return samples[-1] if samples else None


def verdict_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (trick, role): the primary metric's difference, CI and verdict, failure rates and
    the other metrics that have a verdict. Shared by the HTML and Markdown tables."""
    from ganhacks.bench.ablate import fmt_p, verdict_text

    primary = summary["primary"]
    rows = []
    for e in summary["effects"]:
        m = e["metrics"].get(primary, {"diff": math.nan, "ci": [math.nan, math.nan]})
        evidence = [
            f"{k}: {v['verdict']}"
            for k, v in e["metrics"].items()
            if k not in (primary, e.get("headline")) and v["verdict"] in ("helps", "hurts")
        ]
        rows.append(
            {
                "trick": e["trick"],
                "test": "added to base" if e["role"] == "add" else "removed from full set",
                "diff": m["diff"],
                "ci": m["ci"],
                "p": fmt_p(m.get("p")),
                "p_signflip": fmt_p(m.get("p_signflip")),
                "q": fmt_p(e.get("q")),
                "verdict": verdict_text(e, summary),
                "adjusted": verdict_text(e, summary, "verdict_adjusted"),
                "fail": f"{fmt_rate(e['failure_rate_with'])} / {fmt_rate(e['failure_rate_without'])}",
                "others": "; ".join(evidence) or "none",
            }
        )
    return rows


def method_text() -> str:
    """How the verdict tables are computed, for the reports' headers."""
    from ganhacks.bench import stats

    return (
        "Effect = mean over seeds of (runs with the trick) − (runs without it), paired by seed. "
        f"95 % CI and p: the {stats.TEST_NAME}, two-sided; helps / hurts when p < 0.05 (the CI excludes 0), "
        "otherwise no evidence; pending until both arms have every seed. "
        f"p (sign-flip): the exact sign-flip permutation test, from {stats.SIGNFLIP_MIN_SEEDS} paired seeds on "
        "(below that it cannot reach 0.05). "
        f"q (BH): {stats.FDR_NAME} adjusted p over this table's tests; the adjusted verdict (q < 0.05) keeps the "
        "false discovery rate across the table at 5 %. "
        "Failure rate: the share of seeds the doctor called unhealthy, with / without the trick."
    )


def fmt_rate(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.0%}"


def write_ablation_report(folder: Ablation, plan: Plan, summary: dict[str, Any]) -> Path:
    """Write ``report.html`` and ``report.md`` into the ablation folder; returns the HTML path."""
    from ganhacks.training.rundir import RunDir

    primary = summary["primary"] or "(no metric)"
    rows = folder.results(plan)
    arms = plan.arms()
    finished = len(rows)
    body = [f"<h1>ganhacks ablation: {esc(plan.data)}</h1>"]
    meta = [
        ("data", plan.data),
        ("base preset", plan.base),
        ("mode", plan.mode),
        ("tricks", ", ".join(plan.tricks)),
        ("--set", " ".join(plan.set) or "none"),
        ("steps per run", plan.steps),
        ("seeds", plan.seeds),
        ("runs finished", f"{finished} of {len(arms) * plan.seeds}"),
        ("started", plan.created),
        ("machine", plan.machine),
        ("command", plan.command),
    ]
    if plan.source:
        meta.append(("plan from", f"{plan.source} (--from: every arm trains the settings pinned there)"))
    if changed := plan.drift():
        meta.append(("settings changed since", "; ".join(changed)))
    body.append(_table(None, [[_td(k), _td(v)] for k, v in meta], 'class="meta"'))

    body.append(f"<h2>Verdicts ({esc(primary)})</h2>")
    body.append(f"<p>{esc(method_text())}</p>")
    vrows = []
    for r in verdict_rows(summary):
        vrows.append(
            [
                _td(r["trick"]),
                _td(r["test"]),
                _td(fmt(r["diff"]), "num"),
                _td(f"[{fmt(r['ci'][0])}, {fmt(r['ci'][1])}]", "num"),
                _td(r["p"], "num"),
                _td(r["p_signflip"], "num"),
                _td(r["verdict"], _verdict_class(r["verdict"])),
                _td(r["q"], "num"),
                _td(r["adjusted"], _verdict_class(r["adjusted"])),
                _td(r["fail"], "num"),
                _td(r["others"]),
            ]
        )
    header = [
        "trick",
        "test",
        f"Δ {primary}",
        "95% CI",
        "p (t)",
        "p (sign-flip)",
        "verdict",
        "q (BH)",
        "adjusted verdict",
        "failure rate (with / without)",
        "other metrics with evidence",
    ]
    body.append(_table(header, vrows, 'id="verdicts"'))
    forest = _forest(summary)
    if forest:
        body.append(_img(forest, f"difference in {primary} per trick, with 95% confidence intervals"))
    steps, brows = budget_rows(summary)
    if len(steps) > 1:
        body.append("<h2>Along the budget</h2>")
        body.append(
            f"<p>Every run was also evaluated at {', '.join(map(str, steps[:-1]))} steps; each budget is its own table "
            f"(its own FDR adjustment). Cells: Δ {esc(primary)} [95% CI] and the verdict.</p>"
        )
        trows = [
            [_td(("+" if r["role"] == "add" else "-") + r["trick"])]
            + [_td(f"{fmt(c['diff'])} [{fmt(c['ci'][0])}, {fmt(c['ci'][1])}] {c['verdict']}") for c in r["cells"]]
            for r in brows
        ]
        body.append(_table(["trick", *[f"{s} steps" for s in steps]], trows, 'id="budgets"'))
        plot = _along_budget(summary)
        if plot:
            body.append(_img(plot, f"difference in {primary} against the budget, with 95% confidence intervals"))

    body.append("<h2>Arms</h2>")
    arm_rows = []
    for a in summary["arms"]:
        cells = [_td(a["arm"]), _td(a["runs"], "num"), _td(fmt_rate(a["failure_rate"]), "num")]
        for m in summary["metrics"]:
            s = a["metrics"][m]
            cells.append(_td(f"{fmt(s['mean'])} ± {fmt(s['se'], 2)}", "num"))
        cells.append(_td(fmt(a["wall_s"], 3), "num"))
        arm_rows.append(cells)
    body.append(_table(["arm", "runs", "failure rate", *[f"{m} (mean ± SE)" for m in summary["metrics"]], "train s"], arm_rows))
    if summary["metrics"] and finished:
        body.append(_img(_metric_bars(summary), "metric means per arm with 95% confidence intervals"))

    if finished:
        body.append("<h2>Loss curves</h2>")
        arm_runs = []
        for arm in arms:
            runs = [RunDir(folder.runs / r["run"]).read_metrics() for r in rows if r["arm"] == arm.name]
            if runs:
                arm_runs.append((arm.name, runs))
        body.append(_img(_loss_grid(arm_runs), "loss_d and loss_g per arm, median over seeds"))

        body.append("<h2>Samples (first finished seed of each arm, last step)</h2><div>")
        for arm in arms:
            mine = [r for r in rows if r["arm"] == arm.name]
            sample = _last_sample(folder.runs / mine[0]["run"]) if mine else None
            if sample is not None:
                caption = f"{arm.name}, seed {mine[0]['seed']}"
                body.append(
                    f"<figure>{_img(_png_uri(sample.read_bytes()), caption, 'sample')}<figcaption>{esc(caption)}</figcaption></figure>"
                )
        body.append("</div>")

    body.append("<h2>Doctor's events</h2>")
    event_rows = []
    for r in rows:
        for ev in RunDir(folder.runs / r["run"]).read_events():
            event_rows.append(
                [
                    _td(r["arm"]),
                    _td(r["seed"], "num"),
                    _td(ev.get("code", ev.get("event", ""))),
                    _td(ev.get("started", ev.get("step", "")), "num"),
                    _td(ev.get("message", "")),
                ]
            )
        if r.get("error"):
            event_rows.append([_td(r["arm"]), _td(r["seed"], "num"), _td("error"), _td(""), _td(r["error"])])
    if event_rows:
        body.append(_table(["arm", "seed", "event", "from step", "message"], event_rows, 'id="events"'))
    else:
        body.append("<p>No events: the doctor found every finished run healthy.</p>")

    path = folder.path / "report.html"
    _write(path, _page(f"ganhacks ablation: {plan.data}", body))
    _write(folder.path / "report.md", ablation_markdown(plan, summary, finished))
    return path


def ablation_markdown(plan: Plan, summary: dict[str, Any], finished: int) -> str:
    primary = summary["primary"] or "(no metric)"
    lines = [
        f"# ganhacks ablation: {md_esc(plan.data)}",
        "",
        f"- base preset `{md_esc(plan.base)}`, mode {md_esc(plan.mode)}, {plan.steps} steps per run, {plan.seeds} seeds, "
        f"{finished} of {len(plan.arms()) * plan.seeds} runs finished",
        f"- started {md_esc(plan.created)} on {md_esc(plan.machine)}",
        f"- command: `{md_esc(plan.command)}`" if plan.command else "- command: (Python API)",
        *([f"- plan from `{md_esc(plan.source)}` (--from: every arm trains the settings pinned there)"] if plan.source else []),
        *(f"- settings changed since (these runs keep the settings they were made with): {md_esc(d)}" for d in plan.drift()),
        "",
        f"Verdict on {md_esc(primary)}. " + md_esc(method_text()),
        "",
        f"| trick | test | Δ {md_esc(primary)} | 95 % CI | p (t) | p (sign-flip) | verdict | q (BH) | adjusted verdict | "
        "failure rate (with / without) | other metrics with evidence |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in verdict_rows(summary):
        lines.append(
            f"| {md_esc(r['trick'])} | {r['test']} | {fmt(r['diff'])} | [{fmt(r['ci'][0])}, {fmt(r['ci'][1])}] | "
            f"{r['p']} | {r['p_signflip']} | {r['verdict']} | {r['q']} | {r['adjusted']} | {r['fail']} | {md_esc(r['others'])} |"
        )
    steps, brows = budget_rows(summary)
    if len(steps) > 1:
        lines += [
            "",
            f"Along the budget: Δ {md_esc(primary)} [95 % CI] and the verdict at each budget, each its own table.",
            "",
            "| trick | " + " | ".join(f"{s} steps" for s in steps) + " |",
            "|---|" + "---|" * len(steps),
        ]
        for r in brows:
            cells = [f"{fmt(c['diff'])} [{fmt(c['ci'][0])}, {fmt(c['ci'][1])}] {c['verdict']}" for c in r["cells"]]
            lines.append(f"| {'+' if r['role'] == 'add' else '-'}{md_esc(r['trick'])} | " + " | ".join(cells) + " |")
    metrics = summary["metrics"]
    lines += ["", "| arm | runs | failure rate | " + " | ".join(f"{m} (mean ± SE)" for m in metrics) + " |"]
    lines.append("|---" * (3 + len(metrics)) + "|")
    for a in summary["arms"]:
        cells = [f"{fmt(a['metrics'][m]['mean'])} ± {fmt(a['metrics'][m]['se'], 2)}" for m in metrics]
        lines.append(f"| {md_esc(a['arm'])} | {a['runs']} | {fmt_rate(a['failure_rate'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- single-run report


def write_run_report(path: str | Path, max_samples: int = 8) -> Path:
    """Write ``report.html`` and ``report.md`` for one run folder: loss curves, metrics over time,
    samples over time and the doctor's verdict. Returns the HTML path."""
    from ganhacks.api import diagnose
    from ganhacks.bench.stats import DIRECTIONS
    from ganhacks.config import load_yaml
    from ganhacks.training.rundir import RunDir

    run = RunDir(path)
    result = diagnose(path)  # also checks that this is a run folder
    rows = run.read_metrics()
    config = load_yaml(run.config)
    tricks = sorted(k for k, v in (config.get("tricks") or {}).items() if v is not None)
    data = (config.get("data") or {}).get("name", "?")
    step = max((int(r.get("step", 0)) for r in rows), default=0)
    state = "healthy" if result["healthy"] else "unhealthy: " + ", ".join(result["failures"])

    name = f"{run.path.parent.name}/{run.path.name}"  # an ablation's run folders are all called seed_N
    body = [f"<h1>ganhacks run: {esc(name)}</h1>"]
    meta = [
        ("data", data),
        ("preset", config.get("preset", "?")),
        ("tricks on", ", ".join(tricks) or "none"),
        ("steps logged", f"{step} of {(config.get('train') or {}).get('steps', '?')}"),
        ("doctor's verdict", state),
    ]
    body.append(_table(None, [[_td(k), _td(v)] for k, v in meta], 'class="meta" id="verdict"'))

    if rows:
        plt = _pyplot()
        body.append("<h2>Training curves</h2>")
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
        _curves(axes[0], rows, ["loss_d", "loss_g"])
        _curves(axes[1], rows, ["d_real", "d_fake"])
        _curves(axes[2], rows, ["grad_norm_d", "grad_norm_g"], log=True)
        for ax, title in zip(axes, ("losses", "D's mean output", "gradient norms"), strict=False):
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("step", fontsize=8)
        body.append(_img(_figure_uri(fig), "losses, D outputs and gradient norms over steps"))
        over_time = [k for k in DIRECTIONS if any(k in r for r in rows)]
        over_time += sorted({k for r in rows for k in r if k.startswith("doctor/") and k != "doctor/finite"})
        if over_time:
            body.append("<h2>Metrics over time</h2>")
            cols = min(3, len(over_time))
            nrows = math.ceil(len(over_time) / cols)
            fig, axes = plt.subplots(nrows, cols, figsize=(4.3 * cols, 2.6 * nrows), squeeze=False)
            for ax, key in zip(axes.flat, over_time, strict=False):
                _curves(ax, rows, [key])
            for ax in list(axes.flat)[len(over_time) :]:
                ax.axis("off")
            fig.tight_layout()
            body.append(_img(_figure_uri(fig), "evaluation and probe metrics over steps"))

    samples = sorted(run.samples.glob("step_*.png"))
    if samples:
        body.append("<h2>Samples over time</h2><div>")
        pick = (
            samples
            if len(samples) <= max_samples
            else [samples[round(i * (len(samples) - 1) / (max_samples - 1))] for i in range(max_samples)]
        )
        for s in pick:
            caption = f"step {int(s.stem.split('_')[1])}"
            body.append(
                f"<figure>{_img(_png_uri(s.read_bytes()), caption, 'sample')}<figcaption>{esc(caption)}</figcaption></figure>"
            )
        body.append("</div>")

    eval_file = run.path / "eval.json"
    if eval_file.is_file():
        try:
            final = json.loads(eval_file.read_text(encoding="utf-8"))
        except ValueError:
            final = {}
        if final:
            body.append("<h2>Last evaluation (eval.json)</h2>")
            body.append(_table(["metric", "value"], [[_td(k), _td(fmt(v), "num")] for k, v in final.items()]))

    body.append("<h2>Doctor's events</h2>")
    events = [*result["events"], *result["actions"]]
    if events:
        body.append(
            _table(
                ["event", "from step", "message"],
                [
                    [
                        _td(e.get("code", e.get("event", ""))),
                        _td(e.get("started", e.get("step", "")), "num"),
                        _td(e.get("message", "")),
                    ]
                    for e in events
                ],
                'id="events"',
            )
        )
    else:
        body.append(f"<p>No events: healthy in {result['rows']} logged rows.</p>")

    out = run.path / "report.html"
    _write(out, _page(f"ganhacks run: {name}", body))
    md = [
        f"# ganhacks run: {md_esc(name)}",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {md_esc(v)} |" for k, v in meta],
        "",
        *[f"- {md_esc(e.get('message', ''))}" for e in events],
    ]
    _write(run.path / "report.md", "\n".join(md) + "\n")
    return out


def write_report(path: str | Path, rediagnose: bool = False, say: Callable[[str], None] | None = None) -> Path:
    """Regenerate the report of an ablation folder or a run folder from its files. With ``rediagnose``
    an ablation's runs are first judged again by today's doctor (:meth:`Ablation.rediagnose`), and
    ``say`` gets one line per run whose verdict changed."""
    from ganhacks.bench.ablate import Ablation

    p = Path(path)
    if not p.is_dir():
        raise GanhacksError(f"'{path}' does not exist or is not a folder; pass a run folder or an ablation folder.")
    if (p / "ablation.json").is_file():
        folder = Ablation(p)
        plan = folder.read_plan()
        if rediagnose:
            if not folder.runs.is_dir() and not folder.records.is_dir():
                raise GanhacksError(
                    f"'{path}' is kept without its runs or their records, so there is nothing to diagnose again; it needs runs/ or records/."
                )
            changed = folder.rediagnose(plan)
            for line in changed:
                (say or print)(line)
            (say or print)(f"{len(changed)} verdicts changed")
        return write_ablation_report(folder, plan, folder.summarize(plan))
    if (p / "config.yaml").is_file():
        return write_run_report(p)
    raise GanhacksError(f"'{path}' is neither a run folder (config.yaml) nor an ablation folder (ablation.json).")
