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

A *record* of a run (:func:`keep_record`) is what the doctor reads of it, small enough for git:
``metrics.jsonl.gz`` and the JSON and YAML files beside it, without samples or checkpoints. The
doctor (``ganhacks doctor``, :func:`ganhacks.diagnose`) reads a record as it reads its run.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
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
        """Every row of metrics.jsonl (of metrics.jsonl.gz in a record); a torn last line (a crash
        mid-write) is ignored."""
        packed = self.path / RECORD_METRICS
        if not self.metrics.exists() and packed.is_file():
            return _rows(gzip.decompress(packed.read_bytes()).decode("utf-8"))
        return _read_jsonl(self.metrics)


# A record's files besides its gzipped metrics (those the run has); is_record asks for verdict.json.
RECORD_METRICS = "metrics.jsonl.gz"
RECORD_FILES = ("config.yaml", "run.json", "events.jsonl", "verdict.json")


def keep_record(run: str | Path, dest: str | Path) -> Path:
    """Copy the record of the run folder ``run`` (what the doctor reads of it: metrics.jsonl gzipped,
    with config.yaml, run.json, events.jsonl and verdict.json where the run has them; 10-30 kB for
    a run of a few thousand steps) to ``dest``, replacing any record there. It is written to a
    sibling folder and moved into place, so an interrupted copy never looks like a record."""
    run, dest = Path(run), Path(dest)
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # mtime=0: the same metrics give the same bytes, so a record copied again shows no diff in git.
    with gzip.GzipFile(tmp / RECORD_METRICS, "wb", mtime=0) as f:
        f.write(RunDir(run).metrics.read_bytes())
    for name in RECORD_FILES:
        if (run / name).is_file():
            shutil.copyfile(run / name, tmp / name)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest


def is_record(path: str | Path) -> bool:
    """Whether ``path`` holds a whole record (see :func:`keep_record`)."""
    return (Path(path) / RECORD_METRICS).is_file() and (Path(path) / "verdict.json").is_file()


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return _rows(path.read_text(encoding="utf-8"))


def _rows(text: str) -> list[dict[str, Any]]:
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows
