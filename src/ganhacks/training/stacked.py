"""Stacked runs: K runs of one architecture trained as one model (``ganhacks train --seeds``,
``ganhacks ablate --stack``).

Each run is an ordinary :class:`~ganhacks.training.loop.Trainer`, built exactly as a single run is
built (its seed, init, tricks, sampler and RNG streams), with its own run folder, doctor, samples and
checkpoints. :class:`StackTrainer` then stacks the runs' networks (:mod:`ganhacks.training.stack`),
gives them one optimiser over the stacked weights, and drives the shared step
(:class:`~ganhacks.training.step.Step`) with the same ``begin`` / ``after_step`` / ``finish`` calls a
single run makes. A run's folder is the same as if it had trained alone, and ``ganhacks train
--resume`` continues it as a single run.

When the doctor stops one run, or one finishes before the others (after a rollback), it is masked:
the others go on, and its weights, optimiser state and BatchNorm statistics stay as they were.

Which configs can share a stack (:func:`stack_key`): every setting that changes shapes or the step's
control flow must be equal; per-run values may differ (the seed, learning rates, G's loss, the
latent, the doctor, and the value-only tricks).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import torch

from ganhacks.config import RunConfig, flatten, to_dict
from ganhacks.losses import OBJECTIVES
from ganhacks.monitor.stats import StackCollector, collecting
from ganhacks.training import stop
from ganhacks.training.graph import graphed
from ganhacks.training.loop import Trainer, global_rng_state
from ganhacks.training.optim import PerRun, RunSlice, make_optimizer
from ganhacks.training.stack import NotStackable, check_stackable, flatten_weights, stack_networks
from ganhacks.training.step import Step

# Tricks that only change values (targets, noise, which fakes D sees): each run of a stack keeps its
# own, so runs with and without them, or with other settings of them, share a stack.
VALUE_TRICKS = ("label_smoothing", "noisy_labels", "instance_noise", "g_noise", "replay")
# Tricks that change shapes but nothing else: runs share a stack when these settings are equal.
SHAPE_TRICKS = ("pack",)
# Tricks that change the step's control flow or the networks in ways a stack cannot hold: alone.
SOLO_TRICKS = (
    "swap", "loss_threshold", "vae", "minibatch_stddev", "minibatch_discrimination", "conditional", "acgan",
    # Not yet stacked: the gradient penalties and R1's lazy phase differentiate each run's own D, spectral
    # norm and the EMA add parametrizations and buffers the stacked layers do not hold, and the
    # augmentations, LeCam and bCR change only values but have not been tested in a stack.
    "r1", "r2", "gradient_penalty", "spectral_norm", "ema", "diffaugment", "ada", "lecam", "bcr",
)  # fmt: skip
# Config keys that may differ between the runs of one stack.
PER_RUN_KEYS = ("preset", "train.seed", "optim.g.lr", "optim.d.lr", "loss", "latent", *(f"tricks.{t}" for t in VALUE_TRICKS))
PER_RUN_SECTIONS = ("doctor", "eval", *(f"tricks.{t}" for t in VALUE_TRICKS))


def solo_reason(cfg: RunConfig) -> str | None:
    """Why a config must train alone (a trick that cannot be stacked), or None."""
    on = [t for t in SOLO_TRICKS if getattr(cfg.tricks, t) is not None]
    return f"tricks.{on[0]} cannot be stacked" if on else None


def stack_key(cfg: RunConfig) -> str | None:
    """Configs with equal keys can train in one stack; None for a config that must train alone."""
    if solo_reason(cfg) is not None:
        return None
    flat = flatten(to_dict(cfg))
    shared = {
        k: v for k, v in flat.items() if k not in PER_RUN_KEYS and not k.startswith(tuple(s + "." for s in PER_RUN_SECTIONS))
    }
    # Runs may differ in their loss, but a Wasserstein critic logs no D(real) / D(fake), and a stack
    # logs them for all of its runs or for none.
    shared["loss.scored"] = OBJECTIVES[cfg.loss].score is not None
    return json.dumps(shared, sort_keys=True, default=str)


class StackTrainer:
    """Trains ``trainers`` (K runs with equal :func:`stack_key`) as one model; see the module docstring."""

    def __init__(self, trainers: list[Trainer], quiet: bool = True, batched: bool | None = None):
        if not trainers:
            raise ValueError("a stack needs at least one run")
        keys = {stack_key(t.cfg) for t in trainers}
        if None in keys:
            raise NotStackable(next(r for t in trainers if (r := solo_reason(t.cfg))))
        if len(keys) > 1:
            raise NotStackable("the runs differ in a setting that changes shapes or control flow")
        self.trainers, self.quiet = trainers, quiet
        self.K = len(trainers)
        first = trainers[0]
        self.device = first.device
        if len(trainers) > 1:
            check_stackable([t.G for t in trainers], [t.D for t in trainers])
        for t in trainers:
            t.show_bar = False
            t.quiet = quiet
            t.engine = None  # a run of a stack has no step of its own
        # Each run's own networks on the CPU (batching gains little there, and a run's numbers then are
        # its own, to the bit); one batched kernel per layer on an accelerator.
        self.batched = self.device.type != "cpu" if batched is None else batched
        G, D = stack_networks([t.G for t in trainers], [t.D for t in trainers], batched=self.batched)
        if self.batched and self.K > 1:
            opt_g, opt_d = self._stacked_optimizers(G, D)
        else:
            opt_g, opt_d = PerRun([t.opt_g for t in trainers]), PerRun([t.opt_d for t in trainers])
        self.G, self.D, self.opt_g, self.opt_d = G, D, opt_g, opt_d
        for t in trainers:
            t.stack_info = {"runs": self.K, "layout": "batched" if self.batched and self.K > 1 else "per run"}
        self.engine = graphed(Step(trainers, G, D, opt_g, opt_d, self.device, first.autocast), first.cfg.train.cuda_graph)  # type: ignore[arg-type]
        self.collector = StackCollector(self.K)
        self._frozen: dict[int, dict[str, Any]] = {}

    def _stacked_optimizers(self, G: Any, D: Any) -> tuple[Any, Any]:
        """One optimiser per network over the stacked weights; each run's own optimiser becomes its
        share of it (a :class:`RunSlice`), taking along any state it had (a resumed run's)."""
        trainers, cfg = self.trainers, self.trainers[0].cfg
        opt_g = make_optimizer(G.parameters(), cfg.optim.g, self.K, [t.cfg.optim.g.lr for t in trainers])
        opt_d = make_optimizer(D.parameters(), cfg.optim.d, self.K, [t.cfg.optim.d.lr for t in trainers])
        # One [K, P] tensor of weights per network: the optimiser's arithmetic is then a few kernels.
        opt_g.attach_flat(*flatten_weights(G, self.K))  # type: ignore[attr-defined]
        opt_d.attach_flat(*flatten_weights(D, self.K))  # type: ignore[attr-defined]
        for k, t in enumerate(trainers):
            own_g, own_d = t.opt_g, t.opt_d
            t.opt_g, t.opt_d = RunSlice(opt_g, k), RunSlice(opt_d, k)
            # A run resumed from its checkpoint (or rolled back) brings its optimiser state: into the stack.
            for own, share in ((own_g, t.opt_g), (own_d, t.opt_d)):
                state = own.state_dict()
                if state["state"] or state["param_groups"][0]["lr"] != share.lr:
                    share.load_state_dict(state)
        return opt_g, opt_d

    def fit(self) -> None:
        """Train every run to its ``train.steps``; each logs, samples, checkpoints and is judged by the
        doctor as a single run is. Ends by writing each run's ``verdict.json``."""
        from tqdm.auto import tqdm

        runs = self.trainers
        for t in runs:
            t.begin()
        active = [t.step < t.cfg.train.steps for t in runs]
        total = sum(t.cfg.train.steps for t in runs)
        bar = tqdm(total=total, initial=sum(t.step for t in runs), disable=self.quiet, unit="run-step", dynamic_ncols=True,
                   file=sys.stderr, desc=f"{self.K} runs")  # fmt: skip
        self._set_active(active)
        with collecting(self.collector):  # type: ignore[arg-type]
            while any(active):
                self.engine()
                for k, t in enumerate(runs):
                    if active[k]:
                        t.step += 1
                if any(active[k] and t.wants_stats() for k, t in enumerate(runs)):
                    self.collector.drain_into([t.collector for t in runs])
                bar.update(sum(active))
                changed = False
                for k, t in enumerate(runs):
                    if not active[k]:
                        continue
                    decision = t.after_step()
                    if decision == "stop" or t.step >= t.cfg.train.steps:
                        active[k], changed = False, True
                        self._freeze(k)
                if changed:
                    self._set_active(active)
                if (signum := stop.requested()) is not None:
                    bar.close()
                    raise self._stopped(signum, active)
        bar.close()
        for k, t in enumerate(runs):
            self._thaw(k)
            t.finish()

    def _stopped(self, signum: int, active: list[bool]) -> stop.Stopped:
        """A stop asked by ``signum`` between two steps: every run still training checkpoints this step
        (with its statistics so far), every run already done finishes as it would have."""
        self.collector.drain_into([t.collector for t in self.trainers])
        said = []
        for k, t in enumerate(self.trainers):
            self._thaw(k)
            if active[k]:
                said.append(str(t.stopped(signum)))
            else:
                t.finish()
        return stop.Stopped(signum, " ".join(said))

    def _set_active(self, active: list[bool]) -> None:
        self.engine.active.copy_(torch.tensor(active, dtype=torch.bool))  # in place: a graphed step reads it

    def _freeze(self, k: int) -> None:
        """A masked run keeps its weights and moments (the mask), but its BatchNorm statistics would
        still follow the other runs' steps: keep its state as it stopped, to put back at the end."""
        t = self.trainers[k]
        self._frozen[k] = {
            "G": {n: v.detach().clone() for n, v in t.G.state_dict().items()},
            "D": {n: v.detach().clone() for n, v in t.D.state_dict().items()},
        }

    def _thaw(self, k: int) -> None:
        frozen = self._frozen.pop(k, None)
        if frozen is not None:
            t = self.trainers[k]
            t.G.load_state_dict(frozen["G"])
            t.D.load_state_dict(frozen["D"])


def build_stack(cfgs: list[RunConfig], data: Any, quiet: bool = True) -> list[Trainer]:
    """One Trainer per config, each built as a single run would be, holding its own copy of the global
    RNG states as they were after its build (a stack's runs share the process's)."""
    trainers = []
    for cfg in cfgs:
        t = Trainer(cfg, data, quiet=quiet)
        t.own_rng = global_rng_state()
        trainers.append(t)
    return trainers
