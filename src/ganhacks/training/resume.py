"""Resuming a run where it stopped: ``ganhacks train --resume RUN [--steps N]``.

A run folder's newest checkpoint that loads holds everything training needs (see
:meth:`Trainer.state_dict`). Resuming checks the request against the run before anything in the
folder changes: a changed config is refused, naming the keys, unless it is explicitly allowed; the
data must match what the run trained on. Only then is the folder brought back to the checkpoint:
the rows logged after it (the interrupted timeline) are cut from ``metrics.jsonl`` and
``events.jsonl``, unfinished temporary files and unloadable checkpoints are removed, and the resume
is recorded in ``run.json``. On the CPU a resumed run writes the same losses and ends with the same
weights, bit for bit, as one that was never interrupted.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from ganhacks.config import RunConfig, build_config, changed_keys, dump_yaml, flatten, from_dict, load_yaml, to_dict
from ganhacks.data import Dataset
from ganhacks.errors import DiskFull, GanhacksError, free_space, is_disk_full
from ganhacks.fileio import atomic_write
from ganhacks.training.checkpoint import checkpoint_step, list_checkpoints, load_checkpoint, remove_checkpoint
from ganhacks.training.optim import set_hyperparameters
from ganhacks.training.rundir import RunDir

log = logging.getLogger("ganhacks")

# The data facts a run's state depends on: the sampler's order indexes n samples of this shape.
DATA_KEYS = ("name", "kind", "n", "shape", "num_classes")


def config_changes(old: RunConfig, new: RunConfig, ignore: tuple[str, ...] = ("train.steps",)) -> list[str]:
    """``key: old -> new`` for every config value that differs (``ignore`` aside), in key order."""
    a, b = flatten(to_dict(old)), flatten(to_dict(new))
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in changed_keys(a, b) if k not in ignore]


def _newest_loadable(run: RunDir) -> tuple[dict[str, Any], list[Path]]:
    """The newest checkpoint that loads, and the newer ones that did not (reported and later removed)."""
    found = list_checkpoints(run.checkpoints)
    if not found:
        raise GanhacksError(f"Run '{run.path}' has no checkpoint to resume from; start it again with `ganhacks train`.")
    damaged: list[Path] = []
    for path in reversed(found):
        try:
            return load_checkpoint(path), damaged
        except GanhacksError as e:
            log.warning("skipping checkpoint %s: %s", path.name, e)
            damaged.append(path)
    raise GanhacksError(f"No checkpoint of run '{run.path}' loads ({len(found)} damaged); the run cannot be resumed.")


def _cut(path: Path, size: int | None) -> None:
    """Cut an append-only file back to ``size`` bytes (what the checkpoint had seen)."""
    if size is None or not path.exists():
        return
    have = path.stat().st_size
    if have < size:
        log.warning("%s is shorter than when the checkpoint was written (%d < %d bytes)", path.name, have, size)
        return
    if have > size:
        with path.open("r+b") as f:
            f.truncate(size)
            f.flush()
            os.fsync(f.fileno())


def _cut_by_step(run: RunDir, step: int) -> None:
    """For checkpoints without file sizes (older versions): drop metrics rows after ``step``."""
    rows = run.read_metrics()
    keep = [r for r in rows if int(r.get("step", 0)) <= step]
    if len(keep) != len(rows):
        atomic_write(run.metrics, "".join(json.dumps(r) + "\n" for r in keep).encode())


def _remove_leftovers(run: RunDir, after_step: int, damaged: list[Path]) -> None:
    """Temporary files of interrupted writes, checkpoints that do not load, and tensor files whose JSON
    half was never written."""
    for folder in (run.path, run.checkpoints, run.samples):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
    for path in damaged:
        remove_checkpoint(path)
    for path in list_checkpoints(run.checkpoints):
        if checkpoint_step(path) > after_step:
            remove_checkpoint(path)
    if run.checkpoints.is_dir():
        for tensors in run.checkpoints.glob("step_*.safetensors"):
            if not tensors.with_suffix(".json").exists():
                tensors.unlink(missing_ok=True)


def resume_run(
    path: str | Path,
    steps: int | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    allow_config_change: bool = False,
    quiet: bool = True,
    check_only: bool = False,
    data: Dataset | None = None,
):
    """Open run ``path`` at its newest loadable checkpoint and return a Trainer ready to ``fit()`` up to
    ``steps`` in total (default: the configured total). ``overrides`` are ``key=value`` changes, refused
    unless ``allow_config_change``. Nothing in the folder changes unless every check passes, nor at all
    with ``check_only``. ``data``, the run's data set already loaded (a stack's runs share one), saves
    loading it again; the data checks below still compare it with the run's."""
    from ganhacks.api import _read_info, prepare, resolve_saved
    from ganhacks.training.loop import Trainer

    run = RunDir(path)
    if not run.path.is_dir():
        raise GanhacksError(f"Run folder '{path}' does not exist; pass the path that `ganhacks train` printed.")
    if not run.config.exists():
        raise GanhacksError(f"'{path}' is not a ganhacks run folder (it has no config.yaml).")
    if steps is not None and steps < 1:
        raise GanhacksError(f"--steps must be at least 1, got {steps}.")
    saved = load_yaml(run.config)
    old = resolve_saved(from_dict(RunConfig, saved))
    extra = [*overrides, *([f"train.steps={steps}"] if steps is not None else [])]
    new = build_config(values=to_dict(old), overrides=extra)
    new, data = prepare(new, data)
    old, _ = prepare(old, data)
    info = _read_info(run)
    changed = config_changes(old, new)
    was, now = info.get("data", {}), data.info()
    changed += [f"data {k}: {was.get(k)!r} -> {now.get(k)!r}" for k in DATA_KEYS if k in was and was.get(k) != now.get(k)]
    # How the run is watched (logging.*) is not what it trains: that may change on any resume.
    refused = [c for c in changed if not c.startswith("logging.")]
    if refused and not allow_config_change:
        raise GanhacksError(
            f"Resuming '{run.path}' would change its config ({'; '.join(refused)}); "
            "pass --allow-config-change to continue with the change, or leave it out."
        )
    state, damaged = _newest_loadable(run)
    at = int(state["step"])
    if new.train.steps < at:
        raise GanhacksError(f"Run '{run.path}' is already at step {at}, past --steps {new.train.steps}; pass a larger --steps.")
    trainer = Trainer(new, data, run_dir=run.path, quiet=quiet)
    try:
        trainer.resume(state)
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GanhacksError(
            f"Checkpoint '{state['path']}' does not fit the run's model, optimisers and tricks ({first[:200]}); "
            "a run cannot be resumed with a different architecture or trick set."
        ) from None
    if any(c.startswith("data ") for c in changed):  # the saved order indexes the old samples
        trainer.sampler.restart_epoch()
    for net, opt in (("g", trainer.opt_g), ("d", trainer.opt_d)):
        # The optimiser state brought back the old hyperparameters; an allowed change must win over them.
        if any(c.startswith(f"optim.{net}.") for c in changed):
            set_hyperparameters(opt, getattr(new.optim, net))
    if check_only:
        return trainer
    # Every check passed: bring the folder back to the checkpoint.
    try:
        _remove_leftovers(run, at, damaged)
        files = state.get("files") or {}
        if "metrics_bytes" in files:
            _cut(run.metrics, int(files["metrics_bytes"]))
            _cut(run.events, int(files["events_bytes"]))
        else:
            _cut_by_step(run, at)
        run.verdict.unlink(missing_ok=True)  # rewritten when the resumed run ends; a stale one would mislead
        if changed or new.train.steps != old.train.steps:
            atomic_write(run.config, dump_yaml(new).encode())
        info.setdefault("resumes", []).append(
            {"from_step": at, "steps": new.train.steps, "changed": changed, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        )
        atomic_write(run.info, json.dumps(info, indent=2).encode())
    except OSError as e:
        if not is_disk_full(e):
            raise
        # Every write above is whole or nothing, so the folder still resumes from the same checkpoint.
        raise DiskFull(
            f"The disk holding '{run.path}' is full ({free_space(run.path)} free), so the run could not be brought back "
            f"to its checkpoint; the checkpoint at step {at} is intact; free space, or lower checkpoint.keep, then "
            f"continue with: ganhacks train --resume {run.path}"
        ) from None
    return trainer
