"""What runs around a step: one run's networks, data, RNGs and tricks, and its logging, the doctor,
stop and rollback, samples and checkpoints.

The step's math lives in :mod:`ganhacks.training.step`, shared with stacked runs
(:mod:`ganhacks.training.stacked`), which hold one :class:`Trainer` per run and call the same
:meth:`Trainer.begin`, :meth:`Trainer.after_step` and :meth:`Trainer.finish` around one stacked step.

Statistics go through :func:`ganhacks.monitor.stats.report` and stay on the device until
the next logging interval, when one row is appended to ``metrics.jsonl``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganhacks.config import RunConfig, dump_yaml, to_dict
from ganhacks.data import BatchSampler, Dataset
from ganhacks.errors import DiskFull, free_space, is_disk_full
from ganhacks.monitor.doctor import AUTO_REMEDIES, Doctor, Event, run_info, verdict
from ganhacks.monitor.probe import Probe, weights_finite
from ganhacks.monitor.stats import Collector, collecting
from ganhacks.plots import save_image_grid, save_scatter
from ganhacks.sampling import generate, latents
from ganhacks.training import stop
from ganhacks.training.checkpoint import (
    checkpoint_step,
    last_good,
    list_checkpoints,
    load_checkpoint,
    remove_checkpoint,
    save_checkpoint,
)
from ganhacks.training.graph import graphed
from ganhacks.training.optim import get_lr, make_optimizer
from ganhacks.training.remedies import apply_remedy, rollback_message
from ganhacks.training.rundir import RunDir
from ganhacks.training.stack import SingleD, SingleG
from ganhacks.training.step import Step
from ganhacks.tricks import Trick, TrickStack, build_tricks
from ganhacks.tricks.weights import generator_name

log = logging.getLogger("ganhacks")

SCATTER_POINTS = 2500  # the protocol's evaluation size for 2D data
SAMPLE_SEED_OFFSET = 0x5EED


def pick_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; an unavailable device is a clear error."""
    from ganhacks.errors import ConfigError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name} was asked for but no CUDA device is available; use train.device=cpu.")
    if name == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError("train.device=mps was asked for but MPS is not available; use train.device=cpu.")
    return torch.device(name)


