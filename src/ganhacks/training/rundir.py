"""Run directories: the contract between training, evaluation, the doctor and reports.

A run directory ``OUT/NNNNN-DATA-PRESET/`` holds:

- ``config.yaml``   the fully resolved config
- ``run.json``      data metadata (kind, shape, 2D scale and modes), versions, start time
- ``metrics.jsonl`` one JSON object per logged step
- ``samples/``      ``step_NNNNNNN.png`` grids (or 2D scatters) from a fixed z
- ``checkpoints/``  ``step_NNNNNNN.safetensors`` + ``step_NNNNNNN.json``
- ``events.jsonl``  the doctor's events, one JSON object per line, and every stop or rollback it made
- ``verdict.json``  the doctor's verdict at the end of the run: ``healthy``, the failures, the events
- ``tb/``           with ``logging.tensorboard``: TensorBoard event files, a view of the files above
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ganhacks.errors import GanhacksError

_RUN_ID = re.compile(r"^(\d+)-")


def _safe_label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._-")[:40] or "run"


def new_run_dir(out: str | Path, data_label: str, preset: str) -> Path:
    """Create and return a fresh ``out/NNNNN-data-preset`` folder; never reuses an existing one."""
    out = Path(out).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GanhacksError(f"Cannot create the output folder '{out}' ({e.strerror}); choose another --out.") from None
    if not out.is_dir():
        raise GanhacksError(f"Output path '{out}' is not a folder; choose another --out.")
    label = f"{_safe_label(data_label)}-{_safe_label(preset)}"
    while True:
        ids = [int(m.group(1)) for p in out.iterdir() if (m := _RUN_ID.match(p.name))]
        path = out / f"{max(ids, default=-1) + 1:05d}-{label}"
        try:
            path.mkdir()  # fails if another process took this id first; then try the next
        except FileExistsError:
            continue
        return path


class RunDir:
    """Paths and writers for one run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def info(self) -> Path:
        return self.path / "run.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def events(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def verdict(self) -> Path:
        return self.path / "verdict.json"

    def append_event(self, event: dict[str, Any]) -> None:
        with self.events.open("a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")

    def read_events(self) -> list[dict[str, Any]]:
        """Every row of events.jsonl (a torn last line is ignored)."""
        return _read_jsonl(self.events)

    def sample_path(self, step: int) -> Path:
        return self.samples / f"step_{step:07d}.png"

    def append_metrics(self, row: dict[str, Any]) -> None:
        with self.metrics.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every row of metrics.jsonl; a torn last line (a crash mid-write) is ignored."""
        return _read_jsonl(self.metrics)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows
