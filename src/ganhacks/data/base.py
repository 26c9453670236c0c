"""The in-memory dataset every loader returns, and the on-device batch sampler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch


@dataclass
class Dataset:
    """A whole training set held in one tensor, normalised to [-1, 1] (ganhacks trick 1).

    For 2D mixtures the points are divided by ``scale`` so that they lie in [-1, 1];
    :meth:`to_data_space` maps generated points back to the protocol's coordinates,
    where the mode means and the metrics live.
    """

    name: str
    kind: Literal["2d", "image"]
    x: torch.Tensor  # [N, 2] or [N, C, H, W], float32 in [-1, 1]
    y: torch.Tensor | None = None  # [N] int64 class labels
    num_classes: int | None = None
    scale: float = 1.0
    modes: torch.Tensor | None = None  # [K, 2] mixture means in data space (2D only)
    mode_std: float | None = None

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def size(self) -> int | None:
        return self.x.shape[-1] if self.kind == "image" else None

    @property
    def channels(self) -> int | None:
        return self.x.shape[1] if self.kind == "image" else None

    def to_data_space(self, x: torch.Tensor) -> torch.Tensor:
        """Map model-space samples to the data's own coordinates (identity for images)."""
        return x * self.scale if self.kind == "2d" else x

    def info(self) -> dict[str, Any]:
        """JSON-able metadata: enough to sample and plot a run without reloading the data."""
        return {
            "name": self.name,
            "kind": self.kind,
            "n": len(self),
            "shape": list(self.x.shape[1:]),
            "num_classes": self.num_classes,
            "scale": self.scale,
            "modes": self.modes.tolist() if self.modes is not None else None,
            "mode_std": self.mode_std,
        }


class BatchSampler:
    """Draws batches by indexing the on-device data tensor: shuffled epochs, no per-sample Python.

    The shuffle uses its own seeded generator, so the data order does not depend on how
    many random numbers the model or the tricks consume.
    """

    def __init__(self, x: torch.Tensor, batch_size: int, seed: int, y: torch.Tensor | None = None):
        if batch_size > len(x):
            # An epoch is built from whole batches; a batch larger than the data set cannot be filled.
            from ganhacks.errors import ConfigError

            raise ConfigError(
                f"train.batch_size={batch_size} is larger than the data set ({len(x)} samples); lower it with --batch-size."
            )
        self.x, self.y, self.batch_size = x, y, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self._order = torch.empty(0, dtype=torch.long)
        self._pos = 0

    def _new_epoch(self) -> None:
        self._order = torch.randperm(len(self.x), generator=self.generator).to(self.x.device)
        self._pos = 0
        self.epoch += 1

    def next_indices(self) -> torch.Tensor:
        """The indices of the next batch, on the data's device (a stack gathers K runs' at once)."""
        if self._pos + self.batch_size > len(self._order):
            self._new_epoch()  # drop the ragged tail so every batch has the same size (BatchNorm)
        idx = self._order[self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        return idx

    @property
    def order(self) -> torch.Tensor:
        """The current epoch's order (indices into the data, on its device; empty before the first)."""
        return self._order

    @property
    def pos(self) -> int:
        """How far into :attr:`order` the next batch starts."""
        return self._pos

    def batches_left(self) -> int:
        """Whole batches the current epoch still holds."""
        return (len(self._order) - self._pos) // self.batch_size

    def start_epoch_if_done(self) -> None:
        """Start the next epoch now when the current one holds no whole batch: what :meth:`next_indices`
        would do first at its next call, from the same generator."""
        if self.batches_left() == 0:
            self._new_epoch()

    def skip(self, batches: int) -> None:
        """Count ``batches`` drawn elsewhere from :attr:`order` (by a step replayed on the device, which
        gathers them itself) as drawn. They must lie in the current epoch."""
        if batches > self.batches_left():
            raise ValueError(f"{batches} batches do not fit in what is left of the epoch ({self.batches_left()})")
        self._pos += batches * self.batch_size

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next batch: ``x[idx]`` and, when the data has labels, ``y[idx]``."""
        idx = self.next_indices()
        return self.x[idx], (self.y[idx] if self.y is not None else None)

    def restart_epoch(self) -> None:
        """Drop the rest of the current epoch's order (after the data itself changed under a resumed run)."""
        self._order = torch.empty(0, dtype=torch.long)
        self._pos = 0

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "epoch": self.epoch, "order": self._order.cpu(), "pos": self._pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.epoch = int(state["epoch"])
        self._order = state["order"].to(self.x.device)
        self._pos = int(state["pos"])
