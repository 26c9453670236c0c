"""What the doctor's rollback changes before training goes on (``doctor.remedy``)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ganhacks.config import InstanceNoiseConfig, LabelSmoothingConfig

if TYPE_CHECKING:
    from ganhacks.training.loop import Trainer


def apply_remedy(trainer: Trainer, name: str, step: int, total: int) -> str:
    """Apply one remedy to a trainer in place; returns a short description of what changed.

    ``step`` and ``total`` are the run's step and length when the remedy was first applied (a resumed
    run replays them), so the tricks it adds get the same schedules."""
    from ganhacks.training.optim import get_lr, scale_lr
    from ganhacks.tricks.labels import LabelSmoothing
    from ganhacks.tricks.noise import InstanceNoise

    if name in ("halve_lr", "halve_lr_d"):
        scale_lr(trainer.opt_d, 0.5)
    if name in ("halve_lr", "halve_lr_g"):
        scale_lr(trainer.opt_g, 0.5)
    if name.startswith("halve_lr"):
        return f"lr_d={get_lr(trainer.opt_d):.3g} lr_g={get_lr(trainer.opt_g):.3g}"
    seed = trainer.cfg.train.seed * 1000 + 7919  # a stream of its own, distinct from the configured tricks'
    if name == "instance_noise":
        until = step + max(1, (total - step) // 2)
        existing = next((t for t in trainer.tricks if isinstance(t, InstanceNoise)), None)
        if existing is not None:  # restart its decay from here
            existing.conf = dataclasses.replace(existing.conf, start=step, until=until)
            return f"instance noise restarted: sigma {existing.conf.sigma} decaying to 0 by step {until}"
        conf = InstanceNoiseConfig(start=step, until=until)
        trainer.tricks.tricks.append(InstanceNoise(conf, trainer.device, seed=seed))
        return f"instance noise on: sigma {conf.sigma} decaying to 0 by step {until}"
    if name == "label_smoothing":
        if not any(isinstance(t, LabelSmoothing) for t in trainer.tricks):
            trainer.tricks.tricks.append(LabelSmoothing(LabelSmoothingConfig(), trainer.device, seed=seed + 1))
        return "one-sided label smoothing on (real target 0.9)"
    raise ValueError(f"unknown remedy {name!r}")


def rollback_message(
    failed_at: int, to_step: int, cause: str, remedy: list[str], changes: list[str], attempt: int, most: int
) -> str:
    """The one-line account of a rollback. ``changes`` holds one entry per remedy applied, in order:
    first those of earlier rollbacks that the restored checkpoint predates (applied again, since
    remedies accumulate), then this rollback's own, which are the last ``len(remedy)``."""
    split = len(changes) - len(remedy)
    again, new = changes[:split], changes[split:]
    text = f"doctor: rolled back from step {failed_at} to step {to_step} because of {cause}; "
    text += f"remedy {'+'.join(remedy)} ({'; '.join(new)})"
    if again:
        text += f", after applying again the earlier rollbacks' remedies that step {to_step} predates ({'; '.join(again)})"
    return text + f"; attempt {attempt} of {most}."