class Trainer:
    """Owns the networks, optimisers, data sampler and RNGs of one run, and runs its steps."""

    def __init__(
        self,
        cfg: RunConfig,
        data: Dataset,
        run_dir: str | Path | None = None,
        tricks: list[Trick] | tuple[Trick, ...] = (),
        quiet: bool = True,
    ):
        """Build everything a run needs. Nothing is written until :meth:`fit`, so a config that
        fails here (an unsupported image size, a batch larger than the data) leaves no run folder."""
        from ganhacks.models import build_models

        self.cfg, self.data, self.quiet = cfg, data, quiet
        self.run = RunDir(run_dir) if run_dir is not None else None
        t = cfg.train
        if t.threads:
            torch.set_num_threads(t.threads)
        self.device = pick_device(t.device)
        from ganhacks.training import distributed

        # Under torchrun: this process is one rank of the run (see ganhacks.training.distributed).
        self.world = distributed.current()
        if self.world is not None:
            self.device = distributed.rank_device(self.device, self.world)
            self.world.shard(t.batch_size)  # a batch the ranks cannot share equally is one sentence, now
        self._wrapped = False
        seed_everything(t.seed)
        self.G, self.D = build_models(cfg, list(data.x.shape[1:]))
        self.tricks = TrickStack([*build_tricks(cfg, self.device, data.num_classes), *tricks])
        self.tricks.build(self.G, self.D)
        self.G.to(self.device)
        self.D.to(self.device)
        self.opt_g: Any = make_optimizer(self.G.parameters(), cfg.optim.g)
        self.opt_d: Any = make_optimizer(self.D.parameters(), cfg.optim.d)
        self.num_classes = data.num_classes
        # A run in a stack keeps its own copy of the global RNG states (set by the stack); a single
        # run's are the process's own.
        self.own_rng: dict[str, Any] | None = None
        x = device_copy(data.x, self.device)
        y = device_copy(data.y, self.device) if data.y is not None else None
        self.sampler = BatchSampler(x, t.batch_size, seed=t.seed, y=y)
        self.z_gen = torch.Generator(self.device).manual_seed(t.seed + 1)
        # Fake labels have their own stream, so labelled data leaves every other random draw unchanged.
        self.label_gen = torch.Generator(self.device).manual_seed(t.seed + 2)
        n_fixed = SCATTER_POINTS if data.kind == "2d" else t.sample_n
        # The same latents for every sample grid of a run, and across runs with the same seed.
        self.fixed_z = latents(n_fixed, cfg.model.z_dim, t.seed + SAMPLE_SEED_OFFSET, cfg.latent)
        self.step = 0
        self.collector = Collector()
        if self.world is not None:
            self.collector.reduce = self.world.mean
        self.doctor = Doctor(cfg.doctor, run_info(data.info()))
        self.probe = Probe(data, cfg.model.z_dim, cfg.latent, cfg.doctor.probe_n)
        self._last_probe: int | None = None
        self.remedies: list[str] = []  # every remedy the doctor applied, in order
        # Every application of a remedy, with the step and total it was applied at: a resumed run replays
        # them, so the tricks they added come back in the same order and with the same schedules.
        self.remedy_log: list[dict[str, Any]] = []
        self.actions: list[dict[str, Any]] = []  # every stop and rollback the doctor made
        self.rollbacks = 0
        self._rolled: dict[str, Any] | None = None  # the last rollback's checkpoint and remedies, for the other ranks
        self._evaluator: Any = None
        self.autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16) if t.precision == "bf16" else contextlib.nullcontext()
        )
        self.show_bar = not quiet
        self.stack_info: dict[str, Any] | None = None  # set by a stack: how many runs, which layout
        # TensorBoard's view of the run (logging.tensorboard): RUN/tb unless a runner (ganhacks ablate
        # --tensorboard) points it elsewhere, which also turns it on. Opened by begin().
        self.tb_path: Path | None = None
        self.tb: Any = None
        if cfg.logging.tensorboard:
            from ganhacks.training.tensorboard import require

            require()
        # The step's math: this run as a stack of one.
        self.engine = graphed(
            Step([self], SingleG(self.G), SingleD(self.D), self.opt_g, self.opt_d, self.device, self.autocast),
            cfg.train.cuda_graph,
        )

    # ------------------------------------------------------------------ one step

    def train_step(self) -> None:
        """One step of this run (:class:`~ganhacks.training.step.Step`): ``train.d_steps`` D updates,
        then one G update; a trick may ask for more of either."""
        self.engine()
        self.step += 1

    # ------------------------------------------------------------------ the run

    def fit(self) -> None:
        """Train until ``train.steps``, logging, sampling and checkpointing on the way; the doctor reads
        every logged row and may stop the run or roll it back. Ends by writing ``verdict.json``."""
        try:
            self.begin()
            stop.active_run = self.run.path
            with collecting(self.collector):
                while self.step < self.cfg.train.steps:
                    self.train_step()
                    if self.after_step() == "stop":
                        break
                    if (signum := self._stop_asked()) is not None:
                        self._bar.close()
                        raise self.stopped(signum)
            self.finish()
        except OSError as e:
            if is_disk_full(e):
                raise self.disk_full(e) from None
            raise

    def _stop_asked(self) -> int | None:
        """The signal a stop was asked by, if one was. The ranks of a run on several processes agree,
        at logging steps, so that all of them stop after the same step."""
        asked = stop.requested()
        if self.world is None:
            return asked
        if self.step % self.cfg.train.log_every:
            return None
        import signal

        return (asked or signal.SIGTERM) if self.world.any_rank(asked is not None, self.device) else None

    @property
    def main(self) -> bool:
        """Whether this process writes the run's files: always, unless it is a rank other than 0."""
        return self.world is None or self.world.main

    def disk_full(self, e: OSError) -> DiskFull:
        """One sentence for a run's write (a row, a sample grid, an event) that the disk had no room for."""
        last = last_good(self.run.checkpoints)
        where = e.filename or self.run.path
        return DiskFull(
            f"The disk holding '{where}' is full ({free_space(where)} free) at step {self.step}; {last}; free space, or "
            f"lower checkpoint.keep (now {self.cfg.checkpoint.keep}), then continue with: ganhacks train --resume {self.run.path}"
        )

    def stopped(self, signum: int) -> stop.Stopped:
        """Checkpoint the step just finished, for a stop asked by ``signum``; the Stopped to raise."""
        if not self.main:  # rank 0 writes the checkpoint and says where it is
            self._close_tb()
            return stop.Stopped(signum, f"Stopped by {stop.name(signum)} at step {self.step} (rank {self.world.rank}).")
        newest = list_checkpoints(self.run.checkpoints)
        if not newest or checkpoint_step(newest[-1]) != self.step:  # after_step may have just written it
            self.save()
        saved = list_checkpoints(self.run.checkpoints)
        self._close_tb()
        where = (f"its checkpoint at step {checkpoint_step(saved[-1])} is in {self.run.checkpoints}" if saved
                 else "no checkpoint could be written (its weights are not finite)")  # fmt: skip
        return stop.Stopped(
            signum,
            f"Stopped by {stop.name(signum)} at step {self.step}; {where}. Continue with: ganhacks train --resume {self.run.path}",
        )

    def begin(self) -> None:
        """Before the first step (of this call): the run's header files, a first checkpoint when the
        doctor may roll back, the progress bar and the clock."""
        from tqdm.auto import tqdm

        if self.run is None:
            raise RuntimeError("Trainer.fit needs a run directory: set trainer.run = RunDir(path) first")
        if self.world is not None:
            self._join_world()
        if self.main:
            self.write_header()
        if self.main and self.tb is None and (self.cfg.logging.tensorboard or self.tb_path is not None):
            from ganhacks.training.tensorboard import TensorBoardLog

            self.tb = TensorBoardLog(self.tb_path or self.run.path / "tb", start=self.step)
        if self.cfg.doctor.action == "rollback" and not list_checkpoints(self.run.checkpoints):
            self.save()  # a healthy state to return to even if the first failure comes before any checkpoint
        t = self.cfg.train
        disable = self.quiet or not self.show_bar or not self.main
        self._bar = tqdm(total=t.steps, initial=self.step, disable=disable, unit="step", dynamic_ncols=True, file=sys.stderr)
        self._last_time, self._last_step = time.perf_counter(), self.step

    def _join_world(self) -> None:
        """Wrap G and D in DistributedDataParallel (a collective: every rank builds its wrappers at
        once, and each starts from rank 0's weights) and offset the global RNG of ranks above 0."""
        from ganhacks.training import distributed

        if not self._wrapped:
            ddp_g, ddp_d = distributed.wrap(self.G, self.D, self.device, self.cfg.train.sync_bn)
            self.engine = graphed(Step(
                [self], SingleG(ddp_g), distributed.DistD(self.D, ddp_d), self.opt_g, self.opt_d, self.device,
                self.autocast, world=self.world,
            ), self.cfg.train.cuda_graph)  # fmt: skip
            self._wrapped = True
        distributed.reseed(self.cfg.train.seed, self.step, self.world.rank, self.tricks)

    def _due(self) -> tuple[bool, bool, bool]:
        """At this step: (the run is done, an evaluation is due, a log row is due)."""
        done = self.step == self.cfg.train.steps
        every, at = self.cfg.eval.every, self.cfg.eval.at
        evaluate = (bool(every) and (self.step % every == 0 or done)) or (at is not None and self.step in at)
        return done, evaluate, done or evaluate or self.step % self.cfg.train.log_every == 0

    def wants_stats(self) -> bool:
        """Whether :meth:`after_step` will read the collected statistics at this step (a log row or a
        checkpoint): a stack gathers its runs' statistics from the device only then."""
        return self._due()[2] or self.step % self.cfg.checkpoint.every == 0

    def after_step(self) -> str | None:
        """After each step: log a row (and show it to the doctor), sample, checkpoint. Returns 'stop'
        when the doctor stopped the run, 'rollback' when it rolled it back, else None."""
        t = self.cfg.train
        self._bar.update(1)
        done, evaluate, log_now = self._due()
        if log_now:
            now = time.perf_counter()
            sec = (now - self._last_time) / max(1, self.step - self._last_step)
            measured = self.main  # evaluations and the probe run on rank 0, which hosts the doctor
            row = self.log_row(
                sec, self.evaluate() if evaluate and measured else None, self._maybe_probe(done) if measured else {}
            )
            self._last_time, self._last_step = time.perf_counter(), self.step
            self._bar.set_postfix(loss_d=f"{row['loss_d']:.3f}", loss_g=f"{row['loss_g']:.3f}", refresh=False)
            decision = self.consult(row)
            if decision == "stop":
                return "stop"
            if decision == "rollback":
                self._bar.reset(total=t.steps)
                self._bar.update(self.step)
                self._last_time, self._last_step = time.perf_counter(), self.step
                return "rollback"
        if self.main and (self.step % t.sample_every == 0 or done):
            self.save_samples()
        if self.step % self.cfg.checkpoint.every == 0 or done:
            self.save()
        return None

    def finish(self) -> None:
        """After the last step (or the doctor's stop): close the bar and write ``verdict.json``."""
        self._bar.close()
        self._close_tb()
        if self.world is not None:
            from ganhacks.training.distributed import fingerprint

            # Every rank took the same updates, skips and rollbacks, or this run is not one run.
            if not self.world.same(fingerprint(self.G, self.D).to(self.device)):
                raise RuntimeError(f"the ranks' weights differ at step {self.step}: they did not take the same updates (a bug)")
        if self.main:
            self.write_verdict()

    def _close_tb(self) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None

    def _maybe_probe(self, done: bool) -> dict[str, float]:
        every = self.cfg.doctor.probe_every
        if not done and self._last_probe is not None and self.step - self._last_probe < every:
            return {}
        self._last_probe = self.step
        with self.rng_neutral():
            return self.probe(self.G, self.D)

    # ------------------------------------------------------------------ the doctor

    def consult(self, row: dict[str, Any]) -> str | None:
        """Show a logged row to the doctor; record what it raises and act. Returns 'stop', 'rollback' or None.
        On several processes rank 0 decides, and every rank acts on its decision at once."""
        if self.world is None:
            return self._decide(row)
        decision = self._decide(row) if self.main else None
        decision, rolled = self.world.broadcast((decision, self._rolled if self.main else None))
        if decision == "rollback":
            if not self.main:
                self._follow_rollback(rolled)
            self.world.barrier()  # every rank has read the checkpoint before rank 0 may prune it
            from ganhacks.training.distributed import reseed

            reseed(self.cfg.train.seed, self.step, self.world.rank, self.tricks)
        return decision

    def _follow_rollback(self, rolled: dict[str, Any]) -> None:
        """A rank other than 0 takes the rollback rank 0 made: the same checkpoint, the same remedies."""
        self.load_state_dict(load_checkpoint(Path(rolled["checkpoint"])))
        self.remedies = list(rolled["remedies"])
        for name in self.remedies[rolled["already"] :]:
            self._apply_remedy(name)
        self.rollbacks += 1
        self.doctor.reset()
        self.probe.reset()
        self._last_probe = None

    def _decide(self, row: dict[str, Any]) -> str | None:
        events = self.doctor.observe(row)
        for event in events:
            self._append_event(event.to_json())
            self._say(event.message)
        action = self.cfg.doctor.action
        if not events or action == "warn":
            return None
        if action == "stop":
            return self._stop(events[0], "doctor.action=stop")
        return self._rollback(events[0])

    def _say(self, message: str) -> None:
        if not self.quiet:
            from tqdm.auto import tqdm

            tqdm.write(message, file=sys.stderr)

    def _record(self, action: dict[str, Any]) -> None:
        self.actions.append(action)
        self._append_event(action)
        self._say(action["message"])

    def _append_event(self, event: dict[str, Any]) -> None:
        self.run.append_event(event)
        if self.tb is not None:
            self.tb.event(event)

    def _stop(self, event: Event, reason: str) -> str:
        self.save_samples()
        # Recorded before the final checkpoint, so the checkpoint's state includes the stop: a run resumed
        # from it (`train --resume`, perhaps with a remedy in --set) keeps the stop in its history.
        self._record({
            "event": "stop", "step": self.step, "cause": event.code, "reason": reason,
            "message": f"doctor: stopping at step {self.step} because of {event.code} ({reason}); final checkpoint saved.",
        })  # fmt: skip
        self.save()
        return "stop"

    def _rollback(self, event: Event) -> str:
        """Restore the newest checkpoint from before the event's evidence, apply the remedy, go on."""
        from ganhacks.config import remedy_names

        doc = self.cfg.doctor
        remedy = remedy_names(doc.remedy) or AUTO_REMEDIES[event.code]
        if not remedy:
            return self._stop(event, f"no remedy undoes {event.code}")
        if self.rollbacks >= doc.max_rollbacks:
            return self._stop(event, f"doctor.max_rollbacks={doc.max_rollbacks} reached")
        limit = event.started - self.cfg.train.log_every  # the first bad row averages the steps after this
        healthy = [p for p in list_checkpoints(self.run.checkpoints) if checkpoint_step(p) <= limit]
        if not healthy:
            return self._stop(event, "no checkpoint from before the failure")
        state = load_checkpoint(healthy[-1])
        failed_at = self.step
        self._rolled = {"checkpoint": str(healthy[-1]), "already": len(state.get("remedies", []))}
        self.load_state_dict(state)
        if self.tb is not None:
            self.tb.rewind(self.step)
        for newer in list_checkpoints(self.run.checkpoints):  # from the abandoned timeline: never load them
            if checkpoint_step(newer) > self.step:
                remove_checkpoint(newer)
        already = len(state.get("remedies", []))
        self.remedies += remedy
        self._rolled["remedies"] = list(self.remedies)
        changes = [self._apply_remedy(name) for name in self.remedies[already:]]
        self.rollbacks += 1
        self.doctor.reset()
        self.probe.reset()
        self._last_probe = None
        self._record({
            "event": "rollback", "step": failed_at, "cause": event.code, "to_step": self.step, "remedy": remedy,
            "changes": changes, "attempt": self.rollbacks,
            "message": rollback_message(failed_at, self.step, event.code, remedy, changes, self.rollbacks, doc.max_rollbacks),
        })  # fmt: skip
        return "rollback"

    def _apply_remedy(self, name: str, step: int | None = None, total: int | None = None) -> str:
        step = self.step if step is None else step
        total = self.cfg.train.steps if total is None else total
        self.remedy_log.append({"name": name, "step": step, "total": total})
        return apply_remedy(self, name, step, total)

    def write_verdict(self) -> dict[str, Any]:
        """verdict.json: healthy or not, the failures and events, and the doctor's stops and rollbacks."""
        from ganhacks.fileio import atomic_write

        # The doctor keeps its events across rollbacks, so this lists every failure of the run.
        result = verdict(self.doctor.events, self.actions, self.step, self.cfg.doctor.action)
        atomic_write(self.run.verdict, json.dumps(result, indent=2).encode())
        return result

    def log_row(
        self, sec_per_step: float, metrics: dict[str, Any] | None = None, extra: dict[str, float] | None = None
    ) -> dict[str, Any]:
        row: dict[str, Any] = {"step": self.step}
        row.update(self.collector.collect())
        row.update(extra or {})
        row["lr_d"] = get_lr(self.opt_d)
        row["lr_g"] = get_lr(self.opt_g)
        row["sec_per_step"] = sec_per_step
        if metrics:
            row.update({k: v for k, v in metrics.items() if k not in row})
        if not self.main:
            return row
        self.run.append_metrics(row)
        if self.tb is not None:
            self.tb.row(row)
        return row

    def evaluate(self) -> dict[str, Any]:
        """Run the evaluator on the current G; also writes eval.json. Training time excludes it."""
        from ganhacks.metrics.evaluate import Evaluator, write_eval

        with self.rng_neutral():
            if self._evaluator is None:
                self._evaluator = Evaluator(self.data, self.cfg.eval.inception_weights, quiet=self.quiet)
            result = {"step": self.step, "generator": generator_name(self.G), **self._evaluator(self.sample, self.cfg.eval.n)}
        if self.run is not None:
            write_eval(self.run.path, result)
        return result

    def rng_neutral(self) -> contextlib.AbstractContextManager[Any]:
        """Measuring must not draw from training's RNG streams: building the evaluator (a model's random
        init before its cached weights load) happens at a different step in a resumed run, and would
        shift every random number drawn after it."""
        return torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else [])

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """G(z) on the CPU, in eval mode, in model space."""
        return generate(self.G, z, autocast=self.autocast)

    def sample(self, n: int, seed: int) -> torch.Tensor:
        """``n`` samples from a fixed-seed z, in data coordinates (the evaluator's sample function).
        A class-conditional G cycles through the classes, so every class is equally represented."""
        return self.data.to_data_space(self.generate(latents(n, self.cfg.model.z_dim, seed, self.cfg.latent)))

    def save_samples(self) -> Path:
        path = self.run.sample_path(self.step)
        path.parent.mkdir(exist_ok=True)
        with self.rng_neutral():
            fake = self.generate(self.fixed_z)
        if self.data.kind == "2d":
            real = self.data.x[:SCATTER_POINTS]
            save_scatter(
                self.data.to_data_space(fake),
                path,
                real=self.data.to_data_space(real),
                modes=self.data.modes,
                title=f"step {self.step}",
            )
        else:
            save_image_grid(fake, path)
        if self.tb is not None:
            self.tb.image(path, self.step)
        return path

    # ------------------------------------------------------------------ state

    def write_header(self) -> None:
        """config.yaml and run.json: written before the first step so a crashed run is still readable."""
        if not self.run.config.exists():
            self.run.config.write_text(dump_yaml(self.cfg), encoding="utf-8")
        if not self.run.info.exists():
            info = {
                "data": self.data.info(),
                "device": str(self.device),
                "versions": {
                    "ganhacks": _version(),
                    "torch": torch.__version__,
                    "python": platform.python_version(),
                },
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "precision": precision_info(self.device, self.cfg.train.precision),
            }
            if self.stack_info is not None:
                info["stack"] = self.stack_info
            self.run.info.write_text(json.dumps(info, indent=2), encoding="utf-8")

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run: weights, optimisers, data order, RNGs, tricks."""
        rng: dict[str, Any] = dict(self.own_rng) if self.own_rng is not None else global_rng_state()
        rng.update({"z": self.z_gen.get_state(), "labels": self.label_gen.get_state()})
        return {
            "step": self.step,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "sampler": self.sampler.state_dict(),
            "rng": rng,
            "tricks": {self._trick_slot(i, t): t.state_dict() for i, t in enumerate(self.tricks)},
            "remedies": list(self.remedies),
            "remedy_log": [dict(r) for r in self.remedy_log],
            "config": to_dict(self.cfg),  # the run's config.yaml as it was, so a checkpoint stands on its own
            "monitor": {
                "doctor": self.doctor.state_dict(),
                "probe": self.probe.state_dict(),
                "collector": self.collector.state_dict(),
                "last_probe": self._last_probe,
                "actions": list(self.actions),
                "rollbacks": self.rollbacks,
            },
            # How much of the run's append-only files this state has seen: a resumed run cuts them back
            # to here, so rows from after the checkpoint (the interrupted timeline) are not kept twice.
            "files": {"metrics_bytes": _size(self.run.metrics), "events_bytes": _size(self.run.events)} if self.run else {},
        }

    @staticmethod
    def _trick_slot(i: int, trick: Trick) -> str:
        return f"{i}:{trick.key or type(trick).__name__}"

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict` (a loaded checkpoint): weights, optimisers, data order,
        RNGs and trick states. Tricks the doctor added after the checkpoint keep their current state."""
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sampler.load_state_dict(state["sampler"])
        rng = state["rng"]
        if self.own_rng is not None:
            self.own_rng = {k: v for k, v in rng.items() if k in ("torch", "numpy", "python", "cuda")}
        else:
            set_global_rng_state(rng)
        self.z_gen.set_state(rng["z"])
        if "labels" in rng:
            self.label_gen.set_state(rng["labels"])
        saved = state.get("tricks", {})
        for i, trick in enumerate(self.tricks):
            slot = self._trick_slot(i, trick)
            if slot in saved:
                trick.load_state_dict(saved[slot])
        self.step = int(state["step"])

    def resume(self, state: dict[str, Any]) -> None:
        """Continue exactly where a checkpoint left off: :meth:`load_state_dict`, plus the remedies the
        doctor had applied (replayed in order) and the doctor's, the probe's and the statistics' memory."""
        for rec in state.get("remedy_log", []):
            self._apply_remedy(str(rec["name"]), int(rec["step"]), int(rec["total"]))
        self.remedies = [str(r) for r in state.get("remedies", [])]
        self.load_state_dict(state)
        monitor = state.get("monitor")
        if not monitor:  # a checkpoint from before the monitor state was saved: start it afresh
            return
        self.doctor.load_state_dict(monitor["doctor"])
        self.probe.load_state_dict(monitor["probe"])
        collector = monitor["collector"]
        sums = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in collector["sums"].items()}
        self.collector.load_state_dict({"sums": sums, "counts": collector["counts"]})
        self._last_probe = monitor["last_probe"]
        self.actions = list(monitor["actions"])
        self.rollbacks = int(monitor["rollbacks"])

    def save(self) -> Path | None:
        """Checkpoint now, keeping ``checkpoint.keep`` plus the newest one from before any open failure
        evidence. Weights that are not finite are never written (returns None), so every checkpoint
        is one a rollback or resume can continue from."""
        if not self.main:
            return None
        if not weights_finite(self.G, self.D):
            log.warning("step %d: not writing a checkpoint, because the weights are not finite", self.step)
            return None
        protect = None
        before = self.doctor.healthy_before()
        if before is not None:
            older = [checkpoint_step(p) for p in list_checkpoints(self.run.checkpoints)]
            older = [s for s in older if s <= before - self.cfg.train.log_every]
            protect = older[-1] if older else None
        try:
            return save_checkpoint(
                self.run.checkpoints, self.step, self.state_dict(), keep=self.cfg.checkpoint.keep, protect=protect
            )
        except DiskFull as e:
            raise DiskFull(f"{str(e).rstrip('.')} with: ganhacks train --resume {self.run.path}") from None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def precision_info(device: torch.device, autocast: str) -> dict[str, Any]:
    """What precision the run's arithmetic used: the autocast setting and, on CUDA, whether matmuls
    and convolutions ran in TF32 (PyTorch's defaults: convolutions yes, matmuls no)."""
    cuda = device.type == "cuda"
    return {
        "autocast": autocast,
        "tf32_matmul": bool(cuda and torch.backends.cuda.matmul.allow_tf32),
        "tf32_conv": bool(cuda and torch.backends.cudnn.allow_tf32),
    }


