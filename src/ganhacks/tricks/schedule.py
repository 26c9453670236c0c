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
        self.extra = {"d": 0, "g": 0}  # extra updates made in the current step

    def _repeat(self, ctx: StepContext, net: str, threshold: float | None, loss: torch.Tensor | None) -> bool:
        if ctx.step != self.step:  # a new step: reset both counters
            self.step, self.extra = ctx.step, {"d": 0, "g": 0}
        if threshold is None or loss is None or self.extra[net] >= self.conf.max_repeat or float(loss) <= threshold:
            return False
        self.extra[net] += 1
        return True

    def repeat_d(self, ctx: StepContext) -> bool:
        return self._repeat(ctx, "d", self.conf.d, ctx.loss_d)

    def repeat_g(self, ctx: StepContext) -> bool:
        return self._repeat(ctx, "g", self.conf.g, ctx.loss_g)

    def after_step(self, ctx: StepContext) -> None:
        from ganhacks.monitor.stats import report

        report("trick/loss_threshold/extra_d", float(self.extra["d"]))
        report("trick/loss_threshold/extra_g", float(self.extra["g"]))
