"""Stops that users and clusters make: Ctrl-C, SIGTERM and a full disk lose nothing and say what to do."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from test_resume import SETTINGS, _rows, _weights, reference  # noqa: F401 - reference is a fixture

# A child that sends itself SIGNAL when step STEP begins, as a terminal's Ctrl-C or a scheduler's
# SIGTERM would arrive mid-step; with SECOND, a second Ctrl-C lands inside the stop's checkpoint write.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import ganhacks.training.checkpoint as ck
    import ganhacks.training.loop as loop
    sig, at, second = getattr(signal, sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "second"
    real_step, real_write = loop.Trainer.train_step, ck.atomic_write

    def train_step(self):
        if self.step == at:
            os.kill(os.getpid(), sig)
        real_step(self)

    def atomic_write(path, data):
        if second and path.name.startswith(f"step_{at + 1:07d}"):
            os.kill(os.getpid(), signal.SIGINT)  # the impatient user's second Ctrl-C, inside the stop's save
        real_write(path, data)

    loop.Trainer.train_step, ck.atomic_write = train_step, atomic_write
    from ganhacks.cli import main
    sys.exit(main(sys.argv[4:]))
    """
)


def _child(tmp_path: Path, sig: str, at: int, second: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [sys.executable, "-c", CHILD, sig, str(at), "second" if second else "-", *SETTINGS, "--out", str(tmp_path)]
    return subprocess.run(args, env=env, capture_output=True, text=True)


@pytest.mark.parametrize(("sig", "code", "said"), [("SIGINT", 130, "Ctrl-C (SIGINT)"), ("SIGTERM", 143, "SIGTERM")])
def test_a_signal_checkpoints_the_step_and_the_resumed_run_matches(reference, tmp_path, cli, sig, code, said):  # noqa: F811
    child = _child(tmp_path, sig, 22)
    run = next(tmp_path.iterdir())
    assert child.returncode == code, child.stderr
    # the step it was in (22 -> 23) finished, was checkpointed, and one sentence says how to go on
    assert child.stderr.strip() == (
        f"Stopped by {said} at step 23; its checkpoint at step 23 is in {run / 'checkpoints'}. "
        f"Continue with: ganhacks train --resume {run}"
    )
    assert (run / "checkpoints" / "step_0000023.json").is_file() and not (run / "verdict.json").exists()
    code, _, err = cli("train", "--resume", str(run), "--quiet")
    assert code == 0, err
    assert _rows(run) == _rows(reference)
    mine, ref = _weights(run), _weights(reference)
    assert all(torch.equal(mine[k], ref[k]) for k in ref)


def test_a_second_ctrl_c_during_the_save_leaves_the_previous_checkpoint(reference, tmp_path, cli):  # noqa: F811
    child = _child(tmp_path, "SIGINT", 22, second=True)
    run = next(tmp_path.iterdir())
    assert child.returncode == 130
    assert child.stderr.strip().endswith(
        f"interrupted; the newest complete checkpoint is intact: continue with ganhacks train --resume {run}"
    )
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["step_0000015.json", "step_0000015.safetensors"]  # the save was cut, its temp file removed
    assert cli("train", "--resume", str(run), "--quiet")[0] == 0
    assert _rows(run) == _rows(reference)


# ---------------------------------------------------------------------------- a full disk


def _trainer(tmp_path: Path, **keys: object):
    from ganhacks.api import new_run, prepare
    from ganhacks.config import build_config
    from ganhacks.training import Trainer

    overrides = ["data.name=ring8", "data.num_points=2000", "train.batch_size=32", "model.mlp_g_hidden=32",
                 "model.mlp_d_hidden=16", "train.steps=30", "checkpoint.every=10", "train.log_every=5"]  # fmt: skip
    cfg, data = prepare(build_config(overrides=overrides + [f"{k}={v}" for k, v in keys.items()]))
    trainer = Trainer(cfg, data, quiet=True)
    trainer.run = new_run(tmp_path, cfg)
    return trainer


def test_a_full_disk_mid_checkpoint_is_one_sentence_and_leaves_no_partial_file(tmp_path, monkeypatch):
    import ganhacks.training.checkpoint as ck
    from ganhacks.errors import DiskFull
    from ganhacks.training import load_checkpoint

    trainer = _trainer(tmp_path)
    real = ck.atomic_write

    def atomic_write(path, data):  # the disk fills up during step 20's JSON, after its tensors landed
        if Path(path).name == "step_0000020.json":
            (Path(path).parent / f".{Path(path).name}.x.tmp").write_bytes(data[: len(data) // 3])
            (Path(path).parent / f".{Path(path).name}.x.tmp").unlink()  # as atomic_write cleans up after itself
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(ck, "atomic_write", atomic_write)
    with pytest.raises(DiskFull) as caught:
        trainer.fit()
    message = str(caught.value)
    run = trainer.run.path
    assert "\n" not in message and f"The disk holding '{run / 'checkpoints'}' is full (" in message
    assert "the last good checkpoint (step 10) is intact" in message and "lower checkpoint.keep" in message
    assert message.endswith(f"then continue with: ganhacks train --resume {run}")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000010.json", "step_0000010.safetensors"]
    assert load_checkpoint(run / "checkpoints")["step"] == 10


def test_a_checkpoint_is_not_started_without_room_and_old_ones_make_room_only_when_that_is_enough(tmp_path, monkeypatch):
    import shutil

    import ganhacks.training.checkpoint as ck
    from ganhacks.errors import DiskFull

    state = {"w": torch.zeros(300_000)}  # about 1.2 MB a checkpoint
    for step in (10, 20, 30):
        ck.save_checkpoint(tmp_path, step, state, keep=3)
    size = ck._size(tmp_path / "step_0000010.json")
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=size + (1 << 20) - 2000))
    # keep=3: after writing step 40, step 10 would go; removing it first is what makes the room
    ck.save_checkpoint(tmp_path, 40, state, keep=3)
    assert [ck.checkpoint_step(p) for p in ck.list_checkpoints(tmp_path)] == [20, 30, 40]
    # keep=3 and the protected step 20 is the one that would go: nothing may be removed first, so no room
    with pytest.raises(
        DiskFull,
        match=r"checkpoint step 50 needs about 1\.\d MB\): nothing of it was written, and the last good checkpoint \(step 40\) is intact",
    ):
        ck.save_checkpoint(tmp_path, 50, state, keep=3, protect=20)
    assert [ck.checkpoint_step(p) for p in ck.list_checkpoints(tmp_path)] == [20, 30, 40]
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".safetensors") == [
        "step_0000020.safetensors", "step_0000030.safetensors", "step_0000040.safetensors"]  # fmt: skip


