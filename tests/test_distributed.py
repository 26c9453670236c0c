"""torchrun + DistributedDataParallel on the CPU (gloo): 2 processes train one ring8 run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganhacks.errors import ConfigError
from ganhacks.training.checkpoint import list_checkpoints, load_checkpoint
from ganhacks.training.distributed import World, wrap

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch build has no torch.distributed")


def torchrun(*args: str, nproc: int = 2, timeout: float = 240, wait: bool = True):
    """``torchrun --standalone --nproc_per_node=N -m ganhacks ...`` (standalone picks a free port)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", "ganhacks", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def said(done: subprocess.CompletedProcess) -> str:
    """What a failed torchrun printed: the ranks' own errors come first, the launcher's summary last."""
    err = done.stderr
    return err if len(err) <= 5000 else f"{err[:3500]}\n[...]\n{err[-1500:]}"


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_ranks_write_one_run_folder_and_match_one_process_of_the_whole_batch(tmp_path, cli):
    """2 ranks x B/2 give the first steps' losses of 1 process x B. Without BatchNorm in G: on the CPU
    each rank's BatchNorm normalises its own share (PyTorch's SyncBatchNorm runs on GPUs only)."""
    same = ["--data", "ring8", "--steps", "5", "--set", "train.log_every=1", "--set", "model.g_norm=none", "--quiet"]
    done = torchrun("train", *same, "--out", str(tmp_path / "ddp"))
    assert done.returncode == 0, said(done)
    folders = list((tmp_path / "ddp").iterdir())
    assert len(folders) == 1 and done.stdout.strip().splitlines() == [str(folders[0])]  # rank 0 alone prints and writes
    code, out, _ = cli("train", *same, "--out", str(tmp_path / "one"))
    assert code == 0
    one, two = rows(Path(out.strip().splitlines()[-1])), rows(folders[0])
    assert [r["step"] for r in two] == [1, 2, 3, 4, 5]
    for a, b in zip(one, two, strict=True):
        for key in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"):
            assert b[key] == pytest.approx(a[key], abs=1e-5), (a["step"], key)
    assert (folders[0] / "verdict.json").is_file() and list_checkpoints(folders[0] / "checkpoints")


@pytest.mark.slow
def test_a_killed_rank_leaves_a_loadable_checkpoint_and_resume_under_torchrun_continues(tmp_path):
    out = tmp_path / "runs"
    job = torchrun(
        "train", "--data", "ring8", "--steps", "400", "--set", "checkpoint.every=40", "--quiet", "--out", str(out), wait=False
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not list(out.glob("*/checkpoints/step_0000080.json")):
            time.sleep(0.1)
        ranks = {}
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    env = (proc / "environ").read_bytes().split(b"\0")
                    cmd = (proc / "cmdline").read_bytes()
                except OSError:
                    continue
                if b"ganhacks" in cmd and str(out).encode() in cmd and b"RANK=1" in env and b"LOCAL_RANK=1" in env:
                    ranks[1] = int(proc.name)
        assert 1 in ranks, "rank 1 was not found"
        os.kill(ranks[1], signal.SIGKILL)
        job.wait(timeout=120)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0  # torchrun saw a rank die
    (run,) = list(out.iterdir())
    newest = list_checkpoints(run / "checkpoints")[-1]
    state = load_checkpoint(newest)  # the newest complete checkpoint loads
    assert state["step"] >= 80
    resumed = torchrun("train", "--resume", str(run), "--quiet")
    assert resumed.returncode == 0, said(resumed)
    steps = [r["step"] for r in rows(run)]
    assert steps == sorted(set(steps)) and steps[-1] == 400  # cut back to the checkpoint, then on to the end
    info = json.loads((run / "run.json").read_text())
    assert [r["from_step"] for r in info["resumes"]] == [state["step"]]
    assert json.loads((run / "verdict.json").read_text())["healthy"] is True


@pytest.mark.slow
def test_every_rank_takes_the_doctors_rollbacks_and_stop(tmp_path):
    """A gradient limit no run can keep: the doctor on rank 0 rolls back three times, then stops; the
    other rank follows each time, or the end-of-run check that every rank holds the same weights fails."""
    out = tmp_path / "runs"
    args = ["--set", "doctor.grad_limit=1e-9", "--set", "doctor.action=rollback", "--set", "checkpoint.every=20"]
    done = torchrun("train", "--data", "ring8", "--steps", "200", *args, "--quiet", "--out", str(out))
    assert done.returncode == 0, said(done)
    (run,) = list(out.iterdir())
    events = [json.loads(line)["event"] for line in (run / "events.jsonl").read_text().splitlines()]
    assert events.count("rollback") == 3 and events[-1] == "stop"
    verdict = json.loads((run / "verdict.json").read_text())
    assert verdict["failures"] == ["exploding_gradients"] and [a["event"] for a in verdict["actions"]][-1] == "stop"


def test_a_batch_the_ranks_cannot_share_and_sync_bn_on_the_cpu_are_one_sentence():
    with pytest.raises(ConfigError, match=r"train.batch_size \(100\) must be divisible by the number of processes \(3\)"):
        World(rank=0, size=3, local_rank=0, backend="gloo").shard(100)
    assert World(rank=1, size=4, local_rank=1, backend="gloo").shard(100) == slice(25, 50)
    with pytest.raises(ConfigError, match="train.sync_bn needs CUDA devices"):
        wrap(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1), torch.device("cpu"), sync_bn=True)
