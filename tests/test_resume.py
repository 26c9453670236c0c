"""Resume: a run killed at any moment, even inside a checkpoint save, and resumed, writes the same
losses and ends with the same weights as one that was never interrupted (CPU, bit for bit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

# Small and quick, yet with everything that carries state: tricks with buffers and RNGs, a checkpoint
# interval that is not a multiple of the log interval (so partial statistics are saved), probes and a
# short doctor warm-up (so the detectors have memory), and a schedule (instance noise).
SETTINGS = [
    "train", "--data", "ring8", "--steps", "60", "--seed", "5", "--batch-size", "32", "--quiet",
    "--set", "data.num_points=2000", "--set", "model.mlp_g_hidden=32", "--set", "model.mlp_d_hidden=16",
    "--set", "train.log_every=4", "--set", "train.sample_every=20", "--set", "checkpoint.every=15",
    "--set", "checkpoint.keep=2", "--set", "doctor.probe_every=8", "--set", "doctor.warmup=8",
    "--set", "train.threads=1", "--set", "tricks.replay.p=0.5", "--set", "tricks.instance_noise.sigma=0.1",
]  # fmt: skip

# Run the CLI in a child process that dies with os._exit (what SIGKILL does: no cleanup, no flush) at one
# chosen point. Patching the module the loop calls keeps the library free of test hooks.
CHILD = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    import ganhacks.training.checkpoint as ck
    import ganhacks.training.loop as loop
    where, name = sys.argv[1], sys.argv[2]
    real_write, real_step = ck.atomic_write, loop.Trainer.train_step

    def atomic_write(path, data):
        path = Path(path)
        if path.name == name and where == "inside-write":  # a torn temporary file, then death
            (path.parent / f".{path.name}.x.tmp").write_bytes(data[: len(data) // 2])
            os._exit(137)
        if path.name == name and where == "before-write":
            os._exit(137)
        real_write(path, data)

    def train_step(self):
        if where == "between-steps" and self.step == int(name):
            os._exit(137)
        real_step(self)

    ck.atomic_write, loop.Trainer.train_step = atomic_write, train_step
    from ganhacks.cli import main
    sys.exit(main(sys.argv[3:]))
    """
)


def _rows(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "sec_per_step"} for r in rows]  # wall time differs


def _weights(run: Path) -> dict[str, torch.Tensor]:
    tensors = load_file(str(run / "checkpoints" / "step_0000060.safetensors"))
    return {k: v for k, v in tensors.items() if k.startswith(("G.", "D.", "opt_"))}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from ganhacks.cli import main

    out = tmp_path_factory.mktemp("ref")
    assert main([*SETTINGS, "--out", str(out)]) == 0
    return next(out.iterdir())


@pytest.mark.parametrize(
    "where, name",
    [
        ("between-steps", "37"),
        ("inside-write", "step_0000045.safetensors"),  # tensors half written
        ("before-write", "step_0000045.json"),  # tensors complete, the JSON that marks them complete not yet
        ("inside-write", "step_0000030.json"),
    ],
)
def test_killed_and_resumed_run_matches_uninterrupted(reference, tmp_path, cli, where, name):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, where, name, *SETTINGS, "--out", str(tmp_path)], env=env, capture_output=True, text=True
    )
    assert child.returncode == 137, child.stderr
    run = next(tmp_path.iterdir())
    assert not (run / "verdict.json").exists()
    code, out, err = cli("train", "--resume", str(run), "--quiet")
    assert code == 0, err
    assert out.strip() == str(run)
    assert _rows(run) == _rows(reference)
    mine, ref = _weights(run), _weights(reference)
    assert mine.keys() == ref.keys() and all(torch.equal(mine[k], ref[k]) for k in ref)
    assert json.loads((run / "verdict.json").read_text()) == json.loads((reference / "verdict.json").read_text())
    assert not list(run.rglob("*.tmp"))
    from ganhacks.config import RunConfig, from_dict, load_yaml
    from ganhacks.training import load_checkpoint

    assert from_dict(RunConfig, load_checkpoint(run / "checkpoints")["config"]) == from_dict(
        RunConfig, load_yaml(run / "config.yaml")
    )
    resumes = json.loads((run / "run.json").read_text())["resumes"]
    assert len(resumes) == 1 and resumes[0]["changed"] == []