def test_resume_on_a_full_disk_says_so_and_continues_once_there_is_room(reference, tmp_path, cli, monkeypatch):  # noqa: F811
    import shutil

    import ganhacks.training.resume as resume
    from ganhacks import fileio

    run = tmp_path / "run"
    shutil.copytree(reference, run)
    for p in (run / "checkpoints").glob("step_0000060.*"):
        p.unlink()  # as if it had stopped at step 45
    real = fileio.atomic_write

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(fileio, "atomic_write", full)
    monkeypatch.setattr(resume, "atomic_write", full, raising=False)
    code, _, err = cli("train", "--resume", str(run), "--quiet")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: The disk holding '{run}' is full (") and "the checkpoint at step 45 is intact" in err
    assert err.strip().endswith(f"then continue with: ganhacks train --resume {run}")
    monkeypatch.setattr(fileio, "atomic_write", real)
    monkeypatch.setattr(resume, "atomic_write", real, raising=False)
    code, _, err = cli("train", "--resume", str(run), "--quiet")
    assert code == 0, err
    assert _rows(run) == _rows(reference)


def test_ablate_stops_every_run_in_flight_and_resumes(tmp_path):
    """Ctrl-C to an ablation: the run in flight checkpoints, none is recorded as finished or failed,
    and the same command continues it."""
    from ganhacks.bench.ablate import Plan, ablate
    from ganhacks.training import stop

    plan = Plan(data="ring8", tricks=["replay"], seeds=1, steps=40, set=["data.num_points=2000", "train.batch_size=32"],
                command="ganhacks ablate ...")  # fmt: skip
    import ganhacks.training.loop as loop

    real = loop.Trainer.train_step

    def train_step(self):
        if self.step == 12 and stop.requested() is None and "add-" in str(self.run.path):
            stop.request(signal.SIGINT)
        real(self)

    loop.Trainer.train_step = train_step
    try:
        with stop.on_signals(), pytest.raises(stop.Stopped) as caught:
            ablate(tmp_path / "ab", plan)
    finally:
        loop.Trainer.train_step = real
    assert caught.value.exit_code == 130
    assert str(caught.value) == (
        "Ablation stopped by Ctrl-C (SIGINT): 1 of 2 runs are finished, and 1 in flight kept their checkpoints. "
        "Continue with the same command: ganhacks ablate ..."
    )
    rows = json.loads((tmp_path / "ab" / "results.json").read_text())
    assert [r["arm"] for r in rows] == ["base"]
    stopped = next((tmp_path / "ab" / "runs").glob("add-*/seed_0"))
    assert (stopped / "checkpoints" / "step_0000013.json").is_file() and not (stopped / "result.json").exists()
    summary = ablate(tmp_path / "ab", plan)
    assert [a["runs"] for a in summary["arms"]] == [1, 1]


@pytest.mark.parametrize(
    ("raised", "code", "said"),
    [
        (BrokenPipeError(errno.EPIPE, "Broken pipe"), 0, ""),  # `ganhacks tricks --json | head`: the reader left
        (OSError(errno.ENOSPC, "No space left on device", "/x/y"), 2, "error: The disk holding '/x/y' is full ("),
    ],
)
def test_the_cli_tells_a_reader_that_left_from_a_full_disk(monkeypatch, raised, code, said):
    import io

    import ganhacks.cli as cli_module

    def fail(args):
        raise raised

    class Stderr(io.StringIO):
        def close(self):  # the broken-pipe path closes stderr; keep what was written readable
            self.closed_by_cli = True

    err = Stderr()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(cli_module, "_tricks", fail)
    assert cli_module.main(["tricks"]) == code
    assert err.getvalue().startswith(said) and "Traceback" not in err.getvalue()
    assert getattr(err, "closed_by_cli", False) == (code == 0)


def test_a_pool_worker_keeps_recording_sigterm_after_its_setup_returns():
    """timeout and schedulers send SIGTERM to the whole process group; a worker whose handler had
    been put back by garbage collection died of it and broke the ablation's pool."""
    import gc
    import multiprocessing
    import signal

    from ganhacks.bench.ablate import _init_worker
    from ganhacks.training import stop

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        _init_worker(1, multiprocessing.get_context("spawn").RawValue("i", 0))
        gc.collect()
        signal.raise_signal(signal.SIGTERM)  # the default handler would end pytest here
        assert stop.requested() == signal.SIGTERM
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
        stop.reset()
        stop.share(None)
