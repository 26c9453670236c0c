"""TensorBoard event files for a run, beside its run folder's own files (``logging.tensorboard``).

Every ``metrics.jsonl`` row becomes scalars, named the way people browse them (:func:`tag`); each
sample grid becomes an image and each doctor event (and every stop or rollback it made) a text. The
run folder stays the record: the event files are a view of it. A resumed or rolled-back run rewinds
its view with TensorBoard's own ``purge_step``, so TensorBoard shows the timeline that
``metrics.jsonl`` keeps, not the abandoned one.

TensorBoard is an optional extra: ``pip install 'ganhacks[tb]'``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ganhacks.errors import ConfigError

_FIXED = {
    "loss_d": "Loss/D",
    "loss_g": "Loss/G",
    "d_real": "D/real",
    "d_fake": "D/fake",
    "lr_d": "LR/D",
    "lr_g": "LR/G",
    "sec_per_step": "Time/sec_per_step",
}
_GRAD = re.compile(r"^(grad_norm|skipped)_([a-z]+(?:_reg)?)(_layer)?$")
_GROUPED = ("trick/", "doctor/", "eval/")


def tag(key: str) -> str:
    """The TensorBoard name of a ``metrics.jsonl`` key: the losses under ``Loss/``, D's outputs under
    ``D/``, gradient norms and skipped updates under ``Grad/G/...`` and ``Grad/D/...``, learning rates
    under ``LR/``; ``trick/...`` and ``doctor/...`` keep their names, and an evaluation's metrics (every
    other key) go under ``eval/``."""
    if key in _FIXED:
        return _FIXED[key]
    m = _GRAD.match(key)
    if m:
        what, net, layer = m.groups()
        leaf = "skipped" if what == "skipped" else ("layer_max" if layer else "norm")
        return f"Grad/{net.upper().replace('_REG', '_reg')}/{leaf}"
    if key.startswith(_GROUPED):
        return key
    return f"eval/{key}"


def scalars(row: dict[str, Any]) -> dict[str, float]:
    """The numbers of a metrics row, by their TensorBoard names (``step`` and text fields left out)."""
    out = {}
    for k, v in row.items():
        if k == "step" or isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        out[tag(k)] = float(v)
    return out


def require() -> Any:
    """TensorBoard's own writer class (``torch.utils.tensorboard``); one sentence when it is not installed.
    Called before anything is written, so a missing package never leaves a half-made run folder."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "TensorBoard logging needs the tensorboard package, which is not installed; "
            "run: pip install 'ganhacks[tb]' (or leave logging.tensorboard off)."
        ) from None
    return SummaryWriter


def summary_writer(log_dir: str | Path, purge_step: int | None = None) -> Any:
    return require()(log_dir=str(log_dir), purge_step=purge_step, flush_secs=30)


class TensorBoardLog:
    """One run's event folder. ``start`` is the step the run (re)starts from: events logged at later
    steps by an earlier call, the timeline a resume abandoned, are purged from TensorBoard's view."""

    def __init__(self, path: str | Path, start: int = 0):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._writer = summary_writer(self.path, purge_step=start + 1 if start > 0 else None)

    def row(self, row: dict[str, Any]) -> None:
        """Every number of a logged row, at its step."""
        step = int(row["step"])
        for name, value in scalars(row).items():
            self._writer.add_scalar(name, value, step)  # NaN and inf are kept: they are often the doctor's evidence
        self._writer.flush()  # a row is written every train.log_every steps: cheap, and TensorBoard sees it live

    def image(self, png: Path, step: int) -> None:
        """A saved sample grid (or 2D scatter), as the image ``samples``."""
        import numpy as np
        from PIL import Image

        with Image.open(png) as im:
            pixels = np.asarray(im.convert("RGB"))
        self._writer.add_image("samples", pixels, step, dataformats="HWC")

    def event(self, event: dict[str, Any]) -> None:
        """A doctor's event, stop or rollback (an ``events.jsonl`` row), as text under ``doctor/events``.
        A rollback is shown at the step it went back to, where the timeline TensorBoard keeps goes on."""
        step = int(event.get("to_step", event["step"]))
        self._writer.add_text("doctor/events", f"**{event.get('event', 'event')}**: {event.get('message', '')}", step)
        self._writer.flush()

    def rewind(self, step: int) -> None:
        """The run went back to ``step`` (a rollback): what was logged after it is purged from the view."""
        self._writer.close()
        self._writer = summary_writer(self.path, purge_step=step + 1)

    def close(self) -> None:
        self._writer.close()