def test_resume_with_evaluations_on_images_matches_uninterrupted(tmp_path, cli):
    """Image data with evaluations during training: the resumed run builds its evaluator (and loads the
    cached classifier) at another step than the uninterrupted one, which must not shift any RNG."""
    settings = ["train", "--data", "digits", "--steps", "30", "--quiet", "--set", "model.ngf=8", "--set", "model.ndf=8",
                "--set", "eval.every=10", "--set", "eval.n=100", "--set", "checkpoint.every=10", "--set", "train.log_every=5",
                "--set", "doctor.probe_every=5", "--set", "tricks.swap.every=7", "--set", "train.threads=1"]  # fmt: skip
    assert cli(*settings, "--out", str(tmp_path / "ref"))[0] == 0
    reference = next((tmp_path / "ref").iterdir())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.run([sys.executable, "-c", CHILD, "between-steps", "15", *settings, "--out", str(tmp_path / "b")], env=env)
    assert child.returncode == 137
    run = next((tmp_path / "b").iterdir())
    assert cli("train", "--resume", str(run), "--quiet")[0] == 0
    assert _rows(run) == _rows(reference) and any("fd" in r for r in _rows(run))
    mine = load_file(str(run / "checkpoints" / "step_0000030.safetensors"))
    ref = load_file(str(reference / "checkpoints" / "step_0000030.safetensors"))
    assert mine.keys() == ref.keys() and [k for k in ref if not torch.equal(mine[k], ref[k])] == []


def test_resume_extends_a_finished_run_and_refuses_config_changes(reference, tmp_path, cli):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(reference, run)
    before = (run / "metrics.jsonl").read_bytes()
    code, _, err = cli("train", "--resume", str(run), "--set", "optim.d.lr=0.001", "--set", "train.batch_size=16")
    assert code == 2
    assert "would change its config" in err and "optim.d.lr: 0.0001 -> 0.001" in err and "train.batch_size: 32 -> 16" in err
    assert "--allow-config-change" in err and "Traceback" not in err
    assert (run / "metrics.jsonl").read_bytes() == before  # a refused resume touches nothing
    code, _, err = cli("train", "--resume", str(run), "--steps", "30")
    assert code == 2 and "already at step 60, past --steps 30" in err
    code, _, err = cli("train", "--resume", str(run), "--out", str(tmp_path))
    assert code == 2 and "--out cannot be used with --resume" in err
    code, _, err = cli("train", "--resume", str(run), "--set", "model.mlp_d_hidden=8", "--allow-config-change")
    assert code == 2 and "does not fit the run's model" in err
    code, _, err = cli(
        "train", "--resume", str(run), "--steps", "75", "--set", "optim.d.lr=0.001", "--allow-config-change", "--quiet"
    )
    assert code == 0, err
    rows = _rows(run)
    assert rows[-1]["step"] == 75 and rows[-1]["lr_d"] == pytest.approx(0.001)
    assert (run / "checkpoints" / "step_0000075.json").exists()
    assert "lr: 0.001" in (run / "config.yaml").read_text() and "steps: 75" in (run / "config.yaml").read_text()
    assert json.loads((run / "run.json").read_text())["resumes"][-1]["changed"] == ["optim.d.lr: 0.0001 -> 0.001"]


def test_resume_falls_back_past_a_damaged_checkpoint(reference, tmp_path, cli):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(reference, run)
    newest = run / "checkpoints" / "step_0000060.safetensors"
    newest.write_bytes(newest.read_bytes()[:50])  # truncated on disk
    code, _, err = cli("train", "--resume", str(run), "--quiet")
    assert code == 0 and "skipping checkpoint step_0000060.json" in err
    assert _rows(run) == _rows(reference)


def test_python_api_resume(reference, tmp_path):
    import shutil

    import ganhacks

    run = tmp_path / "run"
    shutil.copytree(reference, run)
    with pytest.raises(ganhacks.GanhacksError, match="would change its config"):
        ganhacks.resume(run, overrides=["optim.g.lr=0.01"])
    resumed = ganhacks.resume(run, steps=66)
    assert resumed.step == 66 and resumed.path == run and resumed.config.train.steps == 66
    assert _rows(run)[:-2] == _rows(reference) and [r["step"] for r in _rows(run)[-2:]] == [64, 66]