def device_copy(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``x`` on ``device``, copied there once however many runs (of a stack) ask for it."""
    if x.device == device:
        return x
    key = (id(x), str(device))
    cached = _DEVICE_COPIES.get(key)
    if cached is None or cached[0] is not x:
        _DEVICE_COPIES.clear()  # one data set at a time: a new one frees the old copy
        cached = _DEVICE_COPIES[key] = (x, x.to(device))
    return cached[1]


_DEVICE_COPIES: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}


def global_rng_state() -> dict[str, Any]:
    """The process's global RNG states: torch (and CUDA's), numpy and python's random."""
    rng: dict[str, Any] = {"torch": torch.get_rng_state(), "numpy": _numpy_state(), "python": _python_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def set_global_rng_state(rng: dict[str, Any]) -> None:
    """Restore what :func:`global_rng_state` returned (a checkpoint's ``rng``)."""
    torch.set_rng_state(rng["torch"])
    np.random.set_state(
        (rng["numpy"]["name"], rng["numpy"]["keys"].numpy().astype(np.uint32), rng["numpy"]["pos"],
         rng["numpy"]["has_gauss"], rng["numpy"]["cached"])
    )  # fmt: skip
    version, internal, gauss = rng["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def seed_everything(seed: int) -> None:
    """Seed torch (every device), numpy and python's random."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _numpy_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "name": name,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached": float(cached),
    }


def _python_state() -> list[Any]:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _version() -> str:
    from ganhacks import __version__

    return __version__
