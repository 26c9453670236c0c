"""ganhacks trick 8, second half: keep past snapshots of G and D and occasionally swap one in."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganhacks.config import SwapConfig
from ganhacks.tricks.base import StepContext, Trick


class CheckpointSwap(Trick):
    """Every ``every`` steps a snapshot of the swapped network(s) joins a pool of the last ``keep``.
    After a step, with probability ``p``, a random pooled snapshot replaces the current weights for
    ``duration`` steps, so the other network plays against its past opponent (Pfau & Vinyals 2016);
    then the current weights come back. Updates made to the old weights while swapped in are dropped."""

    key = "tricks.swap"

    def __init__(self, conf: SwapConfig, device: torch.device, seed: int):
        self.conf = conf
        self.seed_rng("cpu", seed)  # decisions are made on the host: no device sync
        self.pool: list[dict[str, dict[str, torch.Tensor]]] = []
        self.pool_steps: list[int] = []
        self.saved: dict[str, dict[str, torch.Tensor]] | None = None
        self.remaining = 0
        self.swapped_from: int | None = None  # the step of the snapshot in use, for tests and logs

    def _nets(self, ctx: StepContext) -> dict[str, nn.Module]:
        return {k: v for k, v in (("G", ctx.G), ("D", ctx.D)) if self.conf.which in (k.lower(), "both")}

    @staticmethod
    def _copy(net: nn.Module) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in net.state_dict().items()}

    def after_step(self, ctx: StepContext) -> None:
        nets = self._nets(ctx)
        if self.saved is not None:
            self.remaining -= 1
            if self.remaining <= 0:
                for name, net in nets.items():
                    net.load_state_dict(self.saved[name])
                self.saved, self.swapped_from = None, None
            return
        step = ctx.step + 1
        if step % self.conf.every == 0:
            self.pool.append({name: self._copy(net) for name, net in nets.items()})
            self.pool_steps.append(step)
            del self.pool[: -self.conf.keep], self.pool_steps[: -self.conf.keep]
        if len(self.pool) > 1 and float(torch.rand((), generator=self.rng)) < self.conf.p:
            i = int(torch.randint(len(self.pool) - 1, (), generator=self.rng))  # never the snapshot just taken
            self.saved = {name: self._copy(net) for name, net in nets.items()}
            for name, net in nets.items():
                net.load_state_dict(self.pool[i][name])
            self.remaining, self.swapped_from = self.conf.duration, self.pool_steps[i]

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "pool": self.pool,
            "pool_steps": self.pool_steps,
            "saved": self.saved,
            "remaining": self.remaining,
            "swapped_from": self.swapped_from,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.pool, self.pool_steps = list(state["pool"]), [int(s) for s in state["pool_steps"]]
        self.saved, self.remaining, self.swapped_from = state["saved"], int(state["remaining"]), state["swapped_from"]
