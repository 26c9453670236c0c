"""ganhacks trick 11: "while lossD > A: train D; while lossG > B: train G", with a hard cap."""

from __future__ import annotations

import torch

from ganhacks.config import LossThresholdConfig
from ganhacks.tricks.base import StepContext, Trick


class LossThreshold(Trick):
    """Repeats D's update while its loss is above ``d``, and G's while its loss is above ``g``, at most
    ``max_repeat`` extra updates each per step, so it can never loop forever. The seed advises against
    balancing G and D by loss statistics ("it's hard and we've all tried it"); it is here so that claim
    can be measured. Reading each loss costs one device-to-host sync per extra update decision."""

    key = "tricks.loss_threshold"

    def __init__(self, conf: LossThresholdConfig, device: torch.device, seed: int):
        self.conf = conf
        self.step = -1
        self.extra_d = self.extra_g = 0

    def _new_step(self, ctx: StepContext) -> None:
        if ctx.step != self.step:
            self.step, self.extra_d, self.extra_g = ctx.step, 0, 0

    def repeat_d(self, ctx: StepContext) -> bool:
        self._new_step(ctx)
        if self.conf.d is None or self.extra_d >= self.conf.max_repeat or float(ctx.loss_d) <= self.conf.d:
            return False
        self.extra_d += 1
        return True

    def repeat_g(self, ctx: StepContext) -> bool:
        self._new_step(ctx)
        if self.conf.g is None or self.extra_g >= self.conf.max_repeat or float(ctx.loss_g) <= self.conf.g:
            return False
        self.extra_g += 1
        return True

    def after_step(self, ctx: StepContext) -> None:
        from ganhacks.monitor.stats import report

        report("trick/loss_threshold/extra_d", float(self.extra_d))
        report("trick/loss_threshold/extra_g", float(self.extra_g))
