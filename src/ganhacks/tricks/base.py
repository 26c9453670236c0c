"""The hook interface every trick implements, and the stack that folds data through the enabled tricks.

The training loop calls these hooks at named points and never asks which tricks are on.
Every hook does nothing by default, so a trick overrides only the points it changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class StepContext:
    """What a hook may read about the current step. The loop fills it as the step proceeds."""

    step: int  # 0-based index of the step being run
    total_steps: int
    device: torch.device
    G: nn.Module
    D: nn.Module
    real: torch.Tensor | None = None
    labels: torch.Tensor | None = None  # the real batch's class labels (None for unlabelled data)
    fake: torch.Tensor | None = None  # in D's update the (detached) fakes D judges; in G's, G's fakes
    fake_labels: torch.Tensor | None = None  # the labels the fakes were drawn for (None for unlabelled data)
    d_fake_labels: torch.Tensor | None = None  # the labels of D's fake batch (fake_for_d may swap samples in)
    real_logits: torch.Tensor | None = None
    fake_logits: torch.Tensor | None = None
    real_features: torch.Tensor | None = None  # D's trunk features of the real batch in D's update
    fake_features: torch.Tensor | None = None  # ... of the fake batch in D's update
    g_features: torch.Tensor | None = None  # ... of the fakes in G's update
    loss_d: torch.Tensor | None = None  # of the latest D update
    loss_g: torch.Tensor | None = None  # of the latest G update
    opt_g: torch.optim.Optimizer | None = None
    opt_d: torch.optim.Optimizer | None = None
    d_judge: Callable[[torch.Tensor, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor]] | None = None
    """D as the step applies it to a batch x (and labels): the tricks' d_input hooks, then D.judge.
    A penalty on D's gradients (R1, WGAN-GP) goes through it, so it sees what D sees (augmentation)."""
    extra: dict[str, Any] = field(default_factory=dict)


class Trick:
    """Base class: a trick with no-op hooks. Subclasses set ``key`` and override what they change."""

    key: str = ""
    capturable: bool = False
    """Whether a CUDA graph of the step can replay this trick's hooks (``train.cuda_graph``): they are
    functions of their tensors alone, with no host state that changes between steps (a schedule, a
    count), no host RNG, and they never ask for extra updates."""
    rng: torch.Generator | None = None
    """A trick's own RNG (see :meth:`seed_rng`), saved and restored by the default state methods."""

    def seed_rng(self, device: torch.device | str, seed: int) -> torch.Generator:
        """Give this trick its own seeded RNG, so its randomness is reproducible and resumable."""
        self.rng = torch.Generator(device).manual_seed(seed)
        return self.rng

    def build(self, G: nn.Module, D: nn.Module) -> None:
        """Called once after the networks are built, before the optimisers see their parameters."""

    def real_for_d(self, real: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """Transform the real batch before D sees it."""
        return real

    def fake_for_d(self, fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """Transform the (detached) fake batch before D's update sees it. A trick that swaps samples
        also swaps their entries of ``ctx.d_fake_labels``."""
        return fake

    def d_input(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """Transform every batch D sees, real or fake, in D's and G's updates alike."""
        return x

    def d_targets(self, real_t: torch.Tensor, fake_t: torch.Tensor, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor]:
        """Change D's per-sample targets (1 for real and 0 for fake by default)."""
        return real_t, fake_t

    def extra_d_loss(self, ctx: StepContext) -> torch.Tensor | None:
        """A term added to D's loss."""
        return None

    def extra_g_loss(self, ctx: StepContext) -> torch.Tensor | None:
        """A term added to G's loss."""
        return None

    def d_phase(self, ctx: StepContext) -> torch.Tensor | None:
        """After D's updates: a loss for an extra D update of its own (lazy regularisation), or None."""
        return None

    def repeat_d(self, ctx: StepContext) -> bool:
        """After D's scheduled updates: ask for one more D update (the loop caps the number)."""
        return False

    def repeat_g(self, ctx: StepContext) -> bool:
        """After G's update: ask for one more G update (the loop caps the number)."""
        return False

    def after_step(self, ctx: StepContext) -> None:
        """Called after both networks were updated."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume this trick (tensors and JSON-able values); by default its RNG."""
        return {"rng": self.rng.get_state()} if self.rng is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if self.rng is not None:
            self.rng.set_state(state["rng"])


class TrickStack:
    """Applies a list of tricks in order at each hook point."""

    def __init__(self, tricks: list[Trick] | tuple[Trick, ...] = ()):
        self.tricks = list(tricks)

    def __iter__(self):
        return iter(self.tricks)

    def build(self, G: nn.Module, D: nn.Module) -> None:
        for t in self.tricks:
            t.build(G, D)

    def real_for_d(self, real: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        for t in self.tricks:
            real = t.real_for_d(real, ctx)
        return real

    def fake_for_d(self, fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        for t in self.tricks:
            fake = t.fake_for_d(fake, ctx)
        return fake

    def d_input(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        for t in self.tricks:
            x = t.d_input(x, ctx)
        return x

    def d_targets(self, real_t: torch.Tensor, fake_t: torch.Tensor, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor]:
        for t in self.tricks:
            real_t, fake_t = t.d_targets(real_t, fake_t, ctx)
        return real_t, fake_t

    @staticmethod
    def _sum(terms: list[torch.Tensor | None], loss: torch.Tensor) -> torch.Tensor:
        for term in terms:
            if term is not None:
                loss = loss + term
        return loss

    def add_d_loss(self, loss: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return self._sum([t.extra_d_loss(ctx) for t in self.tricks], loss)

    def add_g_loss(self, loss: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        return self._sum([t.extra_g_loss(ctx) for t in self.tricks], loss)

    def d_phase(self, ctx: StepContext) -> torch.Tensor | None:
        terms = [t.d_phase(ctx) for t in self.tricks]
        terms = [x for x in terms if x is not None]
        return self._sum(terms[1:], terms[0]) if terms else None

    def repeat_d(self, ctx: StepContext) -> bool:
        return any([t.repeat_d(ctx) for t in self.tricks])  # a list, not a generator: every trick sees the call

    def repeat_g(self, ctx: StepContext) -> bool:
        return any([t.repeat_g(ctx) for t in self.tricks])

    def after_step(self, ctx: StepContext) -> None:
        for t in self.tricks:
            t.after_step(ctx)
