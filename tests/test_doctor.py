"""The doctor: each detector on synthetic stat streams, the replayed diagnosis, stop and rollback."""

import importlib.util
import json
import math
import shutil
from pathlib import Path

import pytest
import torch

import ganhacks
from ganhacks.config import DoctorConfig, build_config
from ganhacks.errors import ConfigError
from ganhacks.monitor.doctor import CODES, Doctor, diagnose
from ganhacks.training.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CFG = DoctorConfig(warmup=100)
INFO_2D = {"kind": "2d", "num_modes": 8, "num_classes": 8}
INFO_IMG = {"kind": "image", "num_modes": None, "num_classes": 10}


def healthy_row(step, wobble=0.0):
    row = {
        "step": step,
        "loss_d": 1.38 + 0.02 * math.sin(step / 7) + wobble,
        "loss_g": 0.70 + 0.02 * math.cos(step / 5),
        "d_real": 0.52,
        "d_fake": 0.48,
        "grad_norm_d": 2.0,
        "grad_norm_g": 3.0,
        "grad_norm_d_layer": 1.0,
        "grad_norm_g_layer": 1.5,
    }
    if step % 50 == 0:  # a probe every 5th row
        row.update({"doctor/finite": 1.0, "doctor/diversity": 0.95, "doctor/g_change": 1e-2, "doctor/modes": 8.0})
        # the probe's k-NN numbers, with the wobble 256 samples give them
        row.update({"doctor/recall": 0.6 + 0.03 * math.sin(step / 70), "doctor/precision": 0.8, "doctor/coverage": 0.7})
    return row


def stream(change=None, start=0, steps=1000, info=INFO_2D, cfg=CFG):
    """Feed rows every 10 steps; from ``start`` on, ``change(row, step)`` breaks them. Returns the events."""
    doctor = Doctor(cfg, info)
    for step in range(10, steps + 1, 10):
        row = healthy_row(step)
        if change is not None and step >= start:
            change(row, step)
        doctor.observe(row)
    return doctor.events


def only(events, code):
    assert [e.code for e in events] == [code], [e.message for e in events]
    return events[0]


def test_no_detector_fires_on_a_healthy_stream():
    assert stream() == []
    assert stream(info=INFO_IMG) == []


def test_non_finite_fires_on_the_first_bad_row():
    e = only(stream(lambda r, s: r.update(loss_d=float("nan")), start=300), "non_finite")
    assert (e.started, e.step) == (300, 300) and math.isnan(e.evidence["loss_d"])
    e = only(stream(lambda r, s: r.update({"doctor/finite": 0.0}) if "doctor/finite" in r else None, start=300), "non_finite")
    assert e.step == 300 and e.evidence == {"weights_finite": 0.0}


def test_exploding_gradients_needs_two_rows_over_the_limit():
    e = only(stream(lambda r, s: r.update(grad_norm_g=5000.0), start=200), "exploding_gradients")
    assert (e.started, e.step) == (200, 210) and e.evidence["grad_norm_g"] == 5000.0
    assert stream(lambda r, s: r.update(grad_norm_d_layer=5000.0) if s == 200 else None) == []  # one spike


def test_d_wins_after_a_window_and_never_in_warmup():
    e = only(stream(lambda r, s: r.update(d_real=0.99, d_fake=0.02, loss_d=0.03), start=500), "d_wins")
    assert (e.started, e.step) == (500, 540) and e.evidence["d_real"] == 0.99
    assert stream(lambda r, s: r.update(d_real=0.99, d_fake=0.02) if s < 100 else None) == []


