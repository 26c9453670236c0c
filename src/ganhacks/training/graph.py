"""The step as one CUDA graph (``train.cuda_graph``): captured once, then replayed every step.

On a GPU a small model's step is bound by the host, not the device: a grid25 run dispatches about 950
kernels a step at some 20 µs each, and a stack of K runs only spreads them over K (docs/performance.md).
A CUDA graph replays all of a step's kernels in one launch. It can do so only if nothing the step does
on the host changes from one step to the next, so :class:`GraphedStep` moves what does onto the device:

- **the real batches**: each run's epoch order sits in a ``[K, L]`` device table with a ``[K]``
  position that the graph itself advances (:class:`DeviceOrders`). The host keeps each sampler's
  position in step with it, and writes a new epoch's order into the table before the step that
  starts it, from the sampler's own generator: each run sees the same data order as without a graph.
  A step inside which an epoch turns (``train.d_steps`` > 1) runs as usual, without the graph;
- **the random draws**: each run's z and label generators (and its tricks' own) are registered with
  the graph, which advances them at every replay as the eager step would;
- **the statistics**: what the step reports during the capture is kept (tensors the graph rewrites at
  each replay), and handed to the collectors after every replay;
- **the mask** of runs still training is a tensor the graph reads, changed in place between steps.

Everything else is the step's own code (:class:`~ganhacks.training.step.Step`), run once in the
capture: the graph is the step, not a copy of it. A trick whose hooks keep host state between steps
(a schedule, a count) cannot be replayed (:attr:`~ganhacks.tricks.Trick.capturable`); with
``train.cuda_graph=true`` such a run is refused, with ``auto`` it trains without a graph. When a remedy
of the doctor switches a trick on, the graph no longer describes the step, and the run goes on without it.
When the optimisers' state is replaced (a rollback or a resume loads a checkpoint) or a learning rate
kept as a float changes (a remedy halves it), the step is captured again after one eager step.

On the CPU there is no graph to capture, but ``GraphedStep(step, capture=False)`` runs the same
bookkeeping (the device table, the kept statistics) around an ordinary call of the step: the tests
check with it that the table draws exactly each run's own batches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ganhacks.errors import ConfigError
from ganhacks.monitor.stats import Collector, collecting, report
from ganhacks.training.step import Step

WARMUP_STEPS = 3
"""Eager steps on a side stream before the capture (torch's recipe: lazy initialisations such as
cuBLAS handles and the optimisers' state happen outside the graph)."""


def refusal(step: Step) -> str | None:
    """Why ``step`` cannot be captured as a CUDA graph (one sentence), or None if it can."""
    if step.world is not None:
        return "train.cuda_graph does not capture a run on several processes (torchrun); set train.cuda_graph=false."
    if step.device.type != "cuda":
        return (
            f"train.cuda_graph needs a CUDA device, and this run trains on {step.device}; "
            "set train.device=cuda or train.cuda_graph=false."
        )
    return capture_refusal(step)


def capture_refusal(step: Step) -> str | None:
    """What in the step itself (whatever its device) a graph cannot replay, or None."""
    samplers = [r.sampler for r in step.runs]
    if any(s.x is not samplers[0].x for s in samplers):
        return "train.cuda_graph captures a stack only when its runs share one data tensor; set train.cuda_graph=false."
    for r in step.runs:
        for t in r.tricks.tricks:
            if not t.capturable:
                return (
                    f"{t.key or type(t).__name__} cannot be replayed in a CUDA graph (its hooks keep host state "
                    "between steps); turn it off, or set train.cuda_graph=auto to train this run without a graph."
                )
    return None


class DeviceOrders:
    """The runs' epoch orders on the device, and where each run is in its own: what a graphed step
    gathers its real batches' indices from, advancing the positions itself."""

    def __init__(self, samplers: Sequence[Any], device: torch.device):
        first = samplers[0]
        self.samplers, self.n = list(samplers), first.batch_size
        self.table = torch.zeros(len(samplers), len(first.x), dtype=torch.long, device=device)
        self.pos = torch.zeros(len(samplers), 1, dtype=torch.long, device=device)
        self.offsets = torch.arange(self.n, device=device).view(1, -1)
        # Per run, the (order, position) the device holds: a sampler changed on the host (a new epoch,
        # a rollback or a resume loading its state) is written again before the next step.
        self._held: list[tuple[torch.Tensor, int] | None] = [None] * len(samplers)

    def draw(self) -> torch.Tensor:
        """The next batch's indices of every run, ``[K, N]``; inside the graph, as the graph replays it."""
        idx = self.table.gather(1, self.pos + self.offsets)
        self.pos.add_(self.n)
        return idx

    def prepare(self, draws: int) -> bool:
        """Before a step of ``draws`` batches a run: start the epochs that end here (on the host, from
        each sampler's own generator) and write every changed order to the device. Returns whether
        the step's batches all lie in the runs' current epochs; if not, the step must draw them from
        the samplers themselves."""
        fits = True
        for k, s in enumerate(self.samplers):
            s.start_epoch_if_done()
            held = self._held[k]
            if held is None or held[0] is not s.order or held[1] != s.pos:
                self.table[k].copy_(s.order)
                self.pos[k].fill_(s.pos)
                self._held[k] = (s.order, s.pos)
            fits = fits and s.batches_left() >= draws
        return fits

    def advance(self, draws: int) -> None:
        """After a step the device drew ``draws`` batches a run for: count them on the host too."""
        for k, s in enumerate(self.samplers):
            s.skip(draws)
            self._held[k] = (s.order, s.pos)


class Recorder(Collector):
    """What the step reports while it is captured: the graph rewrites these tensors at every replay."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[tuple[str, torch.Tensor | float]] = []

    def report(self, name: str, value: torch.Tensor | float) -> None:
        self.entries.append((name, value.detach() if isinstance(value, torch.Tensor) else value))


class GraphedStep:
    """A :class:`~ganhacks.training.step.Step` captured as one CUDA graph after a few eager steps, then
    replayed (see the module docstring). Called like the step, one step a call.

    ``capture=False`` (what a CPU can run) goes through the same warm-up, capture and replay, with the
    step itself called where the graph would be replayed."""

    def __init__(self, step: Step, capture: bool = True):
        reason = refusal(step) if capture else capture_refusal(step)
        if reason is not None:
            raise ConfigError(reason)
        self.step, self.capture = step, capture
        self.runs = step.runs
        self.orders = DeviceOrders([r.sampler for r in self.runs], step.device)
        self.draws = step.d_steps
        self.graph: Any = None
        self.warm = 0
        self._kept: tuple[Recorder, list[Recorder]] | None = None
        self._tricks = self._trick_ids()
        self.broken = False  # a trick was switched on since: the graph no longer describes the step
        self._held: list[Any] = []
        self.counts = {"eager": 0, "warmup": 0, "captures": 0, "replayed": 0}

    @property
    def active(self) -> torch.Tensor:
        """The step's ``[K]`` mask of runs still training (change it in place)."""
        return self.step.active

    def _trick_ids(self) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(id(t) for t in r.tricks.tricks) for r in self.runs)

    def __call__(self) -> None:
        if not self.broken and self._trick_ids() != self._tricks:
            self.broken, self.graph = True, None
        if self.broken or not self.orders.prepare(self.draws):
            self.step()  # from the samplers themselves; the next prepare writes their new places
            self.counts["eager"] += 1
            return
        if self.graph is not None and not self._same_state():
            # One eager step first: it re-creates what the step makes lazily (a loaded Adam step
            # count is moved to the device at the first update), which a capture must not do.
            self.graph, self.warm = None, WARMUP_STEPS - 1
        self.step.indices = self.orders.draw
        try:
            if self.warm < WARMUP_STEPS:
                self._warm_up()
            else:
                if self.graph is None:
                    self._capture()
                self._replay()
        finally:
            self.step.indices = None
        self.orders.advance(self.draws)

    def _optimizers(self) -> Iterator[torch.optim.Optimizer]:
        for opt in (self.step.opt_g, self.step.opt_d):
            yield from getattr(opt, "opts", [opt])  # PerRun holds each run's own

    def _state(self) -> list[Any]:
        """What a captured graph holds fixed besides its tensors' contents: the optimisers' state
        tensors themselves (``torch.optim``'s ``load_state_dict``, as a rollback or resume calls it,
        replaces them) and any learning rate kept as a float (a remedy halves it)."""
        held: list[Any] = []
        for opt in self._optimizers():
            held.extend(group["lr"] for group in opt.param_groups)
            for st in opt.state.values():
                held.extend(v for v in st.values() if isinstance(v, torch.Tensor))
        return held

    def _same_state(self) -> bool:
        now = self._state()
        return len(now) == len(self._held) and all(
            a is b or (not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor) and a == b)
            for a, b in zip(now, self._held, strict=True)
        )

    def _warm_up(self) -> None:
        if self.capture:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self.step()
            torch.cuda.current_stream().wait_stream(side)
        else:
            self.step()
        self.warm += 1
        self.counts["warmup"] += 1

    def _replay(self) -> None:
        if self.capture:
            self.graph.replay()
        else:  # the emulation runs the step where the graph would replay it, keeping what it reports
            with self._keeping():
                self.step()
        self._hand_over()
        self.counts["replayed"] += 1

    def _generators(self) -> Iterator[torch.Generator]:
        seen: set[int] = set()
        for r in self.runs:
            gens = [r.z_gen, r.label_gen, *(t.rng for t in r.tricks.tricks)]
            for g in gens:
                if g is not None and g.device.type == "cuda" and id(g) not in seen:
                    seen.add(id(g))
                    yield g

    def _capture(self) -> None:
        self._held = self._state()
        self.counts["captures"] += 1
        if not self.capture:
            self.graph = "emulated"
            return
        graph = torch.cuda.CUDAGraph()
        for g in self._generators():
            graph.register_generator_state(g)
        torch.cuda.synchronize()
        with self._keeping(), torch.cuda.graph(graph):
            self.step()
        self.graph = graph

    @contextlib.contextmanager
    def _keeping(self) -> Iterator[None]:
        """Run the step with what it reports kept: its own reports and each run's (its tricks')."""
        main, own = Recorder(), [Recorder() for _ in self.runs]
        saved = [r.collector for r in self.runs]
        for r, rec in zip(self.runs, own, strict=True):
            r.collector = rec
        try:
            with collecting(main):
                yield
        finally:
            for r, c in zip(self.runs, saved, strict=True):
                r.collector = c
        self._kept = (main, own)

    def _hand_over(self) -> None:
        """Give the collectors what the step just reported (the kept tensors hold this step's values)."""
        assert self._kept is not None
        main, own = self._kept
        for name, value in main.entries:
            report(name, value)
        for r, rec in zip(self.runs, own, strict=True):
            for name, value in rec.entries:
                r.collector.report(name, value)


def graphed(step: Step, mode: bool | str) -> Step | GraphedStep:
    """``step`` as ``train.cuda_graph`` asks: itself for false; a :class:`GraphedStep` for true (raising
    :class:`~ganhacks.errors.ConfigError` when it cannot be captured); for auto, whichever it can be."""
    if not mode:
        return step
    if mode == "auto" and refusal(step) is not None:
        return step
    return GraphedStep(step)