def test_resume_errors_are_one_sentence(tmp_path, cli):
    code, _, err = cli("train", "--resume", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in err
    (tmp_path / "empty").mkdir()
    code, _, err = cli("train", "--resume", str(tmp_path / "empty"))
    assert code == 2 and "not a ganhacks run folder" in err
    code, _, err = cli("train", "--data", "ring8", "--allow-config-change")
    assert code == 2 and "only applies with --resume" in err


# ---------------------------------------------------------------------------- the non-finite guard

TINY = ["data.name=ring8", "data.num_points=2000", "train.batch_size=32", "model.mlp_g_hidden=32", "model.mlp_d_hidden=16"]


class NaNOnce:
    """A trick that makes one D update's loss NaN and, at another step, one G update's gradients NaN
    while its loss stays finite (sqrt at 0 has an infinite slope, times 0)."""

    def __new__(cls, d_at: int, g_at: int):
        from ganhacks.tricks import Trick

        class _NaN(Trick):
            key = "test/nan_once"

            def extra_d_loss(self, ctx):
                return torch.tensor(float("nan")) if ctx.step == d_at else None

            def extra_g_loss(self, ctx):
                if ctx.step != g_at:
                    return None
                return (next(ctx.G.parameters()).abs().sum() * 0.0).sqrt()

        return _NaN()


def test_non_finite_updates_are_skipped_and_reported(tmp_path):
    import ganhacks
    from ganhacks.config import build_config
    from ganhacks.training import list_checkpoints, load_checkpoint

    cfg = build_config(overrides=[*TINY, "train.steps=40", "checkpoint.every=10"])
    run = ganhacks.train(cfg, out=tmp_path, tricks=[NaNOnce(d_at=12, g_at=25)])
    rows = {r["step"]: r for r in run.metrics()}
    assert rows[20]["skipped_d"] == pytest.approx(0.1) and rows[20]["skipped_g"] == 0.0  # 1 of the 10 updates
    assert rows[30]["skipped_g"] == pytest.approx(0.1) and rows[30]["loss_g"] == rows[30]["loss_g"]  # finite loss
    assert rows[10]["skipped_d"] == rows[40]["skipped_g"] == 0.0
    for path in list_checkpoints(run.path / "checkpoints"):  # every update that was applied was finite
        state = load_checkpoint(path)
        assert all(torch.isfinite(t).all() for net in ("G", "D") for t in state[net].values())
    verdict = json.loads((run.path / "verdict.json").read_text())
    (raised,) = [e for e in verdict["events"] if e["code"] == "non_finite"]  # one episode: rows 20 and 30
    assert raised["step"] == 20 and raised["evidence"]["skipped_d"] == pytest.approx(0.1)


def test_classifier_training_leaves_the_global_rng_alone():
    from ganhacks.metrics.classifier import train_classifier

    x = torch.rand(200, 1, 8, 8)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    train_classifier(x, torch.arange(200) % 4, epochs=1)
    assert torch.equal(torch.get_rng_state(), before)


def test_resume_replays_the_doctors_remedies(tmp_path):
    """A rollback that switched instance noise on: the resumed trainer has the same tricks, schedules,
    learning rates, doctor memory and actions as the one that wrote the checkpoint."""
    import ganhacks
    from ganhacks.api import prepare
    from ganhacks.config import build_config
    from ganhacks.tricks.noise import InstanceNoise
    from test_doctor import _injections

    de = _injections()
    cfg = build_config(overrides=[*TINY, "train.steps=60", "checkpoint.every=10", "doctor.action=rollback",
                                  "doctor.remedy=halve_lr,instance_noise"])  # fmt: skip
    run = ganhacks.train(cfg, out=tmp_path, tricks=[de.PoisonG(30)])
    from ganhacks.training import Trainer, load_checkpoint

    state = load_checkpoint(run.path / "checkpoints")
    resolved = ganhacks.load_run(run.path).config
    fresh = Trainer(*prepare(resolved))
    fresh.resume(state)
    noise = [t for t in fresh.tricks if isinstance(t, InstanceNoise)]
    assert len(noise) == 1 and noise[0].conf.start == 20 and noise[0].conf.until == 20 + (60 - 20) // 2
    assert fresh.opt_d.param_groups[0]["lr"] == resolved.optim.d.lr / 2
    assert fresh.remedies == ["halve_lr", "instance_noise"] and fresh.rollbacks == 1
    assert [a["event"] for a in fresh.actions] == ["rollback"]
    assert [e.code for e in fresh.doctor.events] == ["non_finite"]


def test_resume_refuses_data_that_changed(tmp_path, cli):
    import numpy as np

    path = tmp_path / "d.npz"
    np.savez(path, x=np.random.default_rng(0).integers(0, 256, (64, 1, 16, 16), dtype=np.uint8))
    args = ["--data", f"npz:{path}", "--steps", "4", "--batch-size", "16", "--quiet", "--set", "model.ngf=8"]
    code, out, err = cli("train", *args, "--set", "model.ndf=8", "--set", "checkpoint.every=2", "--out", str(tmp_path / "runs"))
    assert code == 0, err
    run = out.strip().splitlines()[-1]
    np.savez(path, x=np.zeros((48, 1, 16, 16), np.uint8))  # the user's file changed since
    code, _, err = cli("train", "--resume", run, "--steps", "6")
    assert code == 2 and "data n: 64 -> 48" in err and "--allow-config-change" in err
    code, _, err = cli("train", "--resume", run, "--steps", "6", "--allow-config-change", "--quiet")
    assert code == 0, err  # allowed: a fresh epoch over the new samples