def test_a_flickering_failure_is_one_event():
    events = stream(lambda r, s: r.update(d_real=0.99, d_fake=0.02) if (s // 10) % 7 else None, start=300)
    assert [e.code for e in events] == ["d_wins"]


def test_an_event_whose_sign_went_away_for_a_window_has_ended_and_one_still_holding_has_not():
    from ganhacks.monitor.doctor import verdict

    phase = only(stream(lambda r, s: r.update(d_real=0.99, d_fake=0.02) if s < 500 else None, start=200), "d_wins")
    assert (phase.started, phase.ended) == (200, 490) and "ended after step 490" in phase.message
    live = only(stream(lambda r, s: r.update(d_real=0.99, d_fake=0.02), start=200), "d_wins")
    assert live.ended is None
    recovered, failing = verdict([phase], [], 1000, "warn"), verdict([live], [], 1000, "warn")
    assert (recovered["healthy"], recovered["failures"], recovered["ongoing"]) == (False, ["d_wins"], [])
    assert failing["ongoing"] == ["d_wins"]


def test_g_fools_with_garbage_when_g_loss_falls_and_d_rates_fakes_real():
    def fooled(row, step):
        row.update(loss_g=0.7 * 0.9 ** ((step - 400) / 10), d_fake=0.8, d_real=0.5)

    e = only(stream(fooled, start=400), "g_fools_with_garbage")
    assert 400 < e.step <= 490 and e.evidence["loss_g"] < 0.75 * e.evidence["loss_g_first"]

    def fooled_but_improving(row, step):  # the same losses, but the quality keeps rising: G is learning
        if step >= 400:
            fooled(row, step)
        if "doctor/modes" in row:
            row["doctor/hq"] = step / 1000

    assert stream(fooled_but_improving, start=0) == []


def test_mode_collapse_from_diversity_or_lost_modes():
    def collapse(row, step):
        if "doctor/diversity" in row:
            row.update({"doctor/diversity": 0.05})

    e = only(stream(collapse, start=500), "mode_collapse")
    assert (e.started, e.step) == (500, 700)  # five probes, 50 steps apart
    assert e.evidence == {"diversity": 0.05, "best_diversity": 0.95}
    assert stream(collapse, start=0) == []  # never varied: not learning yet, not a collapse
    gathered = {"doctor/modes": 2.0, "doctor/recall": 0.2}  # G on 2 of 8 modes reaches about a quarter of the data
    e = only(stream(lambda r, s: r.update(gathered) if "doctor/modes" in r else None, start=500), "mode_collapse")
    assert e.evidence == {"covered": 2.0, "best": 8.0, "of": 8.0}
    # never reaching half the modes is not collapse: G has not learned them yet (a short grid25 run)
    assert stream(lambda r, s: r.update(gathered) if "doctor/modes" in r else None, start=0) == []
    # image runs: class coverage from eval rows
    e = only(stream(lambda r, s: r.update(class_modes=10 if s < 500 else 2), start=0, info=INFO_IMG), "mode_collapse")
    assert e.started == 500


def test_probe_mode_count_falling_while_recall_holds_is_blur_not_collapse():
    """The probe's mode count drops when an early G's samples blur off the modes as well as when they
    gather on a few; only gathering costs recall (a healthy ring8 run: 5 modes to 1 at recall 0.8-0.98)."""

    def fewer_modes(recall_after: float):
        def change(row, step):
            if "doctor/modes" in row:
                row["doctor/recall"] = 0.95 if step < 500 else recall_after
                if step >= 500:
                    row["doctor/modes"] = 1.0

        return change

    assert stream(fewer_modes(0.9), start=0) == []
    e = only(stream(fewer_modes(0.2), start=0), "mode_collapse")
    assert e.started == 500 and e.evidence == {"covered": 1.0, "best": 8.0, "of": 8.0}


def test_probe_and_evaluation_mode_counts_are_each_judged_against_their_own_best():
    """An evaluation counts modes over thousands of samples, the probe over 256 with a 2 % share, so a
    probe's count below half an evaluation's is no collapse (a healthy 20k-step grid25 run: 7 against 18)."""
    info = {"kind": "2d", "num_modes": 25, "num_classes": 25}

    def probe_low_eval_high(row, step):
        if "doctor/modes" in row:
            row["doctor/modes"] = 7.0
        if step % 200 == 0:
            del row["doctor/modes"]
            row["modes"] = 18.0  # an eval row of its own (eval.every)

    assert stream(probe_low_eval_high, info=info) == []

    def eval_falls(row, step):
        probe_low_eval_high(row, step)
        if "modes" in row and step >= 600:
            row["modes"] = 4.0

    e = only(stream(eval_falls, info=info), "mode_collapse")
    assert e.evidence == {"covered": 4.0, "best": 18.0, "of": 25.0}
    # a checkpoint written when mode_collapse kept one best coverage (a number) still resumes
    doctor = Doctor(CFG, info)
    state = doctor.state_dict()
    state["detectors"]["mode_collapse"]["best_covered"] = 18.0
    doctor.load_state_dict(state)
    doctor.observe(healthy_row(50))
    assert doctor.events == []


def test_mode_collapse_from_recall_against_its_best_or_a_floor():
    def lose_recall(row, step):
        if "doctor/recall" in row:
            row.update({"doctor/recall": 0.2, "doctor/precision": 0.9})

    assert stream(lose_recall, start=500) == []  # 2D runs are judged by their modes, not recall
    e = only(stream(lose_recall, start=500, info=INFO_IMG), "mode_collapse")
    assert (e.started, e.step) == (500, 700)
    assert e.evidence["recall"] == 0.2 and e.evidence["precision"] == 0.9 and e.evidence["best_recall"] > 0.6
    # a G whose best recall stays under recall_min_best has not learned enough to lose it
    low = lambda r, s: r.update({"doctor/recall": 0.08 if s < 500 else 0.01}) if "doctor/recall" in r else None  # noqa: E731
    assert stream(low, start=0, info=INFO_IMG) == []
    # ... unless a floor is set: then being under it is enough
    e = only(stream(low, start=0, info=INFO_IMG, cfg=DoctorConfig(warmup=100, recall_floor=0.05)), "mode_collapse")
    assert e.started == 500


def _slide(first, last, start, probes=10, key="doctor/recall", precision=None):
    """A change that moves ``key`` linearly from ``first`` to ``last`` over ``probes`` probes from ``start``."""

    def change(row, step):
        if key in row:
            t = min(1.0, (step - start) / (50 * (probes - 1)))
            row[key] = first + t * (last - first)
            if precision is not None:
                row["doctor/precision"] = precision[0] + t * (precision[1] - precision[0])

    return change


def test_slow_collapse_when_recall_drifts_down_while_precision_holds():
    # 0.6 -> 0.36 over ten probes: never under half the best, so mode_collapse stays quiet
    assert stream(_slide(0.6, 0.36, 300), start=300) == []  # 2D: an early G's blob sharpening looks like this
    e = only(stream(_slide(0.6, 0.36, 300), start=300, info=INFO_IMG), "slow_collapse")
    assert e.step == 750 and e.evidence["recall"] < 0.7 * e.evidence["recall_first"]
    assert e.evidence["precision"] == pytest.approx(0.8) and e.evidence["over_steps"] == 450
    assert "precision" in e.message and "recall" in e.message and "tricks.instance_noise" in e.hint
    # precision falling with it: G is getting worse at everything, not narrowing
    assert stream(_slide(0.6, 0.36, 300, precision=(0.8, 0.5)), start=300, info=INFO_IMG) == []
    # a smaller drift than recall_drop is noise
    assert stream(_slide(0.6, 0.5, 300), start=300, info=INFO_IMG) == []


def test_unstable_when_loss_variance_spikes():
    e = only(stream(lambda r, s: r.update(loss_d=1.38 + (1.5 if (s // 10) % 2 else -1.0)), start=600), "unstable")
    assert 600 <= e.step <= 680 and e.evidence["loss_swing"] > 5 * e.evidence["usual_swing"]


def test_one_loss_excursion_that_d_recovers_from_is_not_unstable():
    # The shape of a healthy mnist5k baseline (seed 4, step 340) that the swing rule once called
    # unstable: D's loss jumps once, G's drops a row later, and both relax back over five rows.
    jump = {
        0: (1.1, 0.0),
        10: (0.62, -1.35),
        20: (0.3, -0.86),
        30: (0.16, -0.56),
        40: (0.08, -0.42),
        50: (0.06, -0.28),
        60: (0.0, -0.08),
    }

    def every(period):
        def change(row, step):
            d, g = jump.get((step - 600) % period if period else step - 600, (0.0, 0.0))
            row.update(loss_d=row["loss_d"] + d, loss_g=row["loss_g"] + g)

        return change

    assert stream(every(None), start=600) == []
    assert stream(every(100), start=600) == []  # one excursion now and then, each recovered from
    # the same jump again before the losses settle is oscillation, and is raised
    e = only(stream(every(60), start=600), "unstable")
    assert e.started == 620 and e.step == 670 and e.evidence["loss_swing"] > 0.25


def test_stalled_when_g_stops_moving():
    e = only(stream(lambda r, s: r.update({"doctor/g_change": 1e-9}) if "doctor/g_change" in r else None, start=300), "stalled")
    assert (e.started, e.step) == (300, 500)


def test_every_code_has_a_hint_naming_what_to_try():
    from ganhacks.monitor.doctor import HINTS

    assert set(HINTS) == set(CODES) and all("tricks." in h or "optim." in h for h in HINTS.values())


def test_doctor_settings_are_validated():
    with pytest.raises(ConfigError, match="doctor.remedy"):
        build_config(overrides=["doctor.remedy=halve_lr,pray"])
    with pytest.raises(ConfigError, match="doctor.window"):
        build_config(overrides=["doctor.window=0"])
    assert build_config(overrides=["doctor.action=rollback", "doctor.remedy=halve_lr_d,instance_noise"])


def test_save_checkpoint_keeps_the_protected_one(tmp_path):
    state = {"w": torch.zeros(2)}
    for step in (10, 20, 30, 40):
        save_checkpoint(tmp_path, step, state, keep=1, protect=20)
    assert [p.stem for p in list_checkpoints(tmp_path)] == ["step_0000020", "step_0000040"]


# ---------------------------------------------------------------------------- end to end


def _injections():
    """benchmarks/doctor_eval.py: its fault-injection tricks and cases."""
    import sys

    if "doctor_eval" not in sys.modules:
        spec = importlib.util.spec_from_file_location("doctor_eval", ROOT / "benchmarks" / "doctor_eval.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["doctor_eval"] = module  # dataclasses resolve their annotations through sys.modules
        spec.loader.exec_module(module)
    return sys.modules["doctor_eval"]


SMALL = ["data.name=digits", "model.ngf=8", "model.ndf=8", "train.steps=200", "doctor.probe_every=20"]


def test_warn_run_writes_events_and_verdict_and_the_cli_agrees(tmp_path, cli):
    de = _injections()
    run = ganhacks.train(build_config(overrides=SMALL), out=tmp_path, tricks=[de.PoisonG(100)])
    verdict = json.loads((run.path / "verdict.json").read_text())
    assert verdict["healthy"] is False and verdict["failures"] == ["non_finite"] and run.step == 200
    events = [json.loads(line) for line in (run.path / "events.jsonl").read_text().splitlines()]
    assert events[0]["event"] == "non_finite" and events[0]["step"] == 110 and events[0]["hint"]
    # the offline doctor replays metrics.jsonl to the same events
    assert ganhacks.diagnose(run.path)["events"] == verdict["events"]
    code, out, _ = cli("doctor", str(run.path))
    assert code == 3 and "non_finite at step 110" in out  # the first row after the poison
    code, out, _ = cli("doctor", str(run.path), "--json")
    assert code == 3 and json.loads(out)["failures"] == ["non_finite"]

    healthy = ganhacks.train(build_config(overrides=SMALL), out=tmp_path)
    assert json.loads((healthy.path / "verdict.json").read_text())["healthy"] is True
    code, out, _ = cli("doctor", str(healthy.path))
    assert code == 0 and out.startswith("healthy")


def test_the_cli_says_when_every_failure_ended_and_when_one_still_holds(tmp_path, cli):
    import yaml

    run = ganhacks.train(build_config(overrides=[*SMALL, "train.steps=20"]), out=tmp_path).path
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["doctor"].update(warmup=CFG.warmup, probe_every=50)  # the rows below: a probe every 50 steps
    (run / "config.yaml").write_text(yaml.safe_dump(config))

    def rows(until):  # D wins from step 200 to ``until``; then the run is healthy again
        out = []
        for step in range(10, 1001, 10):
            row = healthy_row(step)
            if 200 <= step < until:
                row.update(d_real=0.99, d_fake=0.02)
            out.append(json.dumps(row))
        return "\n".join(out) + "\n"

    (run / "metrics.jsonl").write_text(rows(until=500))
    code, out, _ = cli("doctor", str(run))
    assert code == 3 and out.startswith("unhealthy: d_wins") and "the run recovered" in out
    assert "ended after step 490" in out
    assert ganhacks.diagnose(run)["ongoing"] == []
    (run / "metrics.jsonl").write_text(rows(until=2000))
    code, out, _ = cli("doctor", str(run))
    assert code == 3 and "recovered" not in out and ganhacks.diagnose(run)["ongoing"] == ["d_wins"]


def test_stop_ends_the_run_with_a_final_checkpoint(tmp_path):
    run = ganhacks.train(build_config(overrides=[*SMALL, "doctor.action=stop", "optim.g.lr=1e-12"]), out=tmp_path)
    assert run.step == 110  # stalled: five probes (20 steps apart) after the 20-step warm-up
    assert list_checkpoints(run.path / "checkpoints")[-1].stem == "step_0000110"
    verdict = json.loads((run.path / "verdict.json").read_text())
    assert verdict["actions"][0]["event"] == "stop" and verdict["actions"][0]["cause"] == "stalled"


def test_stop_on_nan_weights_writes_no_checkpoint_of_them(tmp_path):
    de = _injections()
    run = ganhacks.train(build_config(overrides=[*SMALL, "doctor.action=stop"]), out=tmp_path, tricks=[de.PoisonG(100)])
    assert run.step == 110
    saved = list_checkpoints(run.path / "checkpoints")
    assert saved and all(int(p.stem[5:]) < 100 for p in saved)
    assert all(torch.isfinite(t).all() for t in load_checkpoint(saved[-1])["G"].values())


def test_rollback_restores_healthy_weights_applies_the_remedy_and_goes_on(tmp_path):
    from ganhacks.api import prepare
    from ganhacks.training import RunDir, Trainer, new_run_dir

    de = _injections()
    cfg, data = prepare(build_config(overrides=[*SMALL, "doctor.action=rollback", "checkpoint.every=20"]))
    seen = {}

    class Watched(Trainer):
        def _rollback(self, event):
            result = super()._rollback(event)
            seen["G"] = {k: v.clone() for k, v in self.G.state_dict().items()}
            seen["saved"] = load_checkpoint(self.run.checkpoints / f"step_{self.step:07d}.json")["G"]
            seen["newer"] = [p.stem for p in list_checkpoints(self.run.checkpoints) if int(p.stem[5:]) > self.step]
            seen["step"], seen["lr_d"], seen["lr_g"] = (
                self.step,
                self.opt_d.param_groups[0]["lr"],
                self.opt_g.param_groups[0]["lr"],
            )
            return result

    trainer = Watched(cfg, data, tricks=[de.PoisonG(100)])
    trainer.run = RunDir(new_run_dir(tmp_path, "digits", "baseline"))
    trainer.fit()
    # restored from the newest healthy checkpoint, with both learning rates halved: the poison struck at
    # the end of step 100, so that step's checkpoint was refused (NaN weights) and 80 is the newest
    assert seen["step"] == 80 and seen["newer"] == []
    saved = seen["saved"]
    assert all(torch.equal(seen["G"][k], saved[k]) for k in saved)
    assert seen["lr_d"] == cfg.optim.d.lr / 2 and seen["lr_g"] == cfg.optim.g.lr / 2
    # ... and went on to the end with finite weights (the injection fires once)
    assert trainer.step == 200 and all(torch.isfinite(p).all() for p in trainer.G.parameters())
    verdict = json.loads(trainer.run.verdict.read_text())
    (rollback,) = verdict["actions"]
    assert rollback["event"] == "rollback" and rollback["to_step"] == 80 and rollback["remedy"] == ["halve_lr"]
    assert "non_finite" in verdict["failures"]
    rows = trainer.run.read_metrics()
    assert [r["step"] for r in rows].count(90) == 2  # steps 90 and 100 were trained twice
    assert ganhacks.diagnose(trainer.run.path)["events"] == verdict["events"]


def test_a_second_rollback_to_the_same_checkpoint_says_which_remedies_are_new():
    from ganhacks.training.remedies import rollback_message

    # the folder baseline's seed 2 (docs/doctor-eval-rollback): both rollbacks went back to step 0,
    # whose checkpoint predates the first remedy, so that one is applied again before the new one
    changes = ["lr_d=0.0001 lr_g=0.0002", "noise restarted", "lr_d=5e-05 lr_g=0.0002", "noise restarted"]
    text = rollback_message(150, 0, "d_wins", ["halve_lr_d", "instance_noise"], changes, 2, 3)
    assert text.startswith("doctor: rolled back from step 150 to step 0 because of d_wins; ")
    assert "remedy halve_lr_d+instance_noise (lr_d=5e-05 lr_g=0.0002; noise restarted), after applying again" in text
    assert text.endswith("step 0 predates (lr_d=0.0001 lr_g=0.0002; noise restarted); attempt 2 of 3.")
    first = rollback_message(150, 0, "d_wins", ["halve_lr_d", "instance_noise"], changes[:2], 1, 3)
    assert "again" not in first and "(lr_d=0.0001 lr_g=0.0002; noise restarted); attempt 1 of 3." in first


def test_rollback_with_instance_noise_remedy_adds_the_trick(tmp_path):
    de = _injections()
    overrides = [*SMALL, "doctor.action=rollback", "doctor.remedy=instance_noise", "checkpoint.every=40"]
    run = ganhacks.train(build_config(overrides=overrides), out=tmp_path, tricks=[de.PoisonG(100)])
    rows = run.metrics()
    sigma = [r["trick/instance_noise/sigma"] for r in rows if "trick/instance_noise/sigma" in r]
    assert sigma and sigma[0] > 0 and sigma[-1] < sigma[0]  # on from the rollback, decaying


def test_fast_doctor_validation(tmp_path):
    """The fast version of benchmarks/doctor_eval.py: a few cases, short runs, one seed."""
    de = _injections()
    cases = [c for c in de.CASES if c.name in de.FAST]
    out, keep = tmp_path / "runs", tmp_path / "kept"
    rows, results = de.evaluate(cases, seeds=1, workers=1, out=str(out), steps=de.FAST_STEPS, keep=str(keep))
    for row in rows:
        if row["expect"] == "(healthy)":
            assert row["other_events"] == 0, row
        else:
            assert row["detected"] == 1, row
    # --keep: each run's record (gzipped metrics and the files the doctor reads) is diagnosed as the run
    # was, and once the runs are gone a later call trains nothing and gives the same table
    for case in cases:
        full = de.finished_run(out / case.slug / "seed_0")
        record = de.kept_record(str(keep), case, 0)
        assert record is not None and not (record / "metrics.jsonl").exists()
        assert de.diagnosed(record) == de.diagnosed(full)
        assert (record / "metrics.jsonl.gz").stat().st_size < (full / "metrics.jsonl").stat().st_size / 3
    shutil.rmtree(out)
    again, replayed = de.evaluate(cases, seeds=1, workers=1, out=str(out), steps=de.FAST_STEPS, keep=str(keep))
    assert again == rows and not out.exists()
    assert [(r["case"], r["events"]) for r in replayed] == [(r["case"], r["events"]) for r in results]
    assert de.evaluate(cases, None, 1, str(out), run=False, keep=str(keep))[0] == rows


def test_doctor_eval_only_is_repeatable_and_matches_a_case_name_or_its_data_set():
    de = _injections()
    assert de.select() == de.CASES
    ring = de.select(["ring8"])  # by data set: the broken ring8 cases do not name it
    assert {c.name for c in ring} == {c.name for c in de.CASES if c.data == "ring8"}
    assert any(c.expect for c in ring) and any(c.expect is None for c in ring)
    both = de.select(["ring8", "d_wins"])  # a data set or a part of a name, either matches
    assert {c.name for c in both} == {c.name for c in ring} | {c.name for c in de.CASES if "d_wins" in c.name}
    assert {c.name for c in de.select(["digits"], fast=True)} == {
        c.name for c in de.CASES if c.name in de.FAST and c.data == "digits"
    }
    assert de.select(["no such case"]) == []


def test_doctor_eval_counts_detections_deadlines_and_its_photo_folder(tmp_path):
    de = _injections()
    mixed = next(c for c in de.CASES if "mixed" in c.name)
    row = de.summarise(mixed, [{"events": [("d_wins", 0, 300)]}, {"events": [("unstable", 0, 90)]}])
    assert (row["detected"], row["other_codes"], row["expect"]) == (1, ["unstable"], "mode_collapse or d_wins")
    pack = next(c for c in de.CASES if c.name == de.PACK)
    runs = [
        {"events": [("mode_collapse", 0, 300)], "recall_half": 400},  # raised before recall halved: on time
        {"events": [("mode_collapse", 0, 600)], "recall_half": 400},  # late
        {"events": [], "recall_half": None},  # its recall never fell below half its best
    ]
    assert de.summarise(pack, runs)["by_recall_half"] == (1, 2)
    # other events, and of them those still on at the last row (an event's 4th field, its end, is None)
    healthy_case = next(c for c in de.CASES if c.name == "healthy: digits")
    runs = [{"events": [("d_wins", 100, 140, 440)]}, {"events": [("d_wins", 100, 140, None)]}, {"events": []}]
    row = de.summarise(healthy_case, runs)
    assert (row["other_events"], row["other_ongoing"], row["other_codes"]) == (2, 1, ["d_wins"])
    assert "| 2/3 (d_wins) | 1/2 |" in de.table([row])
    # the folder's baseline: its d_wins must be raised and must have ended by the last row
    recovers = next(c for c in de.CASES if c.name == de.FOLDER_BASELINE)
    assert (recovers.expect, recovers.data, recovers.recovers) == ("d_wins", de.FOLDER, True)
    runs = [{"events": [("d_wins", 110, 150, 330), ("unstable", 300, 340, 400)]}, {"events": [("d_wins", 110, 150, None)]}]
    row = de.summarise(recovers, runs)
    assert (row["detected"], row["ended"], row["other_codes"]) == (2, 1, ["unstable"])
    assert "| d_wins | 2/2, 1 ended | 150 | 1/2 (unstable) | 0/1 |" in de.table([row])
    healthy = [c for c in de.CASES if c.expect is None and c.seeds == 10]
    assert {c.data for c in healthy} == {"ring8", "grid25", "mnist5k", "digits", de.FOLDER}
    assert {o for c in healthy for o in c.overrides} == {"preset=recommended", "preset=modern"}
    name = de.photo_crops(tmp_path / "crops", n=12, side=16)
    from ganhacks.config import build_config
    from ganhacks.data import load_data

    data = load_data(build_config(overrides=[f"data.name={name}", "data.size=16"]).data)
    assert data.x.shape == (12, 3, 16, 16) and data.y is None  # no labels: the probe uses its random embedding


def test_diagnose_on_a_folder_that_is_not_a_run(tmp_path, cli):
    code, _, err = cli("doctor", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in err
    code, _, err = cli("doctor", str(tmp_path))
    assert code == 2 and "not a ganhacks run folder" in err


def test_replay_resets_after_a_rollback_in_the_file():
    rows = [healthy_row(s) for s in range(10, 210, 10)]
    rows[9]["loss_d"] = float("nan")  # step 100
    rows += [healthy_row(s) for s in range(90, 210, 10)]  # rolled back to 80, trained again
    events = diagnose(rows, CFG, {"data": {"kind": "2d", "modes": [[0, 0]] * 8, "num_classes": 8}})
    assert [(e.code, e.step) for e in events] == [("non_finite", 100)]
