"""ganhacks trick 8: experience replay, a buffer of past fakes shown to D again."""

from __future__ import annotations

from typing import Any

import torch

from ganhacks.config import ReplayConfig
from ganhacks.tricks.base import StepContext, Trick


class ExperienceReplay(Trick):
    """Keeps the last ``size`` fakes (a ring buffer on the training device). In each D update, every
    sample of the fake batch is swapped, with probability ``p``, for a random buffered one; then the
    current fakes are pushed. Showing D old fakes stops G from escaping by hopping between modes
    (Pfau & Vinyals 2016; Shrivastava et al. 2017). With labelled data the fakes' labels are buffered
    too, so a replayed fake keeps the class it was drawn for (conditional GAN, AC-GAN)."""

    key = "tricks.replay"

    def __init__(self, conf: ReplayConfig, device: torch.device, seed: int):
        self.size, self.p, self.device = conf.size, conf.p, device
        self.seed_rng(device, seed)
        self.buffer: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None
        self.count = 0  # samples written so far; the buffer holds min(count, size)

    def fake_for_d(self, fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        out, labels = fake, ctx.d_fake_labels
        filled = min(self.count, self.size)
        if filled > 0 and self.p > 0:
            n = fake.shape[0]
            use = torch.rand(n, generator=self.rng, device=fake.device) < self.p
            pick = torch.randint(filled, (n,), generator=self.rng, device=fake.device)
            mask = use.view(n, *([1] * (fake.dim() - 1)))
            out = torch.where(mask, self.buffer[pick].to(fake.dtype), fake)
            if labels is not None and self.labels is not None:
                ctx.d_fake_labels = torch.where(use, self.labels[pick], labels)
        self._push(fake.detach(), labels)
        return out

    def _push(self, fake: torch.Tensor, labels: torch.Tensor | None) -> None:
        if self.buffer is None:
            self.buffer = torch.empty((self.size, *fake.shape[1:]), device=fake.device, dtype=fake.dtype)
            if labels is not None:
                self.labels = torch.zeros(self.size, device=fake.device, dtype=torch.long)
        n = min(fake.shape[0], self.size)  # a batch larger than the buffer keeps its last `size` samples
        slots = (self.count + torch.arange(n, device=fake.device)) % self.size
        self.buffer[slots] = fake[-n:]
        if labels is not None and self.labels is not None:
            self.labels[slots] = labels[-n:]
        self.count += n

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {**super().state_dict(), "count": self.count}
        if self.buffer is not None:
            state["buffer"] = self.buffer
        if self.labels is not None:
            state["labels"] = self.labels
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.count = int(state["count"])
        buffer = state.get("buffer")
        self.buffer = buffer.to(self.device) if buffer is not None else None
        labels = state.get("labels")
        self.labels = labels.to(self.device) if labels is not None else None
