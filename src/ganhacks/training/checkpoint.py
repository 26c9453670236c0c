"""Checkpoints without pickle: tensors in safetensors, everything else in JSON, both written atomically.

A checkpoint is the pair ``step_NNNNNNN.safetensors`` + ``step_NNNNNNN.json``. The JSON is
written last, so its presence marks a complete checkpoint. Any nested state dict (module and
optimiser state, RNG states, trick state) is split by :func:`split_state`: each tensor goes
to the safetensors file under its dotted path and is replaced in the JSON by a reference.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from ganhacks.errors import DiskFull, GanhacksError, free_space, human_bytes, is_disk_full
from ganhacks.fileio import atomic_write

FORMAT = "ganhacks-checkpoint/1"
_NAME = re.compile(r"^step_(\d{7,})\.json$")
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin")


def split_state(obj: Any, prefix: str = "") -> tuple[Any, dict[str, torch.Tensor]]:
    """Split a nested state into (JSON-able structure, {dotted path: tensor})."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(o: Any, path: str) -> Any:
        if isinstance(o, torch.Tensor):
            tensors[path] = o.detach().cpu().contiguous().clone()
            return {"__tensor__": path}
        if isinstance(o, dict):
            if all(isinstance(k, str) for k in o):
                return {k: walk(v, f"{path}.{k}" if path else k) for k, v in o.items()}
            # Optimiser state is keyed by int parameter ids; keep the key type across JSON.
            return {"__intkeys__": {str(k): walk(v, f"{path}.{k}") for k, v in o.items()}}
        if isinstance(o, (list, tuple)):
            return [walk(v, f"{path}.{i}") for i, v in enumerate(o)]
        if o is None or isinstance(o, (bool, int, float, str)):
            return o
        raise TypeError(f"cannot store {type(o).__name__} at '{path}' in a checkpoint")

    return walk(obj, prefix), tensors


def join_state(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`split_state`."""
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return tensors[obj["__tensor__"]]
        if set(obj) == {"__intkeys__"}:
            return {int(k): join_state(v, tensors) for k, v in obj["__intkeys__"].items()}
        return {k: join_state(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [join_state(v, tensors) for v in obj]
    return obj


def save_checkpoint(
    directory: str | Path, step: int, state: dict[str, Any], keep: int | None = None, protect: int | None = None
) -> Path:
    """Write checkpoint ``step`` into ``directory`` atomically; keep only the newest ``keep``, plus the one
    at step ``protect`` (the doctor's last healthy checkpoint). Returns the JSON path."""
    from safetensors.torch import save

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"step_{step:07d}"
    structure, tensors = split_state(state)
    blob = save(tensors)
    meta = json.dumps({"format": FORMAT, "step": step, "tensors": f"{stem}.safetensors", "state": structure}).encode()
    make_room(directory, len(blob) + len(meta), step, keep, protect)
    paths = [directory / f"{stem}.safetensors", directory / f"{stem}.json"]
    existed = [p.exists() for p in paths]
    try:
        atomic_write(paths[0], blob)
        atomic_write(paths[1], meta)  # written last: its presence marks a complete checkpoint
    except OSError as e:
        for path, was in zip(paths, existed, strict=True):
            if not was:  # never leave half a new checkpoint: its tensors without its JSON
                path.unlink(missing_ok=True)
        if is_disk_full(e):
            raise _disk_full(directory, step, len(blob) + len(meta), keep) from None
        raise
    if keep is not None:
        for old in list_checkpoints(directory)[:-keep]:
            if checkpoint_step(old) != protect:
                remove_checkpoint(old)
    return directory / f"{stem}.json"


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_suffix(".safetensors")) if p.exists())


def last_good(directory: str | Path) -> str:
    """What a full-disk message says of the checkpoints in ``directory``."""
    found = list_checkpoints(directory)
    return (
        f"the last good checkpoint (step {checkpoint_step(found[-1])}) is intact" if found else "there is no earlier checkpoint"
    )


def _disk_full(directory: Path, step: int, need: int, keep: int | None) -> DiskFull:
    last = last_good(directory)
    return DiskFull(
        f"The disk holding '{directory}' is full ({free_space(directory)} free, checkpoint step {step} needs about "
        f"{human_bytes(need)}): nothing of it was written, and {last}; free space, or lower checkpoint.keep "
        f"(now {keep if keep is not None else 'all'}), then continue."
    )


def make_room(directory: Path, need: int, step: int, keep: int | None, protect: int | None) -> None:
    """Before writing a checkpoint of ``need`` bytes: when the disk clearly has less free, remove now
    the old checkpoints that saving would remove anyway (those beyond ``keep``), if that is what makes
    the room; else raise DiskFull without writing anything. The newest checkpoint and the protected
    one (the doctor's last healthy) are never removed first: until the new one is complete, they are
    what a resume or a rollback goes back to."""
    import shutil

    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return
    margin = 1.05 * need + (1 << 20)  # room for the JSON's rename and the filesystem's rounding
    if free >= margin:
        return
    found = list_checkpoints(directory)
    doomed = found[: -(keep - 1)] if keep is not None and keep > 1 else (found if keep == 1 else [])
    doomed = [p for p in doomed if p != (found[-1] if found else None) and checkpoint_step(p) != protect]
    if free + sum(_size(p) for p in doomed) >= margin:
        for p in doomed:
            remove_checkpoint(p)
        return
    raise _disk_full(directory, step, need, keep)


def checkpoint_step(path: Path) -> int:
    """The step of a checkpoint file named ``step_NNNNNNN.json`` (as :func:`list_checkpoints` returns them)."""
    return int(_NAME.match(path.name).group(1))


def remove_checkpoint(path: Path) -> None:
    """Delete a checkpoint: its JSON file and its tensors."""
    path.unlink(missing_ok=True)
    path.with_suffix(".safetensors").unlink(missing_ok=True)


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Complete checkpoints (JSON files) in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint (its .json or .safetensors path, or a checkpoints folder for the newest)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise GanhacksError(
            f"Refusing to open '{path}': {path.suffix} files are Python pickles that can run arbitrary code when loaded; "
            "ganhacks only reads its own safetensors + JSON checkpoints."
        )
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise GanhacksError(f"No checkpoint found in '{path}'; train the run first or pass a checkpoint file.")
        path = found[-1]
    if path.suffix == ".safetensors":
        path = path.with_suffix(".json")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GanhacksError(f"Checkpoint '{path}' does not exist; check the path.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise GanhacksError(f"Checkpoint '{path}' is damaged ({type(e).__name__}); use an earlier checkpoint.") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise GanhacksError(f"'{path}' is not a ganhacks checkpoint (no '{FORMAT}' header); pass a step_*.json file.")
    tensor_file = path.parent / Path(str(meta["tensors"])).name  # never follow a path out of the folder
    try:
        tensors = load_file(str(tensor_file))
    except (OSError, SafetensorError) as e:
        raise GanhacksError(
            f"Checkpoint tensors '{tensor_file}' are missing or damaged ({e}); use an earlier checkpoint."
        ) from None
    try:
        state = join_state(meta["state"], tensors)
    except KeyError as e:
        raise GanhacksError(
            f"Checkpoint '{path}' does not match its tensor file (missing {e}); use an earlier checkpoint."
        ) from None
    return {"step": int(meta["step"]), "path": str(path), **state}
