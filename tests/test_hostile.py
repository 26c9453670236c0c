"""Hostile and broken input not covered elsewhere: paths that try to leave the output folder, checkpoints
from another model, crafted pickles in a run folder, and messages that quote control characters.
docs/reliability.md lists every case with the test that proves it."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

import ganhacks
from ganhacks.config import build_config
from ganhacks.data import short_name
from ganhacks.errors import GanhacksError
from ganhacks.training.rundir import new_run_dir

TINY = ["data.name=ring8", "data.num_points=2000", "train.batch_size=32", "model.mlp_g_hidden=32", "model.mlp_d_hidden=16"]


@pytest.mark.parametrize(
    "data, preset",
    [
        ("folder:../../../etc", "baseline"),
        ("npz:/tmp/../../x.npz", "../../up"),
        ("..", "/abs/path"),
        ("a/../../b", "..\\..\\win"),
    ],
)
def test_run_folders_stay_inside_out(tmp_path, data, preset):
    out = tmp_path / "out"
    path = new_run_dir(out, short_name(data), preset)
    assert path.parent == out and path.is_dir()
    assert path.resolve().parent == out.resolve() and "/" not in path.name and "\\" not in path.name


def test_ablation_arm_folders_stay_inside_out(tmp_path):
    from ganhacks.bench.ablate import Ablation, parse_tricks, plan_arms

    arms = plan_arms(parse_tricks(["tricks.replay.p=0.5+data.name=../../x", "preset:baseline"]), "both")
    folder = Ablation(tmp_path / "abl")
    for arm in arms:
        run = folder.run_dir(arm, 0).resolve()
        assert run.is_relative_to((tmp_path / "abl" / "runs").resolve()), arm.slug


def test_checkpoint_from_another_model_is_refused_in_one_sentence(tmp_path, cli):
    small = ganhacks.train(build_config(overrides=[*TINY, "train.steps=10"]), out=tmp_path / "a")
    big = ganhacks.train(build_config(overrides=[*TINY, "train.steps=10", "model.mlp_g_hidden=48"]), out=tmp_path / "b")
    # Swap the checkpoints: each folder's config now disagrees with its tensors.
    shutil.rmtree(small.path / "checkpoints")
    shutil.copytree(big.path / "checkpoints", small.path / "checkpoints")
    code, _, err = cli("sample", str(small.path), "--out", str(tmp_path / "s.png"))
    assert code == 2 and "does not fit the run's model" in err and err.count("\n") == 1
    code, _, err = cli("train", "--resume", str(small.path), "--steps", "20")
    assert code == 2 and "does not fit the run's model" in err and err.count("\n") == 1


def test_a_crafted_pickle_in_a_run_folder_is_never_unpickled(tmp_path, cli, evil_pickle):
    run = ganhacks.train(build_config(overrides=[*TINY, "train.steps=10"]), out=tmp_path)
    evil = evil_pickle(run.path / "checkpoints" / "step_0000010.pt")
    code, _, err = cli("eval", str(evil))
    assert code == 2 and not evil_pickle.marker.exists()
    from ganhacks.training import load_checkpoint

    with pytest.raises(GanhacksError, match="pickles that can run arbitrary code"):
        load_checkpoint(evil)
    # A checkpoint JSON that points its tensors at another folder is read from its own folder only.
    meta = json.loads((run.path / "checkpoints" / "step_0000010.json").read_text())
    meta["tensors"] = "../../../../etc/passwd"
    (run.path / "checkpoints" / "step_0000010.json").write_text(json.dumps(meta))
    with pytest.raises(GanhacksError, match="missing or damaged"):
        load_checkpoint(run.path / "checkpoints" / "step_0000010.json")
    assert not evil_pickle.marker.exists()


def test_truncated_checkpoint_json_and_tensors(tmp_path, cli):
    run = ganhacks.train(build_config(overrides=[*TINY, "train.steps=10"]), out=tmp_path)
    ckpt = run.path / "checkpoints" / "step_0000010.json"
    ckpt.write_bytes(ckpt.read_bytes()[:30])
    code, _, err = cli("sample", str(run.path), "--out", str(tmp_path / "s.png"))
    assert code == 2 and "is damaged" in err and "Traceback" not in err


def test_error_messages_escape_control_characters(cli):
    code, _, err = cli("train", "--data", "ring\n8\x1b[2J", "--dry-run")
    assert code == 2 and err.count("\n") == 1 and "\\n" in err and "\x1b" not in err


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    from ganhacks.training import list_checkpoints, load_checkpoint
    from test_doctor import _injections

    run = ganhacks.train(
        build_config(overrides=[*TINY, "train.steps=30", "checkpoint.every=5"]), out=tmp_path, tricks=[_injections().PoisonG(12)]
    )
    steps = [int(p.stem[5:]) for p in list_checkpoints(run.path / "checkpoints")]
    assert steps and max(steps) <= 10  # every save after the poison was refused
    assert all(torch.isfinite(t).all() for t in load_checkpoint(run.path / "checkpoints")["G"].values())


def test_no_traceback_unless_debug(cli):
    code, _, err = cli("train", "--data", "nope", "--dry-run")
    assert code == 2 and err.startswith("error: Unknown data set 'nope'") and "Traceback" not in err
    with pytest.raises(GanhacksError, match="Unknown data set"):  # --debug lets the exception through
        cli("train", "--data", "nope", "--dry-run", "--debug")
