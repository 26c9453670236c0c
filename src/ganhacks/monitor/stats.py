"""Training statistics: ``report(name, value)`` from anywhere, reduced once per logging interval.

Values stay on the training device until :meth:`Collector.collect`, which reads all of
them back in one transfer, so the hot path never waits for the host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

_active: Collector | None = None


class Collector:
    """Accumulates per-step values by name and returns their means since the last collect."""

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor | float] = {}
        self._counts: dict[str, int] = {}
        # A run on several processes averages every sum over its ranks here (World.mean): a collective,
        # so every rank collects at the same steps, with the same names.
        self.reduce: Callable[[torch.Tensor], torch.Tensor] | None = None

    def report(self, name: str, value: torch.Tensor | float) -> None:
        if isinstance(value, torch.Tensor):
            value = self._value(value.detach().float())
        self._sums[name] = self._sums.get(name, 0.0) + value
        self._counts[name] = self._counts.get(name, 0) + 1

    def _value(self, value: torch.Tensor) -> torch.Tensor:
        """What one report adds for a tensor: its mean."""
        return value.mean()

    def _read_back(self) -> dict[str, float | list[float]]:
        """Every sum as a host number (a list for a stack's [K] sums), the tensors in one device->host copy."""
        if self.reduce is not None and self._sums:
            names = sorted(self._sums)
            device = next((v.device for v in self._sums.values() if isinstance(v, torch.Tensor)), torch.device("cpu"))
            sums = torch.stack([torch.as_tensor(self._sums[n], dtype=torch.float64, device=device).reshape(()) for n in names])
            return dict(zip(names, self.reduce(sums).cpu().tolist(), strict=True))
        tensor_names = [n for n in self._sums if isinstance(self._sums[n], torch.Tensor)]
        values: dict[str, float | list[float]] = {n: float(v) for n, v in self._sums.items() if n not in tensor_names}
        if tensor_names:
            stacked = torch.stack([self._sums[n].to(torch.float64) for n in tensor_names])  # type: ignore[union-attr]
            values.update(zip(tensor_names, stacked.cpu().tolist(), strict=True))
        return values

    def absorb(self, sums: dict[str, float], counts: dict[str, int]) -> None:
        """Add sums and counts gathered elsewhere (a stack's share for this run) to this collector's."""
        for name, value in sums.items():
            self._sums[name] = self._sums.get(name, 0.0) + value
            self._counts[name] = self._counts.get(name, 0) + counts[name]

    def collect(self) -> dict[str, float]:
        """Means of everything reported since the last call (one device->host copy), then reset."""
        out = {n: v / self._counts[n] for n, v in self._read_back().items()}  # type: ignore[operator]
        self._sums.clear()
        self._counts.clear()
        return out

    def state_dict(self) -> dict[str, dict[str, torch.Tensor | float | int]]:
        """The sums and counts since the last collect: a checkpoint between two logged rows keeps them."""
        return {"sums": dict(self._sums), "counts": dict(self._counts)}

    def load_state_dict(self, state: dict[str, dict[str, torch.Tensor | float | int]]) -> None:
        self._sums = dict(state.get("sums", {}))  # type: ignore[arg-type]
        self._counts = {k: int(v) for k, v in state.get("counts", {}).items()}


def report(name: str, value: torch.Tensor | float) -> None:
    """Record a statistic for the current step; a no-op when no collector is active."""
    if _active is not None:
        _active.report(name, value)


@contextmanager
def collecting(collector: Collector) -> Iterator[Collector]:
    """Make ``collector`` the target of :func:`report` inside the block."""
    global _active
    previous, _active = _active, collector
    try:
        yield collector
    finally:
        _active = previous


class StackCollector(Collector):
    """What a stack's step reports: ``[K]`` tensors (one value per run), kept on the device until
    :meth:`drain_into` hands each run its share, in one device->host copy."""

    def __init__(self, runs: int) -> None:
        super().__init__()
        self.runs = runs

    def _value(self, value: torch.Tensor) -> torch.Tensor:
        return value.expand(self.runs) if value.dim() == 0 else value.reshape(self.runs)

    def drain_into(self, collectors: list[Collector]) -> None:
        """Add each run's sums and counts since the last drain to its own collector, then reset."""
        if not self._sums:
            return
        values = self._read_back()
        for k, collector in enumerate(collectors):
            collector.absorb({n: v[k] if isinstance(v, list) else v for n, v in values.items()}, self._counts)
        self._sums.clear()
        self._counts.clear()
