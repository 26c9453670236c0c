"""ganhacks ablate --executor ray: the same results as the process pool, and a killed worker loses nothing."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from ganhacks.bench.ablate import Ablation, Plan, ablate
from ganhacks.errors import GanhacksError

ray = pytest.importorskip("ray")  # in the dev extra, so CI runs these

TIMING = ("wall_s", "eval_s")


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (starting one costs seconds); ablate() uses it as it is. Its
    workers keep the default CPU priority: Ray's default niceness (15) starves them on a busy machine."""
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def _rows(out: Path) -> list[dict]:
    rows = json.loads((out / "results.json").read_text())
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def _plan(**kw) -> Plan:
    base = dict(data="ring8", tricks=["tricks.pack"], seeds=2, steps=12, set=["train.threads=1"])
    return Plan(**{**base, **kw})


@pytest.mark.slow
def test_ray_and_the_pool_give_the_same_rows_and_statistics(tmp_path, local_ray):
    ablate(tmp_path / "pool", _plan(), workers=1)
    ablate(tmp_path / "ray", _plan(), executor="ray")
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "pool")
    stats = [json.loads((tmp_path / f / "stats.json").read_text()) for f in ("pool", "ray")]
    for s in stats:  # the timing columns are the machine's, not the experiment's
        for arm in s["arms"]:
            arm.pop("wall_s", None)
    assert stats[0]["arms"] == stats[1]["arms"] and stats[0]["effects"] == stats[1]["effects"]


def _task_pids() -> list[int]:
    """Ray workers running an ablation task (Ray titles a busy worker with the task's function)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if b"ray::_task" in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Ray's workers through /proc (Linux)")
def test_a_killed_worker_is_retried_from_its_checkpoint_and_counted_once(tmp_path, local_ray):
    out = tmp_path / "abl"
    # Each task declares both CPUs of the local Ray, so one runs at a time: the one with the checkpoint.
    plan = _plan(tricks=["train.d_steps=2"], seeds=1, steps=200, set=["train.threads=2", "checkpoint.every=20"])
    folder = Ablation(out)
    killed: list[int] = []

    def kill_one_after_its_first_checkpoint() -> None:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and not killed:
            if any((out / "runs").glob("*/seed_0/checkpoints/step_0000040.json")):
                pids = _task_pids()
                if pids:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_after_its_first_checkpoint, daemon=True)
    killer.start()
    summary = ablate(out, plan, executor="ray")
    killer.join(timeout=5)
    assert killed, "no Ray worker was seen running a task"
    rows = json.loads((out / "results.json").read_text())
    assert sorted((r["arm"], r["seed"]) for r in rows) == sorted((a.name, 0) for a in plan.arms())  # each once
    assert all(r["steps"] == 200 and not r["error"] for r in rows)
    resumed = [r for r in rows if r["resumed_from"]]
    assert len(resumed) == 1 and resumed[0]["resumed_from"] >= 40  # the killed run went on from a checkpoint
    assert summary["arms"] and (out / "report.html").is_file()
    assert folder.results() == rows


def test_without_ray_it_is_one_sentence(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(GanhacksError, match=r"pip install 'ganhacks\[ray\]'"):
        ablate(tmp_path / "abl", _plan(), executor="ray")
    assert not (tmp_path / "abl").exists()
    with pytest.raises(GanhacksError, match="--ray-address only applies"):
        ablate(tmp_path / "abl", _plan(), ray_address="ray://x:10001")
