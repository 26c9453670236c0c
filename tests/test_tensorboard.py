"""TensorBoard event files (logging.tensorboard, --tensorboard), read back with TensorBoard's own reader."""

import json
import math
from pathlib import Path

import pytest

import ganhacks
from ganhacks.config import build_config
from ganhacks.errors import ConfigError
from ganhacks.training.tensorboard import scalars, tag

pytest.importorskip("tensorboard")  # in the dev extra, so CI runs these
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

SMALL = ["data.name=ring8", "train.steps=200", "doctor.probe_every=20", "train.sample_every=50"]


def read_events(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def expected_scalars(rows: list[dict]) -> dict[str, dict[int, float]]:
    """tag -> step -> value on the timeline the run went on with: a row at a step not after the one
    before it follows a rollback, which abandoned every row from that step on (they stay in
    metrics.jsonl; TensorBoard purges them)."""
    out: dict[str, dict[int, float]] = {}
    last = -1
    for row in rows:
        step = int(row["step"])
        if step <= last:
            for by_step in out.values():
                for s in [s for s in by_step if s >= step]:
                    del by_step[s]
        last = step
        for name, value in scalars(row).items():
            out.setdefault(name, {})[step] = value
    return {name: by_step for name, by_step in out.items() if by_step}


def assert_same_scalars(acc: EventAccumulator, rows: list[dict]) -> None:
    want = expected_scalars(rows)
    assert set(acc.Tags()["scalars"]) == set(want)
    for name, by_step in want.items():
        got = {e.step: e.value for e in acc.Scalars(name)}
        assert sorted(got) == sorted(by_step), name
        for step, value in by_step.items():
            if math.isnan(value):
                assert math.isnan(got[step]), (name, step)
            else:  # TensorBoard stores float32
                assert got[step] == pytest.approx(value, rel=1e-6, abs=1e-30), (name, step)


def test_names_are_grouped_the_way_people_browse_them():
    assert [tag(k) for k in ("loss_d", "loss_g", "d_real", "d_fake")] == ["Loss/D", "Loss/G", "D/real", "D/fake"]
    assert tag("grad_norm_g") == "Grad/G/norm" and tag("grad_norm_d_layer") == "Grad/D/layer_max"
    assert tag("skipped_d") == "Grad/D/skipped" and tag("grad_norm_d_reg") == "Grad/D_reg/norm"
    assert tag("trick/ada/p") == "trick/ada/p" and tag("doctor/recall") == "doctor/recall"
    assert tag("fd") == "eval/fd" and tag("kl") == "eval/kl" and tag("lr_g") == "LR/G"
    row = {"step": 3, "loss_d": 1.5, "generator": "G_ema", "healthy": True, "fd": 12}
    assert scalars(row) == {"Loss/D": 1.5, "eval/fd": 12.0}


def test_a_rolled_back_run_shows_its_rows_samples_and_events(tmp_path, cli):
    """Every number of metrics.jsonl, every sample grid and every doctor event and action come back
    from the event files; the rows of the abandoned timeline after the rollback are purged."""
    from test_doctor import _injections

    de = _injections()
    overrides = [*SMALL, "eval.every=100", "doctor.action=rollback", "checkpoint.every=20", "logging.tensorboard=true"]
    run = ganhacks.train(build_config(overrides=overrides), out=tmp_path, tricks=[de.PoisonG(100)])
    rows = run.metrics()
    assert [r["step"] for r in rows].count(90) == 2  # trained twice: the first rollback went back to step 80
    acc = read_events(run.path / "tb")
    assert_same_scalars(acc, rows)
    assert any(k.startswith("eval/") for k in acc.Tags()["scalars"]) and "doctor/recall" in acc.Tags()["scalars"]
    images = acc.Images("samples")
    assert sorted({i.step for i in images}) == sorted(int(p.stem[5:]) for p in (run.path / "samples").glob("step_*.png"))
    texts = [t.tensor_proto.string_val[0].decode() for t in acc.Tensors("doctor/events/text_summary")]
    events = [json.loads(line) for line in (run.path / "events.jsonl").read_text().splitlines()]
    kinds = {e["event"] for e in events}
    assert {"non_finite", "rollback"} <= kinds
    # the rollback's text is at the step it went back to, so the purge of the abandoned steps keeps it
    assert any(t.startswith("**rollback**") and "rolled back from step" in t for t in texts)


def test_resume_rewinds_the_view_and_the_cli_switch_is_not_a_config_change(tmp_path, cli):
    """A run resumed from an older checkpoint (the interrupted timeline cut from metrics.jsonl) has event
    files that agree with metrics.jsonl; --tensorboard may be switched on at a resume."""
    code, out, _ = cli(
        "train", "--data", "ring8", "--steps", "120", "--set", "checkpoint.every=60", "--out", str(tmp_path), "--quiet"
    )
    assert code == 0
    run = Path(out.strip().splitlines()[-1])
    assert not (run / "tb").exists()
    for newest in sorted((run / "checkpoints").glob("step_0000120.*")):
        newest.unlink()  # as if the run died after step 120's rows, before its checkpoint: resume goes back to 60
    assert cli("train", "--resume", str(run), "--steps", "180", "--tensorboard", "--quiet")[0] == 0
    rows = _rows(run)
    assert [r["step"] for r in rows] == sorted({r["step"] for r in rows})  # cut back, then trained on: no step twice
    acc = read_events(run / "tb")
    # the event files start at the resume: they hold the rows from step 61 on
    assert_same_scalars(acc, [r for r in rows if r["step"] > 60])


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_ablate_writes_one_event_folder_per_run(tmp_path, cli):
    from ganhacks.bench.ablate import Ablation

    out = tmp_path / "abl"
    args = ["--tricks", "tricks.pack", "--seeds", "2", "--steps", "12", "--tensorboard", "--out", str(out), "--quiet"]
    assert cli("ablate", "--data", "ring8", *args)[0] == 0
    folder = Ablation(out)
    plan = folder.read_plan()
    runs = [(arm, seed) for arm in plan.arms() for seed in range(2)]
    assert sorted(p.relative_to(out / "tb") for p in (out / "tb").glob("*/seed_*")) == sorted(
        folder.tb_dir(a, s).relative_to(out / "tb") for a, s in runs
    )
    for arm, seed in runs:
        assert_same_scalars(read_events(folder.tb_dir(arm, seed)), _rows(folder.run_dir(arm, seed)))
        assert not (folder.run_dir(arm, seed) / "tb").exists()  # the view lives under DIR/tb, not in the run folder


def test_without_the_package_it_is_one_sentence_before_anything_is_written(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(ConfigError, match=r"pip install 'ganhacks\[tb\]'"):
        ganhacks.train(build_config(overrides=["data.name=ring8", "train.steps=5", "logging.tensorboard=true"]), out=tmp_path)
    assert not any(tmp_path.iterdir())
