"""The bench: statistics, planning, the resumable ablation runner and its reports."""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from ganhacks.bench import stats
from ganhacks.bench.ablate import Ablation, Plan, ablate, parse_tricks, plan_arms, results_csv, rows_from_csv
from ganhacks.bench.report import write_report, write_run_report
from ganhacks.cli import main
from ganhacks.config import PRESETS
from ganhacks.errors import ConfigError, GanhacksError

# --------------------------------------------------------------------------- statistics


def test_mean_se_matches_hand_computation():
    mean, se = stats.mean_se([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert se == pytest.approx(math.sqrt(5 / 3) / 2)  # sample std sqrt(5/3), n = 4
    assert math.isnan(stats.mean_se([7.0])[1])


def test_paired_t_of_a_constant_difference_is_that_difference():
    without = {s: float(s) for s in range(5)}  # the seed moves both arms alike
    with_trick = {s: float(s) + 0.5 for s in range(5)}
    c = stats.compare(with_trick, without)
    assert c.paired and c.n == 5
    assert c.diff == pytest.approx(0.5) and c.lo == pytest.approx(0.5) and c.hi == pytest.approx(0.5)
    assert c.p == 0.0 and c.p_signflip is None  # sign-flip only from 6 pairs on
    assert stats.compare(without, dict(without)).p == 1.0  # no difference at all


def test_paired_t_matches_hand_computation():
    d = [1.0, 2.0, 3.0, 6.0]  # mean 3, sample sd sqrt(14/3), se sqrt(14/3)/2, df 3
    se = math.sqrt(14 / 3) / 2
    mean, lo, hi, p = stats.paired_t(d)
    assert mean == 3.0
    assert hi - mean == pytest.approx(3.182446305284263 * se)  # t_{0.975, 3}
    assert mean - lo == pytest.approx(hi - mean)
    assert p == pytest.approx(0.069137, abs=1e-6)  # 2 * P(T_3 > 3 / se), as scipy.stats.ttest_rel gives it


def test_welch_t_when_seeds_differ():
    c = stats.compare({0: 1.0, 1: 2.0, 2: 3.0}, {5: 0.0, 6: 1.0, 7: 2.0})
    assert not c.paired and c.p_signflip is None
    assert c.diff == pytest.approx(1.0)
    assert c.lo < 1.0 < c.hi
    # equal variances and sizes: Welch's t is the pooled t, t = 1 / sqrt(2/3), df = 4
    assert c.p == pytest.approx(0.2879, abs=1e-4)


def test_ci_covers_the_mean_difference_and_shrinks_with_more_seeds():
    import numpy as np

    rng = np.random.default_rng(1)
    widths = []
    for n in (5, 40):
        a = {s: float(v) for s, v in enumerate(rng.normal(1.0, 1.0, n))}
        b = {s: float(v) for s, v in enumerate(rng.normal(0.0, 1.0, n))}
        c = stats.compare(a, b)
        assert c.lo <= c.diff <= c.hi
        widths.append(c.hi - c.lo)
    assert widths[1] < widths[0]


def test_sign_flip_p_is_exact_and_reaches_its_floor():
    # every difference positive: only the observed pattern and its mirror are as extreme, p = 2/2^n
    assert stats.sign_flip_p([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) == pytest.approx(2 / 64)
    assert stats.sign_flip_p([1.0] * 5) == pytest.approx(2 / 32)  # > 0.05: why it is not the verdict's test
    # [1, 1, -1]: |sum| = 1; patterns with |sum| >= 1 are all 8 (sums of three ±1 are odd)
    assert stats.sign_flip_p([1.0, 1.0, -1.0]) == 1.0
    # [3, 1]: sums 4, 2, -2, -4, all >= 4 only for the observed and mirrored: p = 2/4
    assert stats.sign_flip_p([3.0, 1.0]) == 0.5
    # Monte Carlo above the exact limit: close to the exact value, never 0
    d = [0.3, -0.1, 0.5, 0.2, 0.4, -0.2, 0.6, 0.1, 0.2, 0.3]
    exact = stats.sign_flip_p(d)
    assert stats.sign_flip_p(d, exact_max=4, resamples=20_000) == pytest.approx(exact, abs=0.01)
    assert stats.sign_flip_p([1.0] * 20, resamples=100) == pytest.approx(1 / 101)


def test_bh_adjust_matches_hand_computation():
    # sorted p 0.01, 0.02, 0.03, 0.5 with m = 4: 0.04, 0.04, 0.04, 0.5 (monotone from the top)
    q = stats.bh_adjust([0.5, 0.03, 0.01, math.nan, 0.02])
    assert q[0] == pytest.approx(0.5) and math.isnan(q[3])
    assert q[1] == q[2] == q[4] == pytest.approx(0.04)
    assert stats.bh_adjust([0.9, 0.95]) == [0.95, 0.95]
    assert stats.bh_adjust([]) == []


@pytest.mark.parametrize(
    ("diff", "p", "direction", "expected"),
    [
        (0.2, 0.01, +1, "helps"),  # higher is better and the trick raised it
        (0.2, 0.01, -1, "hurts"),  # lower is better (KL, FD) and the trick raised it
        (-0.2, 0.01, -1, "helps"),
        (-0.2, 0.01, +1, "hurts"),
        (0.2, 0.05, +1, "no evidence"),  # p must be below 0.05
        (-0.2, 0.3, -1, "no evidence"),
        (0.2, math.nan, +1, "no evidence"),
    ],
)
def test_verdict_follows_the_metric_direction(diff, p, direction, expected):
    assert stats.verdict(diff, p, direction) == expected


def test_too_few_seeds_give_no_verdict():
    c = stats.compare({0: 5.0, 1: 5.1}, {0: 0.0, 1: 0.1})
    assert c.diff == pytest.approx(5.0)
    assert math.isnan(c.lo) and math.isnan(c.hi) and math.isnan(c.p)
    assert stats.verdict(c.diff, c.p, +1) == "no evidence"


def test_mean_ci_is_the_t_interval():
    lo, hi = stats.mean_ci([1.0, 2.0, 3.0])  # mean 2, se 1/sqrt(3), t_{0.975, 2} = 4.302653
    assert hi - 2.0 == pytest.approx(4.302652729749462 / math.sqrt(3))
    assert 2.0 - lo == pytest.approx(hi - 2.0)
    assert all(math.isnan(v) for v in stats.mean_ci([1.0]))


def test_failure_rate_and_finite():
    assert stats.failure_rate([True, False, False, True]) == 0.5
    assert math.isnan(stats.failure_rate([]))
    assert stats.finite([1, float("nan"), None, float("inf"), 2.5]) == [1.0, 2.5]


# --------------------------------------------------------------------------- planning


def test_parse_tricks_forms():
    specs = parse_tricks("replay, tricks.pack ,optim.d.name=sgd+optim.d.lr=0.01")
    assert [s.text for s in specs] == ["replay", "tricks.pack", "optim.d.name=sgd+optim.d.lr=0.01"]
    assert specs[0].on == ("tricks.replay=on",) and specs[0].off == ("tricks.replay=off",)
    assert specs[1].on == ("tricks.pack=on",)
    assert specs[2].on == ("optim.d.name=sgd", "optim.d.lr=0.01") and specs[2].off == ()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("replya", "did you mean 'replay'"),
        ("loss", "is a choice, not a switch"),
        ("replay,replay", "listed twice"),
        ("", "is empty"),
        ("optim.d.name=sgd+pack", "join key=value settings"),
    ],
)
def test_parse_tricks_errors_are_one_sentence(text, needle):
    with pytest.raises(ConfigError, match=needle) as info:
        parse_tricks(text)
    assert "\n" not in str(info.value)


def test_plan_arms_add_one_and_leave_one_out():
    specs = parse_tricks("replay,loss=minimax")
    add = plan_arms(specs, "add-one")
    assert [(a.name, a.overrides) for a in add] == [
        ("base", ()),
        ("+replay", ("tricks.replay=on",)),
        ("+loss=minimax", ("loss=minimax",)),
    ]
    drop = plan_arms(specs, "leave-one-out")
    assert [(a.name, a.overrides) for a in drop] == [
        ("full", ("tricks.replay=on", "loss=minimax")),
        ("-replay", ("loss=minimax", "tricks.replay=off")),  # a switch is turned off, even if the base had it on
        ("-loss=minimax", ("tricks.replay=on",)),  # a setting stays at the base's value
    ]
    assert len(plan_arms(specs, "both")) == 6
    assert len({a.slug for a in plan_arms(specs, "both")}) == 6
    with pytest.raises(ConfigError, match="--mode"):
        plan_arms(specs, "sideways")


def test_leave_one_out_removes_a_trick_the_base_preset_has():
    chosen = sorted(PRESETS["recommended"]["tricks"])
    plan = Plan(data="ring8", tricks=[chosen[0], "minibatch_stddev"], seeds=1, steps=10, base="recommended", mode="leave-one-out")
    full, dropped, _ = plan.arms()
    assert getattr(plan.config(full, 0).tricks, chosen[0]) is not None
    assert getattr(plan.config(dropped, 0).tricks, chosen[0]) is None  # switched off, though the preset has it
    assert plan.config(dropped, 0).tricks.minibatch_stddev is not None  # the other trick stays


def test_leave_one_out_removes_a_setting_the_base_preset_has_and_keeps_one_it_changes():
    assert PRESETS["recommended"]["model"]["g_act"] == "leaky_relu"  # what this test leans on
    # On images: on 2D data the preset's LeakyReLU in G is image-only and never trains.
    plan = Plan(
        data="mnist5k",
        tricks=["model.g_act=leaky_relu", "loss=minimax"],
        seeds=1,
        steps=10,
        base="recommended",
        mode="leave-one-out",
    )
    arms = {a.name: a for a in plan.arms()}
    assert plan.config(arms["full"], 0).model.g_act == "leaky_relu"
    assert plan.config(arms["-model.g_act=leaky_relu"], 0).model.g_act == "auto"  # gone, though the preset has it
    assert plan.config(arms["-loss=minimax"], 0).loss == "nonsaturating"
    other = Plan(data="mnist5k", tricks=["model.g_act=relu"], seeds=1, steps=10, base="recommended", mode="leave-one-out")
    dropped = next(a for a in other.arms() if a.role == "drop")
    assert other.config(dropped, 0).model.g_act == "leaky_relu"  # the base's own value, which the trick had changed


def _plan(**kw) -> Plan:
    base = dict(data="ring8", tricks=["replay", "tricks.label_smoothing.mode=two_sided_random"], seeds=3, steps=12)
    return Plan(**{**base, **kw})


def test_headline_falls_back_to_modes_when_kl_is_undefined_in_some_runs():
    from ganhacks.bench.ablate import summarize

    def row(arm, seed, modes, kl):
        return {"arm": arm, "seed": seed, "healthy": True, "wall_s": 1.0, "metrics": {"modes": modes, "hq": 0.1, "kl": kl}}

    plan = _plan(tricks=["replay", "swap"], seeds=4)
    rows = [row("base", s, 8, 0.3 + 0.01 * s) for s in range(4)]
    rows += [row("+replay", s, m, kl) for s, (m, kl) in enumerate([(0, None), (1, 1.9), (0, None), (2, 1.7)])]
    rows += [row("+swap", s, 8, 0.2 + 0.01 * s) for s in range(4)]
    effects = {e["trick"]: e for e in summarize(plan, rows)["effects"]}
    # KL over the two runs that kept a high-quality sample would hide the two that lost every mode.
    assert effects["replay"]["headline"] == "modes" and effects["replay"]["verdict"] == "hurts"
    assert effects["swap"]["headline"] == "kl" and effects["swap"]["verdict"] == "helps"


def test_open_refuses_a_different_experiment_and_names_what_changed(tmp_path):
    folder = Ablation(tmp_path / "ab")
    folder.open(_plan())
    with pytest.raises(GanhacksError, match=r"steps \(12 before, 30 now\)"):
        folder.open(_plan(steps=30))
    assert folder.open(_plan(seeds=5)).seeds == 5  # more seeds extend it
    assert folder.open(_plan(seeds=2)).seeds == 5  # fewer never shrink it
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(GanhacksError, match="not empty and holds no ablation"):
        Ablation(tmp_path / "other").open(_plan())


def test_a_folder_keeps_what_its_preset_arm_meant_and_refuses_a_changed_preset(tmp_path, monkeypatch):
    from ganhacks import config

    folder = Ablation(tmp_path / "ab")
    plan = folder.open(_plan(tricks=["preset:recommended"]))
    pinned = plan.arm_overrides["+preset:recommended"]
    assert pinned and plan.base_config["model.g_norm"] == "auto" and "train.seed" not in plan.base_config
    before = [a.slug for a in folder.read_plan().arms()]
    # A later ganhacks changes what 'recommended' means.
    monkeypatch.setitem(config.PRESETS, "recommended", {"tricks": {"replay": {}}})
    assert [a.slug for a in folder.read_plan().arms()] == before  # its runs are still found
    assert folder.read_plan().arms()[1].overrides == tuple(pinned)
    with pytest.raises(GanhacksError, match=r"arm '\+preset:recommended' was .* and is now \['tricks.replay=on'\].*new --out"):
        folder.open(_plan(tricks=["preset:recommended"]))
    monkeypatch.setitem(config.PRESETS, "baseline", {"train": {"batch_size": 7}})  # and the base preset
    with pytest.raises(GanhacksError, match=r"base train.batch_size: None then, 7 now"):
        folder.open(_plan(tricks=["preset:recommended"]))
    assert json.loads(folder.plan_file.read_text())["arm_overrides"]["+preset:recommended"] == pinned  # untouched


def test_a_folder_made_before_a_key_existed_resumes_while_the_key_keeps_its_default(tmp_path, monkeypatch):
    from ganhacks import config

    folder = Ablation(tmp_path / "ab")
    folder.open(_plan())
    saved = json.loads(folder.plan_file.read_text())
    del saved["base_config"]["data.coords"]  # as a folder made before data.coords existed
    folder.plan_file.write_text(json.dumps(saved))
    assert folder.open(_plan()).seeds == 3  # its default, "unit", is what its runs were made with
    monkeypatch.setitem(config.PRESETS, "baseline", {"data": {"coords": "raw"}})  # a base that moves off it
    with pytest.raises(GanhacksError, match=r"base data.coords: None then, 'raw' now"):
        folder.open(_plan())


def test_a_2d_folder_pins_its_preset_base_as_2d_data_trains_it(tmp_path):
    # On 2D data `recommended` trains without its image-only LeakyReLU in G (config.resolve), so
    # the pinned base must not hold it: a folder pinned when the preset still put it on 2D runs
    # (as the 2026-11-27 folders were) is then seen to mean other settings, not silently retrained.
    folder = Ablation(tmp_path / "ab")
    plan = folder.open(_plan(base="recommended"))
    assert plan.base_config["model.g_act"] == "auto"
    assert plan.base_config["tricks.instance_noise.sigma"] == 0.1  # the rest of the preset stays
    saved = json.loads(folder.plan_file.read_text())
    saved["base_config"]["model.g_act"] = "leaky_relu"
    folder.plan_file.write_text(json.dumps(saved))
    with pytest.raises(GanhacksError, match=r"base model.g_act: 'leaky_relu' then, 'auto' now.*new --out"):
        folder.open(_plan(base="recommended"))


def test_from_trains_a_stored_plan_again_with_the_arms_it_pinned(tmp_path, capsys):
    # A stored folder made when `recommended` meant other settings: resuming it is refused, but
    # `--from` trains its plan again into a new folder, each arm with what it pinned then.
    stored = Ablation(tmp_path / "stored")
    stored.open(_plan(tricks=["preset:recommended"], seeds=1, steps=6))
    saved = json.loads(stored.plan_file.read_text())
    saved["arm_overrides"]["+preset:recommended"] = ["tricks.replay.p=0.3"]
    stored.plan_file.write_text(json.dumps(saved))
    with pytest.raises(GanhacksError, match="meant other settings"):
        stored.open(_plan(tricks=["preset:recommended"], seeds=1, steps=6))
    new = tmp_path / "again"
    assert main(["ablate", "--from", str(stored.path), "--out", str(new), "--quiet"]) == 0
    plan = Ablation(new).read_plan()
    assert plan.source == str(stored.plan_file) and plan.arm_overrides == saved["arm_overrides"]
    assert plan.command and plan.created and plan.machine  # this call's, not the stored ones
    arm = next(a for a in plan.arms() if a.trick == "preset:recommended")
    trained = (new / "runs" / arm.slug / "seed_0" / "config.yaml").read_text()
    assert "replay:" in trained and "p: 0.3" in trained  # the pinned settings, not today's preset
    assert "plan from" in (new / "report.md").read_text()
    # Resuming the new folder, with --from or with the plan's own command, keeps its pinned arms.
    assert main(["ablate", "--from", str(stored.plan_file), "--out", str(new), "--seeds", "2", "--quiet"]) == 0
    assert Ablation(new).read_plan().seeds == 2 and (new / "runs" / arm.slug / "seed_1" / "result.json").is_file()
    args = ["--data", "ring8", "--tricks", "preset:recommended", "--seeds", "2", "--steps", "6"]
    assert main(["ablate", *args, "--out", str(new), "--quiet"]) == 0
    capsys.readouterr()


def test_from_refuses_what_it_cannot_train_as_it_was(tmp_path, capsys, monkeypatch):
    from ganhacks import config

    stored = Ablation(tmp_path / "stored")
    stored.open(_plan(seeds=2))

    def error(*args: str) -> str:
        assert main(["ablate", *args, "--out", str(tmp_path / "new")]) == 2
        return capsys.readouterr().err

    assert error("--from", str(stored.path), "--steps", "5").startswith(
        "error: --from takes the whole plan from"
    )  # the plan is the stored one
    assert "fewer than the 2" in error("--from", str(stored.path), "--seeds", "1")
    assert "neither an ablation folder nor an ablation.json" in error("--from", str(tmp_path / "nothing"))
    assert error("--tricks", "replay").startswith("error: ablate needs --data, --seeds, --steps (or --from")
    monkeypatch.setitem(config.PRESETS, "baseline", {"train": {"batch_size": 7}})
    err = error("--from", str(stored.path))
    assert "builds otherwise (base train.batch_size: None then, 7 now)" in err and err.count("\n") == 1
    saved = json.loads(stored.plan_file.read_text())
    del saved["arm_overrides"]  # a folder from before arms were pinned
    stored.plan_file.write_text(json.dumps(saved))
    assert "predates pinned arms" in error("--from", str(stored.plan_file))
    assert not (tmp_path / "new").exists()


def test_an_invalid_arm_fails_before_any_folder_exists(tmp_path):
    plan = _plan(tricks=["train.steps=-3"])
    with pytest.raises(ConfigError, match="train.steps"):
        ablate(tmp_path / "ab", plan)
    assert not (tmp_path / "ab").exists()


# --------------------------------------------------------------------------- running


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("bench") / "ab"
    summary = ablate(out, _plan(command='ganhacks ablate --out "<script>alert(1)</script>"'))
    return out, summary


def test_ablation_writes_one_row_per_arm_and_seed(finished):
    out, summary = finished
    rows = json.loads((out / "results.json").read_text())
    assert [(r["arm"], r["seed"]) for r in rows] == [
        (arm, s) for arm in ("base", "+replay", "+tricks.label_smoothing.mode=two_sided_random") for s in range(3)
    ]
    for r in rows:
        assert r["steps"] == 12 and r["wall_s"] > 0 and r["error"] is None
        assert set(r["metrics"]) == {"modes", "hq", "kl"}
        assert isinstance(r["healthy"], bool)
        run = out / "runs" / r["run"]
        assert (run / "verdict.json").is_file() and (run / "eval.json").is_file()
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["arm", "role", "trick", "seed"] and {"modes", "hq", "kl"} <= set(header)
    assert len((out / "results.csv").read_text().splitlines()) == 1 + len(rows)


def test_ablation_statistics_match_the_rows(finished):
    out, summary = finished
    rows = json.loads((out / "results.json").read_text())
    m = "modes"  # always defined (KL is not, for a run with no high-quality sample)
    base = [r["metrics"][m] for r in rows if r["arm"] == "base"]
    arm = next(a for a in summary["arms"] if a["arm"] == "base")
    assert arm["metrics"][m]["mean"] == pytest.approx(sum(base) / 3)
    effect = next(e for e in summary["effects"] if e["trick"] == "replay")
    replay = {r["seed"]: r["metrics"][m] for r in rows if r["arm"] == "+replay"}
    by_seed = {r["seed"]: r["metrics"][m] for r in rows if r["arm"] == "base"}
    assert effect["metrics"][m]["diff"] == pytest.approx(sum(replay[s] - by_seed[s] for s in range(3)) / 3)
    lo, hi = effect["metrics"][m]["ci"]
    assert lo <= effect["metrics"][m]["diff"] <= hi
    assert effect["metrics"][m]["verdict"] == stats.verdict(effect["metrics"][m]["diff"], effect["metrics"][m]["p"], +1)
    complete = [e for e in summary["effects"] if e["verdict"] != "pending"]
    qs = stats.bh_adjust([e["p"] for e in complete])
    assert [e["q"] for e in complete] == pytest.approx(qs, nan_ok=True)
    for e in complete:  # the adjusted verdict never claims more than the raw one
        assert e["verdict_adjusted"] in (e["verdict"], "no evidence")
    primary = summary["primary"]
    assert primary in ("kl", "modes")
    assert effect["verdict"] == effect["metrics"][effect["headline"]]["verdict"]
    kl_everywhere = all(r["metrics"].get("kl") is not None for r in rows if r["arm"] in ("base", "+replay"))
    assert effect["headline"] == (primary if kl_everywhere or primary != "kl" else "modes")

    def refuse(token):
        raise AssertionError(f"{token} is not JSON")

    for name in ("stats.json", "results.json"):  # strict JSON: an undefined KL is null, not NaN
        json.loads((out / name).read_text(), parse_constant=refuse)
    assert json.loads((out / "stats.json").read_text())["effects"][0]["trick"] == "replay"


def test_a_kept_folder_without_its_runs_recomputes_the_same_statistics(finished, tmp_path, monkeypatch, capsys):
    """docs/results/ keeps ablation.json and results.csv only; restat.py recomputes from those."""
    import sys

    from ganhacks.bench.ablate import rows_from_csv, summarize

    out, summary = finished
    rows = json.loads((out / "results.json").read_text())
    back = rows_from_csv((out / "results.csv").read_text())
    assert [(r["arm"], r["seed"], r["healthy"], r["failures"]) for r in back] == [
        (r["arm"], r["seed"], r["healthy"], r["failures"]) for r in rows
    ]
    for a, b in zip(back, rows, strict=True):
        assert a["metrics"] == pytest.approx(b["metrics"])
    kept = tmp_path / "kept"
    kept.mkdir()
    for name in ("ablation.json", "results.csv", "report.md"):
        shutil.copy(out / name, kept / name)
    again = summarize(Ablation(kept).read_plan(), Ablation(kept).results())
    assert [(e["trick"], e["verdict"], e["verdict_adjusted"]) for e in again["effects"]] == [
        (e["trick"], e["verdict"], e["verdict_adjusted"]) for e in summary["effects"]
    ]
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    import restat

    (kept / "report.md").write_text((kept / "report.md").read_text().replace("| no evidence |", "| helps |", 1))
    monkeypatch.setattr(sys, "argv", ["restat.py", str(kept)])
    assert restat.main() == 0
    said = capsys.readouterr().out
    assert "1 verdict(s) changed" in said and "helps -> no evidence" in said  # the planted change is found
    assert (kept / "report.md").read_text() == (out / "report.md").read_text()  # and the report rewritten


def test_eval_at_gives_each_budget_its_own_verdicts(tmp_path):
    """--eval-at evaluates every run on the way, and a budget's metrics are those a run of that many
    steps ends with (the baseline has no schedule tied to the run's length)."""
    from ganhacks.bench.ablate import rows_from_csv

    out = tmp_path / "budgets"
    summary = ablate(out, _plan(tricks=["replay"], eval_at=[6]))
    rows = json.loads((out / "results.json").read_text())
    assert all(set(r["metrics_at"]) == {"6"} and r["metrics_at"]["6"].keys() == r["metrics"].keys() for r in rows)
    assert [b["steps"] for b in summary["budgets"]] == [6, 12]
    assert summary["budgets"][1]["effects"] == summary["effects"]
    short = ablate(tmp_path / "short", _plan(tricks=["replay"], steps=6))
    base_at_6 = next(a for a in summary["budgets"][0]["arms"] if a["arm"] == "base")
    base_6 = next(a for a in short["arms"] if a["arm"] == "base")
    assert base_at_6["metrics"]["modes"]["mean"] == base_6["metrics"]["modes"]["mean"]
    assert base_at_6["metrics"]["hq"]["mean"] == pytest.approx(base_6["metrics"]["hq"]["mean"])
    back = rows_from_csv((out / "results.csv").read_text())  # kept folders keep the budgets
    assert [r["metrics_at"]["6"]["modes"] for r in back] == [r["metrics_at"]["6"]["modes"] for r in rows]
    report = (out / "report.md").read_text()
    assert "Along the budget" in report and "| trick | 6 steps | 12 steps |" in report
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    try:
        import budget_table
    finally:
        sys.path.pop(0)
    table = budget_table.tables(out, metrics=["modes"]).splitlines()
    base6 = [r["metrics_at"]["6"]["modes"] for r in rows if r["arm"] == "base"]
    mean, se = stats.mean_se(base6)
    assert f"| base | 3 | 6 | {budget_table._fmt(mean)} ± {budget_table._fmt(se)} |" in table
    replay = budget_table.values(rows, "+replay", "modes")  # the final budget, 12 steps
    c = stats.compare(replay, budget_table.values(rows, "base", "modes"))
    assert any(line.startswith(f"| +replay | 12 | {budget_table._fmt(c.diff)} [") for line in table)
    assert 'id="budgets"' in (out / "report.html").read_text()
    with pytest.raises(GanhacksError, match=r"--eval-at 20 is outside 1..12"):
        ablate(tmp_path / "bad", _plan(eval_at=[20]))
    with pytest.raises(GanhacksError, match="holds a different ablation: eval_at"):
        Ablation(out).open(_plan(tricks=["replay"], eval_at=[4]))
    for result in (out / "runs").glob("add-*/seed_*/result.json"):
        result.unlink()  # a call stopped before any trick's run finished: nothing to plot along the budget
    write_report(out)
    assert "Along the budget" in (out / "report.md").read_text()


def test_cuda_graph_is_how_a_call_runs_not_part_of_the_experiment(finished, tmp_path):
    """--cuda-graph reaches every run's config but not the folder's plan: auto falls back to the plain
    step where no graph can be captured (here, the CPU) and gives the same rows; true is refused
    there in one sentence before any folder is made."""
    import yaml

    from ganhacks.bench.ablate import _cuda_graph_mode

    out = tmp_path / "graph"
    ablate(out, _plan(), cuda_graph="auto")
    assert json.loads((out / "ablation.json").read_text())["base_config"]["train.cuda_graph"] is False  # pinned: the default
    configs = [yaml.safe_load(p.read_text()) for p in (out / "runs").glob("*/seed_*/config.yaml")]
    assert len(configs) == 9 and all(c["train"]["cuda_graph"] == "auto" for c in configs)
    ours = json.loads((out / "results.json").read_text())
    theirs = json.loads((finished[0] / "results.json").read_text())
    assert [r["metrics"] for r in ours] == [r["metrics"] for r in theirs]
    with pytest.raises(GanhacksError, match="--cuda-graph true needs a CUDA device"):
        ablate(tmp_path / "refused", _plan(), cuda_graph=True)
    assert not (tmp_path / "refused").exists()
    with pytest.raises(GanhacksError, match="must be true, false or auto"):
        _cuda_graph_mode("yes")


def test_reports_escape_user_strings(finished):
    out, _ = finished
    page = (out / "report.html").read_text()
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'id="verdicts"' in page and page.count("data:image/png;base64,") >= 5
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    md = (out / "report.md").read_text()
    assert "<script" not in md and "| replay | added to base |" in md


def test_ablation_resumes_without_rerunning_finished_arms(finished, tmp_path):
    out = tmp_path / "ab"
    shutil.copytree(finished[0], out)
    runs = sorted((out / "runs").glob("*/seed_*/result.json"))
    lost = [next((out / "runs").glob("base/seed_2/result.json")), next((out / "runs").glob("add-replay*/seed_0/result.json"))]
    for p in lost:
        p.unlink()  # as if the call was killed while these trained
    (lost[0].parent / "metrics.jsonl").write_text('{"step": 10, "loss_d"')  # a torn line from the crash
    before = {p: p.stat().st_mtime_ns for p in runs if p not in lost}
    messages: list[str] = []
    ablate(out, _plan(), progress=messages.append)
    assert "7 done, 2 to run" in messages[0]
    assert {p: p.stat().st_mtime_ns for p in before} == before  # finished runs untouched
    assert all(p.is_file() for p in lost)
    # Seed by seed: a call stopped again here would leave every arm with the same seeds.
    reran = [m for m in messages if m.startswith("[")]
    assert "+replay seed 0" in reran[0] and "base seed 2" in reran[1]
    assert len(json.loads((out / "results.json").read_text())) == 9


def test_more_arms_extend_an_add_one_folder_and_leave_its_runs_alone(finished, tmp_path):
    out = tmp_path / "ab"
    shutil.copytree(finished[0], out)
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/seed_*/result.json")}
    old = Ablation(out).read_plan()
    messages: list[str] = []
    plan = _plan(tricks=["tricks.instance_noise", *old.tricks])  # any order: the arms are found by name
    ablate(out, plan, progress=messages.append)
    assert "9 done, 3 to run" in messages[0]
    assert {p: p.stat().st_mtime_ns for p in before} == before
    stored = Ablation(out).read_plan()
    assert {k: v for k, v in stored.arm_overrides.items() if k in old.arm_overrides} == old.arm_overrides
    assert stored.arm_overrides["+tricks.instance_noise"] == ["tricks.instance_noise=on"]
    rows = json.loads((out / "results.json").read_text())
    assert sorted({r["arm"] for r in rows}) == sorted(["base", "+tricks.instance_noise", *(f"+{t}" for t in old.tricks)])
    assert len(rows) == 12
    with pytest.raises(GanhacksError, match="holds a different ablation: tricks"):
        Ablation(out).open(_plan(tricks=["replay"]))  # fewer arms are another experiment
    loo = Ablation(tmp_path / "loo")
    loo.open(_plan(mode="leave-one-out"))
    with pytest.raises(GanhacksError, match="holds a different ablation: tricks"):
        loo.open(_plan(mode="leave-one-out", tricks=[*old.tricks, "tricks.instance_noise"]))  # every arm would change


def test_a_folder_kept_without_its_runs_continues_from_its_results_csv(finished, tmp_path):
    """docs/results/ keeps ablation.json and results.csv; copied back, it trains only what it lacks."""
    out = tmp_path / "kept"
    out.mkdir()
    for name in ("ablation.json", "results.csv"):
        shutil.copy(finished[0] / name, out / name)
    lines = (out / "results.csv").read_text().splitlines()
    (out / "results.csv").write_text("\n".join(lines[:-1]) + "\n")  # the last run had not finished
    original = json.loads((finished[0] / "results.json").read_text())
    messages: list[str] = []
    ablate(out, _plan(), progress=messages.append)
    assert "8 done, 1 to run" in messages[0]
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == 9
    for old, new in zip(original[:-1], rows[:-1], strict=True):  # the kept rows come back as they were
        assert (new["arm"], new["seed"], new["run"], new["healthy"]) == (old["arm"], old["seed"], old["run"], old["healthy"])
        assert new["metrics"] == pytest.approx(old["metrics"], nan_ok=True)
    assert (out / "runs" / rows[-1]["run"] / "metrics.jsonl").is_file()  # the missing one was trained
    assert not (out / "runs" / rows[0]["run"] / "metrics.jsonl").exists()


def test_an_arm_whose_settings_changed_after_it_finished_keeps_its_runs_and_is_named(tmp_path, monkeypatch):
    """A preset changed from the bench's own results must not lock the folder that measured it."""
    from ganhacks import config

    out = tmp_path / "ab"
    plan = dict(data="ring8", tricks=["preset:recommended"], seeds=2, steps=12)
    ablate(out, Plan(**plan))
    runs = sorted(p.relative_to(out) for p in (out / "runs").glob("*/seed_*"))
    monkeypatch.setitem(config.PRESETS, "recommended", {"tricks": {"replay": {}}})  # a later ganhacks
    messages: list[str] = []
    ablate(out, Plan(**plan), progress=messages.append)
    assert "4 done, 0 to run" in messages[0]  # nothing trains again with the new meaning
    assert sorted(p.relative_to(out) for p in (out / "runs").glob("*/seed_*")) == runs
    report = (out / "report.md").read_text()
    assert "settings changed since" in report and "and is now ['tricks.replay=on']" in report
    assert "settings changed since" in (out / "report.html").read_text()
    (out / "runs" / Ablation(out).read_plan().arms()[1].slug / "seed_1" / "result.json").unlink()
    with pytest.raises(GanhacksError, match=r"arm '\+preset:recommended' was .* new --out"):
        ablate(out, Plan(**plan))  # its missing seed would train with settings the preset no longer has


def test_first_trains_the_named_arms_missing_runs_before_the_others(finished, tmp_path):
    out = tmp_path / "ab"
    shutil.copytree(finished[0], out)
    for result in (out / "runs").glob("*/seed_[12]/result.json"):
        result.unlink()  # seeds 1 and 2 of every arm have not finished
    with pytest.raises(GanhacksError, match="--first names no arm of this ablation: 'swap'"):
        ablate(out, _plan(), first=["swap"])
    messages: list[str] = []
    ablate(out, _plan(), progress=messages.append, first=["replay"])
    order = [m.split("] ", 1)[1].split(":")[0] for m in messages if m.startswith("[")]
    assert order == [
        "+replay seed 1", "+replay seed 2",
        "base seed 1", "+tricks.label_smoothing.mode=two_sided_random seed 1",
        "base seed 2", "+tricks.label_smoothing.mode=two_sided_random seed 2",
    ]  # fmt: skip


def test_rediagnose_judges_the_runs_again_and_leaves_their_own_verdicts(finished, tmp_path, cli):
    out = tmp_path / "ab"
    shutil.copytree(finished[0], out)
    result = next((out / "runs").glob("base/seed_1/result.json"))
    verdict = (result.parent / "verdict.json").read_text()
    row = json.loads(result.read_text())
    assert row["healthy"] is True
    row.update(healthy=False, failures=["mode_collapse"])  # what an older doctor said of this run
    result.write_text(json.dumps(row))
    lines: list[str] = []
    write_report(out, rediagnose=True, say=lines.append)
    assert lines == ["base seed 1: mode_collapse -> healthy", "1 verdicts changed"]
    assert json.loads(result.read_text())["healthy"] is True
    assert (result.parent / "verdict.json").read_text() == verdict  # the live doctor's record is kept
    assert json.loads((out / "results.json").read_text())[1]["healthy"] is True
    code, _, err = cli("report", str(result.parent), "--rediagnose")
    assert code == 2 and "applies to an ablation folder" in err


def test_a_folder_kept_without_its_runs_is_judged_again_from_its_records(finished, tmp_path, cli):
    import ganhacks

    out = tmp_path / "ab"
    shutil.copytree(finished[0], out)
    rows = json.loads((out / "results.json").read_text())
    for r in rows:  # every finished run left its record, which the doctor reads as it reads the run
        record = out / "records" / r["run"]
        assert (record / "metrics.jsonl.gz").is_file() and not (record / "checkpoints").exists()
        assert ganhacks.diagnose(record) == ganhacks.diagnose(out / "runs" / r["run"])
    shutil.rmtree(out / "runs")  # kept as docs/results/ keeps a folder
    for name in ("results.json", "stats.json", "report.html"):
        (out / name).unlink()
    csv_text = (out / "results.csv").read_text()
    lines = csv_text.splitlines()
    assert ",True,,," in lines[2]  # base seed 1: healthy, no failures, no error
    lines[2] = lines[2].replace(",True,,,", ",False,mode_collapse,,", 1)
    (out / "results.csv").write_text("\n".join(lines) + "\n")  # what an older doctor said of base seed 1
    assert ablate_rows(out)[1]["failures"] == ["mode_collapse"]
    code, _, err = cli("report", str(out), "--rediagnose")
    assert code == 0 and "base seed 1: mode_collapse -> healthy" in err and "1 verdicts changed" in err
    assert ablate_rows(out) == rows_from_csv(csv_text) and not (out / "runs").exists()
    shutil.rmtree(out / "records")
    code, _, err = cli("report", str(out), "--rediagnose")
    assert code == 2 and "kept without its runs or their records" in err


def ablate_rows(out: Path) -> list[dict]:
    return rows_from_csv((out / "results.csv").read_text())


def test_an_unfinished_arm_gets_no_verdict_until_every_seed_has_run(finished, tmp_path):
    out = tmp_path / "ab"
    shutil.copytree(finished[0], out)
    next((out / "runs").glob("add-replay*/seed_2/result.json")).unlink()  # that run has not finished yet
    folder = Ablation(out)
    summary = folder.summarize()
    replay = next(e for e in summary["effects"] if e["trick"] == "replay")
    other = next(e for e in summary["effects"] if e["trick"] != "replay")
    assert replay["verdict"] == "pending" and replay["seeds_done"] == 2
    assert {v["verdict"] for v in replay["metrics"].values()} == {"pending"}
    assert not math.isnan(replay["metrics"]["modes"]["diff"])  # the partial difference is still shown
    assert other["verdict"] != "pending" and other["seeds_done"] == 3
    write_report(out)
    assert "| replay | added to base |" in (out / "report.md").read_text()
    assert "pending (2 of 3 seeds)" in (out / "report.md").read_text()
    assert "pending (2 of 3 seeds)" in (out / "report.html").read_text()


def test_paper_table_from_finished_runs_says_how_many_seeds_each_row_has(finished, tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    import paper_tables

    out = tmp_path / "paper"
    shutil.copytree(finished[0], out / "ring8")
    next((out / "ring8" / "runs").glob("add-replay*/seed_1/result.json")).unlink()
    monkeypatch.setattr(sys, "argv", ["paper_tables.py", "--data", "ring8", "--no-run", "--out", str(out)])
    assert paper_tables.main() == 0
    table = capsys.readouterr().out
    assert "| baseline | ours, 12 steps, 3 seeds |" in table
    assert "| +replay | ours, 12 steps, 2 of 3 seeds |" in table
    assert "| PacGAN4 | PacGAN Table 1, 400k steps |" in table
    assert len(list((out / "ring8" / "runs").glob("*/seed_*/result.json"))) == 8  # --no-run trained nothing
    assert (out / "paper_tables.md").read_text().strip() == table.strip()


def test_paper_tables_pacgan_arms_give_d_pacgans_100_packs_a_step(monkeypatch):
    """PacGAN draws m batches of 100 a step; the table's PacGAN rows must too, not split one batch."""
    import torch

    from ganhacks.bench.ablate import Plan
    from ganhacks.tricks.batch import Pack

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    import paper_tables

    plan = Plan(data="grid25", tricks=[paper_tables.PACGAN2, paper_tables.PACGAN4], seeds=1, steps=10, set=["data.coords=raw"])
    arms = [a for a in plan.arms() if a.name != "base"]
    assert [paper_tables.row_name(a.name) for a in arms] == ["PacGAN2 (100 packs of 2)", "PacGAN4 (100 packs of 4)"]
    for arm, m in zip(arms, (2, 4), strict=True):
        cfg = plan.config(arm, 0)
        assert cfg.tricks.pack.m == m
        packs = Pack(cfg.tricks.pack, torch.device("cpu"), 0).d_input(torch.zeros(cfg.train.batch_size, 2), None)
        assert packs.shape == (100, 2 * m)


def test_paper_table_can_print_stacked_mnist_alone(finished, tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    import paper_tables

    out = tmp_path / "paper"
    shutil.copytree(finished[0], out / "stacked-mnist")  # any folder with modes and KL reads the same way
    monkeypatch.setattr(sys, "argv", ["paper_tables.py", "--data", "", "--stacked", "--no-run", "--out", str(out)])
    assert paper_tables.main() == 0
    table = capsys.readouterr().out
    assert "| PacDCGAN4 | PacGAN Table 3, D = 1/4 G |" in table and "| baseline | ours, 12 steps, 3 seeds |" in table
    assert "ring modes" not in table  # no 2D table when no 2D set was asked for
    monkeypatch.setattr(sys, "argv", ["paper_tables.py", "--data", "", "--no-run", "--out", str(out)])
    with pytest.raises(SystemExit, match="Nothing to run"):
        paper_tables.main()


def test_verdict_matrix_lists_each_trick_per_data_set_and_applies_the_rule(finished, monkeypatch, capsys):
    import sys

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    import verdict_matrix

    assert verdict_matrix.seed_number("tricks.label_smoothing.mode=two_sided_random") == 6
    assert verdict_matrix.seed_number("optim.d.name=sgd+optim.d.lr=1e-2") == 9
    assert verdict_matrix.seed_number("tricks.pack.m=4") is None
    # a set of tricks as one arm names each trick's number once
    assert verdict_matrix.seed_numbers("latent=uniform+tricks.label_smoothing.mode=two_sided_random") == [3, 6]
    assert verdict_matrix.seed_numbers("optim.d.name=sgd+optim.d.lr=1e-2") == [9]
    assert verdict_matrix.seed_numbers('preset:recommended = model.g_act="leaky_relu"') == []
    summary = finished[1]
    monkeypatch.setattr(sys, "argv", ["verdict_matrix.py", f"ring8={finished[0]}", f"again={finished[0]}"])
    assert verdict_matrix.main() == 0
    out = capsys.readouterr().out
    replay = next(e for e in summary["effects"] if e["trick"] == "replay")
    assert f"| 8 | replay | {verdict_matrix.cell(replay, summary['primary'])}" in out  # plus any adjusted note
    assert out.index("| 6 | tricks.label_smoothing.mode=two_sided_random") < out.index("| 8 | replay")  # the seed's order
    # The rule reads the verdicts adjusted over the whole matrix (here each test appears twice).
    cells = [e for e in summary["effects"] if e["verdict"] != "pending"]
    qs = stats.bh_adjust([e["p"] for e in cells] * 2)[: len(cells)]
    helped = [
        e["trick"]
        for e, q in zip(cells, qs, strict=True)
        if not e["trick"].startswith("preset:")
        and stats.verdict(e["metrics"][e["headline"]]["diff"], q, summary["directions"][e["headline"]]) == "helps"
    ]
    assert out.splitlines()[-1].endswith(", ".join(helped) or "no trick")
    monkeypatch.setattr(sys, "argv", ["verdict_matrix.py", f"ring8={finished[0]}", "--tricks", "replay"])
    assert verdict_matrix.main() == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 3 and rows[2].startswith("| 8 | replay |")  # only that row, and no rule under it
    monkeypatch.setattr(sys, "argv", ["verdict_matrix.py", f"ring8={finished[0]}", "--tricks", "swap"])
    with pytest.raises(SystemExit, match="None of swap"):
        verdict_matrix.main()


@pytest.mark.slow
def test_worker_pool_gives_the_same_results_as_one_process(finished, tmp_path):
    out = tmp_path / "pool"
    ablate(out, _plan(), workers=2)
    serial = {(r["arm"], r["seed"]): r["metrics"] for r in json.loads((finished[0] / "results.json").read_text())}
    pooled = {(r["arm"], r["seed"]): r["metrics"] for r in json.loads((out / "results.json").read_text())}
    assert pooled == serial  # each run is seeded on its own, whatever process runs it


def test_results_csv_flattens_failures():
    rows = [{"arm": "base", "role": "base", "trick": None, "seed": 0, "steps": 5, "wall_s": 1.0, "eval_s": 0.1,
             "healthy": False, "failures": ["d_wins", "stalled"], "error": None, "run": "base/seed_0",
             "metrics": {"kl": 0.5}}]  # fmt: skip
    lines = results_csv(rows).splitlines()
    assert lines[1].startswith("base,base,,0,5,1.0,0.1,False,d_wins;stalled,,base/seed_0,0.5")


def test_cli_ablate_rejects_a_bad_trick_without_making_a_folder(tmp_path, capsys):
    code = main(["ablate", "--data", "ring8", "--tricks", "replya", "--seeds", "2", "--steps", "5", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: Unknown trick 'replya'; did you mean 'replay'?")
    assert err.count("\n") == 1
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("value", "says"), [("2k", "--eval-at must be steps separated by commas"), ("9", "--eval-at 9 is outside 1..5")]
)
def test_cli_ablate_rejects_a_bad_eval_at_without_making_a_folder(tmp_path, capsys, value, says):
    args = ["ablate", "--data", "ring8", "--tricks", "replay", "--seeds", "2", "--steps", "5", "--eval-at", value]
    code = main([*args, "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {says}") and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- single-run reports


def test_run_report_and_report_command(finished, capsys):
    out, _ = finished
    run = out / "runs" / json.loads((out / "results.json").read_text())[0]["run"]
    assert main(["report", str(run)]) == 0
    assert capsys.readouterr().out.strip() == str(run / "report.html")
    page = (run / "report.html").read_text()
    assert 'id="verdict"' in page and "Training curves" in page and "Samples over time" in page
    assert (run / "report.md").is_file()
    assert main(["report", str(out)]) == 0
    assert main(["report", str(out / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_run_report_escapes_doctor_messages(tmp_path):
    from ganhacks.api import train

    run = train(data__name="ring8", train__steps=10, out=tmp_path)
    (run.path / "events.jsonl").write_text(
        json.dumps({"event": "stop", "step": 10, "message": "<img src=x onerror=alert(1)>"}) + "\n"
    )
    page = write_run_report(run.path).read_text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_report_refuses_a_folder_that_is_neither(tmp_path):
    with pytest.raises(GanhacksError, match="neither a run folder"):
        write_report(tmp_path)


# --------------------------------------------------------------------------- in a real browser


def _browser_or_skip():
    from browser import find_chromium

    binary = find_chromium()
    if binary is None:
        if os.environ.get("GANHACKS_REQUIRE_BROWSER"):
            pytest.fail("GANHACKS_REQUIRE_BROWSER is set but no Chromium was found; install Debian's chromium package.")
        pytest.skip("no Chromium here (CI installs Debian's chromium package and requires this test)")
    return binary


@pytest.mark.slow
def test_reports_render_in_headless_chromium(finished):
    from browser import Browser

    out, _ = finished
    run = out / "runs" / json.loads((out / "results.json").read_text())[0]["run"]
    write_run_report(run)
    with Browser(_browser_or_skip()) as browser:
        for page, table in ((out / "report.html", "#verdicts"), (run / "report.html", "#verdict")):
            browser.open(page)
            images = browser.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
            assert images and all(images), f"{page}: an image did not load"
            assert browser.evaluate(f"document.querySelectorAll('{table} tbody tr').length") >= 1
            assert browser.console_errors() == [], page


def test_plan_round_trips_through_its_file(tmp_path):
    folder = Ablation(tmp_path / "ab")
    plan = folder.open(replace(_plan(), set=["train.batch_size=50"], machine="test box"))
    assert folder.read_plan() == plan


def test_preset_spec_applies_every_setting_of_the_preset():
    from ganhacks.config import build_config, nest, to_dict

    # image data, where no setting of the preset is left out (the next test covers 2D data)
    plan = Plan(data="mnist5k", tricks=["preset:recommended"], seeds=1, steps=10)
    arm = plan.arms()[1]
    assert arm.name == "+preset:recommended"
    direct = build_config(preset="recommended", values=nest({"data.name": "mnist5k", "train.steps": 10}))
    got = to_dict(plan.config(arm, 0))
    assert {k: got[k] for k in ("model", "tricks", "loss")} == {k: to_dict(direct)[k] for k in ("model", "tricks", "loss")}
    with pytest.raises(ConfigError, match="did you mean 'preset:recommended'"):
        parse_tricks("preset:recomended")


def test_a_preset_arm_on_2d_data_leaves_out_the_image_only_settings():
    """As `ganhacks train --preset modern` does: DiffAugment, spectral norm and R1 are for images."""
    from ganhacks.api import prepare

    for data, augmented in (("ring8", False), ("mnist5k", True)):
        plan = Plan(data=data, tricks=["preset:modern"], seeds=1, steps=10)
        arm = next(a for a in plan.arms() if a.role == "add")
        for key in ("tricks.diffaugment", "tricks.spectral_norm", "tricks.r1"):
            assert any(o.startswith(key) for o in arm.overrides) is augmented
        if not augmented:
            cfg, _ = prepare(plan.config(arm, 0))
            assert cfg.tricks.diffaugment is None and cfg.tricks.spectral_norm is None and cfg.tricks.r1 is None
            assert cfg.tricks.ema is not None and cfg.loss == "hinge"


def test_pool_folders_pairs_within_each_folder_and_tests_the_pooled_differences(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    import pool_folders

    # two machines' folders of one plan: each seed's pair is formed inside its own folder
    kl = {"a": {("base", 0): 1.0, ("+t", 0): 0.7, ("base", 1): 0.5, ("+t", 1): 0.4, ("base", 2): 0.9, ("+t", 2): 0.5},
          "b": {("base", 0): 0.2, ("+t", 0): 0.1, ("base", 1): 0.8, ("+t", 1): ""}}  # fmt: skip
    for name, cells in kl.items():
        (tmp_path / name).mkdir()
        rows = [
            {"arm": arm, "role": "base" if arm == "base" else "add", "seed": seed, "failures": [], "metrics": {"kl": v or None}}
            for (arm, seed), v in cells.items()
        ]
        (tmp_path / name / "results.csv").write_text(results_csv(rows))
    assert pool_folders.differences(tmp_path / "b", "kl") == {"+t": [pytest.approx(-0.1)]}  # seed 1 has no value
    assert pool_folders.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    mean, lo, hi, p = stats.paired_t([-0.3, -0.1, -0.4, -0.1])
    assert f"| +t | -0.267 (3) | -0.100 (1) | 4 | {mean:+.3f} | [{lo:+.3f}, {hi:+.3f}] | {p:.2g} |" in out
    with pytest.raises(SystemExit, match="does not exist"):
        pool_folders.main([str(tmp_path / "c")])


def test_compare_folders_says_which_verdicts_and_failure_rates_moved(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "benchmarks"))
    import compare_folders

    # a stored folder where replay lowers KL by 0.2 in every seed, and a retrain where it does not
    kl = {"stored": [(1.0, 0.8), (0.6, 0.4), (0.9, 0.7)], "retrained": [(1.0, 0.9), (0.6, 0.8), (0.9, 0.9)]}
    for name, pairs in kl.items():
        Ablation(tmp_path / name).open(_plan(tricks=["replay"]))
        rows = [
            {"arm": arm, "role": "base" if arm == "base" else "add", "trick": None if arm == "base" else "replay",
             "seed": seed, "steps": 12, "wall_s": 1.0, "eval_s": 0.1, "error": None, "run": f"{arm}/seed_{seed}",
             "healthy": not (name == "retrained" and arm == "base" and seed == 2), "failures": [],
             "metrics": {"kl": value, "modes": 8.0, "hq": 0.5}}
            for seed, pair in enumerate(pairs) for arm, value in zip(("base", "+replay"), pair, strict=True)
        ]  # fmt: skip
        (tmp_path / name / "results.csv").write_text(results_csv(rows))
    assert compare_folders.main([str(tmp_path / "stored"), str(tmp_path / "retrained")]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("| replay |"))
    assert "kl: -0.2 → +0.03333" in line and "**helps → no evidence**" in line
    assert "**0% / 0% → 0% / 33%**" in line  # the retrain's doctor called one base run unhealthy
    assert "| base | 3 → 3 | **0% → 33%** |" in out
    assert "moved: 1 verdict, 1 adjusted, 1 failure rate" in out
    with pytest.raises(SystemExit, match="does not exist"):
        compare_folders.main([str(tmp_path / "stored"), str(tmp_path / "none")])
