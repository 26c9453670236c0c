"""The Python API, mirroring the CLI: ``train(config) -> Run``, ``Run.sample(n)``, ``load_run(path)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganhacks.config import RunConfig, build_config, from_dict, load_yaml, merge, nest, resolve, to_dict
from ganhacks.data import Dataset, load_data, short_name
from ganhacks.errors import GanhacksError
from ganhacks.models import build_models
from ganhacks.sampling import generate, latents
from ganhacks.training.checkpoint import list_checkpoints, load_checkpoint
from ganhacks.training.rundir import RunDir, new_run_dir
from ganhacks.tricks import Trick, TrickStack, build_tricks
from ganhacks.tricks.weights import generator_name


class Run:
    """A trained (or training) run: its folder, resolved config and generator."""

    def __init__(self, path: str | Path, config: RunConfig, info: dict[str, Any], G: nn.Module, D: nn.Module, step: int):
        self.path = Path(path)
        self.config = config
        self.info = info
        self.G, self.D = G, D
        self.step = step

    def __repr__(self) -> str:
        return f"Run('{self.path}', data={self.config.data.name!r}, step={self.step})"

    @property
    def kind(self) -> str:
        return self.info["data"]["kind"]

    def sample(self, n: int = 64, seed: int = 0, label: int | None = None) -> torch.Tensor:
        """``n`` samples on the CPU in the data's own coordinates: images [n, C, H, W] in [-1, 1],
        or 2D points [n, 2] in the protocol's units. The same seed gives the same samples.
        A class-conditional G (tricks.conditional / tricks.acgan) draws every sample of class ``label``,
        or cycles through the classes when ``label`` is None."""
        if n < 1:
            raise GanhacksError(f"The number of samples must be at least 1, got {n}.")
        z = latents(n, self.config.model.z_dim, seed, self.config.latent)
        return self._to_data_space(generate(self.G, z, labels=self._labels(n, label)))

    def _labels(self, n: int, label: int | None) -> torch.Tensor | None:
        """``n`` copies of ``label`` for a class-conditional G; None (the default cycle) when no label is asked."""
        if label is None:
            return None
        condition = getattr(self.G, "condition", None)
        if condition is None:
            raise GanhacksError("This run's generator is not class-conditional, so it takes no --label; train with "
                                "tricks.conditional or tricks.acgan on labelled data.")  # fmt: skip
        if not 0 <= label < condition.num_classes:
            raise GanhacksError(f"--label must be a class in 0..{condition.num_classes - 1}, got {label}.")
        return torch.full((n,), label, dtype=torch.long)

    def _to_data_space(self, x: torch.Tensor) -> torch.Tensor:
        """Model-space samples -> the data's coordinates (2D points were scaled into [-1, 1] for training)."""
        return x * self.info["data"]["scale"] if self.kind == "2d" else x

    def save_samples(self, path: str | Path, n: int = 64, seed: int = 0, label: int | None = None) -> Path:
        """Write ``n`` samples as a PNG: an image grid, or a scatter over the mode means for 2D data."""
        from ganhacks.plots import save_image_grid, save_scatter

        path = Path(path)
        if path.suffix.lower() != ".png":
            raise GanhacksError(f"Sample output '{path}' must be a .png file.")
        if not path.parent.exists():
            raise GanhacksError(f"Folder '{path.parent}' does not exist; create it or choose another --out.")
        x = self.sample(n, seed, label)
        if self.kind == "2d":
            modes = self.info["data"].get("modes")
            save_scatter(x, path, modes=torch.tensor(modes) if modes else None, title=f"{self.path.name} step {self.step}")
        else:
            save_image_grid(x, path)
        return path

    def interpolate(
        self, frames: int = 32, kind: str = "slerp", seed: int = 0, points: int = 4, label: int | None = None
    ) -> torch.Tensor:
        """Samples along a closed path through ``points`` random latents, ``frames`` steps per leg:
        [points * frames, ...] in data coordinates. ``kind`` is slerp (great circle) or lerp (straight line).
        A class-conditional G keeps one class along the whole path (``label``, default 0)."""
        from ganhacks.sampling import lerp, slerp

        if frames < 2:
            raise GanhacksError(f"--frames must be at least 2, got {frames}.")
        if kind not in ("slerp", "lerp"):
            raise GanhacksError(f"Interpolation must be slerp or lerp, got {kind!r}.")
        keys = latents(points, self.config.model.z_dim, seed, self.config.latent)
        path = slerp if kind == "slerp" else lerp
        t = torch.arange(frames) / frames
        z = torch.cat([path(keys[i], keys[(i + 1) % points], t) for i in range(points)])
        if label is None and getattr(self.G, "condition", None) is not None:
            label = 0
        return self._to_data_space(generate(self.G, z, labels=self._labels(len(z), label)))

    def save_interpolation(
        self, path: str | Path, frames: int = 32, kind: str = "slerp", seed: int = 0, label: int | None = None
    ) -> Path:
        """Write an animated GIF of :meth:`interpolate` (one image per frame; a moving point set for 2D data)."""
        from PIL import Image

        from ganhacks.plots import image_grid

        path = Path(path)
        if path.suffix.lower() != ".gif":
            raise GanhacksError(f"Interpolation output '{path}' must be a .gif file.")
        if not path.parent.exists():
            raise GanhacksError(f"Folder '{path.parent}' does not exist; create it or choose another --out.")
        if self.kind == "2d":
            raise GanhacksError("Interpolation GIFs are for image runs; for 2D data use `ganhacks sample` scatters.")
        x = self.interpolate(frames, kind, seed, label=label)
        side = max(1, 256 // x.shape[-1])
        imgs = []
        for frame in x:
            arr = image_grid(frame[None], nrow=1, pad=0)
            img = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
            imgs.append(img.resize((img.width * side, img.height * side), Image.Resampling.NEAREST))
        imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=60, loop=0)
        return path

    def evaluate(self, n: int | None = None, inception_weights: str | Path | None = None, quiet: bool = True) -> dict[str, Any]:
        """Every metric that applies to this run's data, from ``n`` samples; also writes ``eval.json``."""
        from ganhacks.metrics.evaluate import Evaluator, write_eval

        data = load_data(self.config.data)
        weights = inception_weights or self.config.eval.inception_weights
        sample = Evaluator(data, weights, quiet=quiet)(self.sample, n or self.config.eval.n)
        result = {"step": self.step, "generator": generator_name(self.G), **sample}
        write_eval(self.path, result)
        return result

    def metrics(self) -> list[dict[str, Any]]:
        """The rows of ``metrics.jsonl``."""
        return RunDir(self.path).read_metrics()


def _as_config(config: RunConfig | dict[str, Any] | str | Path | None, overrides: dict[str, Any]) -> RunConfig:
    extra = nest(overrides)
    if isinstance(config, RunConfig):
        return build_config(values=merge(to_dict(config), extra)) if extra else config
    if config is None or isinstance(config, dict):
        return build_config(values=merge(config or {}, extra))
    return build_config(file=config, values=extra)


def prepare(cfg: RunConfig, data: Dataset | None = None) -> tuple[RunConfig, Dataset]:
    """Load the data (unless ``data``, already loaded for ``cfg.data``, is given) and fill every auto
    config value from it."""
    data = data if data is not None else load_data(cfg.data)
    return resolve(cfg, kind=data.kind, size=data.size, channels=data.channels), data


def train(
    config: RunConfig | dict[str, Any] | str | Path | None = None,
    *,
    out: str | Path = "runs",
    quiet: bool = True,
    tricks: list[Trick] | tuple[Trick, ...] = (),
    **overrides: Any,
) -> Run:
    """Train a GAN and return its :class:`Run`.

    ``config`` is a RunConfig, a nested dict, or a YAML path; keyword overrides use dotted
    keys with ``__`` for dots, e.g. ``train(data__name="ring8", train__steps=500)``.
    ``tricks`` adds extra :class:`~ganhacks.tricks.Trick` objects to the loop.
    """
    from ganhacks.training.loop import Trainer

    cfg = _as_config(config, {k.replace("__", "."): v for k, v in overrides.items()})
    cfg, data = prepare(cfg)
    trainer = Trainer(cfg, data, tricks=tricks, quiet=quiet)  # validates everything before a folder exists
    trainer.run = new_run(out, cfg)
    trainer.fit()
    return _finished(trainer)


def new_run(out: str | Path, cfg: RunConfig) -> RunDir:
    """A fresh run folder for ``cfg`` under ``out``, named like ``00012-mnist5k-baseline``."""
    return RunDir(new_run_dir(out, short_name(cfg.data.name), cfg.preset))


def train_stacked(
    config: RunConfig | dict[str, Any] | str | Path | None = None,
    *,
    seeds: list[int],
    out: str | Path = "runs",
    quiet: bool = True,
    **overrides: Any,
) -> list[Run]:
    """Train one run per seed of ``seeds`` as one stack (``ganhacks train --seeds``), each in its own run
    folder, and return their :class:`Run` objects in seed order. A config that cannot be stacked (a
    trick such as ``tricks.vae``) trains its seeds one after another instead, with a warning saying why."""
    import logging
    import shutil

    from ganhacks.config import replace
    from ganhacks.training.loop import Trainer
    from ganhacks.training.stack import NotStackable
    from ganhacks.training.stacked import StackTrainer, build_stack, solo_reason

    if not seeds:
        raise GanhacksError("--seeds names no seed; give a count (--seeds 4) or a range (--seeds 0-3).")
    cfg = _as_config(config, {k.replace("__", "."): v for k, v in overrides.items()})
    cfg, data = prepare(cfg)
    cfgs = [replace(cfg, **{"train.seed": s}) for s in seeds]
    reason = solo_reason(cfg)
    if reason is None:
        trainers = build_stack(cfgs, data, quiet=quiet)  # validates everything before a folder exists
        for t in trainers:
            t.run = new_run(out, cfg)
        try:
            StackTrainer(trainers, quiet=quiet).fit()
            return [_finished(t) for t in trainers]
        except NotStackable as e:
            reason = str(e)
            for t in trainers:  # nothing was trained: the folders are empty
                shutil.rmtree(t.run.path, ignore_errors=True)
    logging.getLogger("ganhacks").warning("these runs cannot be stacked (%s); training them one after another", reason)
    runs = []
    for c in cfgs:
        t = Trainer(c, data, quiet=quiet)
        t.run = new_run(out, c)
        t.fit()
        runs.append(_finished(t))
    return runs


def parse_seeds(text: str) -> list[int]:
    """``--seeds`` as a list: a count N (seeds 0..N-1) or a range A-B (seeds A..B)."""
    text = text.strip()
    try:
        if "-" in text:
            a, b = (int(x) for x in text.split("-", 1))
            seeds = list(range(a, b + 1))
        else:
            seeds = list(range(int(text)))
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        raise GanhacksError(f"--seeds must be a count like 4 or a range like 0-3, got {text!r}.")
    return seeds


def resume(
    path: str | Path,
    steps: int | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    allow_config_change: bool = False,
    quiet: bool = True,
) -> Run:
    """Continue run ``path`` from its newest checkpoint up to ``steps`` in total (``ganhacks train --resume``).

    ``overrides`` are ``key=value`` config changes, refused unless ``allow_config_change``."""
    from ganhacks.training.resume import resume_run

    trainer = resume_run(path, steps, overrides, allow_config_change, quiet=quiet)
    trainer.fit()
    return _finished(trainer)


def _finished(trainer: Any) -> Run:
    return Run(trainer.run.path, trainer.cfg, _read_info(trainer.run), trainer.G, trainer.D, trainer.step)


def _read_info(run: RunDir) -> dict[str, Any]:
    import json

    try:
        return json.loads(run.info.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise GanhacksError(f"'{run.path}' is not a ganhacks run folder (run.json is missing or damaged).") from None


def diagnose(path: str | Path) -> dict[str, Any]:
    """The doctor's verdict on a finished or running run, from its files alone (nothing is written):
    metrics.jsonl is replayed through a fresh doctor with the run's ``doctor`` config, and the stops and
    rollbacks the live doctor made are read from events.jsonl. Same keys as ``verdict.json``."""
    from ganhacks.monitor.doctor import diagnose as replay
    from ganhacks.monitor.doctor import verdict

    run = RunDir(path)
    if not run.path.is_dir():
        raise GanhacksError(f"Run folder '{path}' does not exist; pass the path that `ganhacks train` printed.")
    if not run.config.exists():
        raise GanhacksError(f"'{path}' is not a ganhacks run folder (it has no config.yaml).")
    cfg = resolve_saved(from_dict(RunConfig, load_yaml(run.config)))
    rows = run.read_metrics()
    events = replay(rows, cfg.doctor, _read_info(run))
    actions = [e for e in run.read_events() if e.get("event") in ("stop", "rollback")]
    result = verdict(events, actions, max((int(r.get("step", 0)) for r in rows), default=0), cfg.doctor.action)
    result["rows"] = len(rows)
    return result


def resolve_saved(cfg: RunConfig) -> RunConfig:
    """A config read back from a run folder: auto values it could not have resolved then (written by an
    older version) are filled the way training fills them."""
    from ganhacks.config import auto_warmup, replace

    if cfg.doctor.warmup is None:
        cfg = replace(cfg, **{"doctor.warmup": auto_warmup(cfg.train.steps)})
    return cfg


def load_run(path: str | Path, step: int | None = None, device: str = "cpu") -> Run:
    """Open a run folder and load its newest checkpoint (or the one at ``step``)."""
    run = RunDir(path)
    if not run.path.is_dir():
        raise GanhacksError(f"Run folder '{path}' does not exist; pass the path that `ganhacks train` printed.")
    if not run.config.exists():
        raise GanhacksError(f"'{path}' is not a ganhacks run folder (it has no config.yaml).")
    cfg = from_dict(RunConfig, load_yaml(run.config))
    info = _read_info(run)
    found = list_checkpoints(run.checkpoints)
    if step is not None:
        found = [p for p in found if p.name == f"step_{step:07d}.json"]
        if not found:
            raise GanhacksError(f"Run '{path}' has no checkpoint at step {step}; see its checkpoints/ folder.")
    if not found:
        raise GanhacksError(f"Run '{path}' has no checkpoint yet; wait for the first one or train longer.")
    state = load_checkpoint(found[-1])
    G, D = build_models(cfg, info["data"]["shape"])
    # Tricks may reshape the networks (PacGAN widens D's first layer, minibatch layers replace its head).
    TrickStack(build_tricks(cfg, torch.device("cpu"), info["data"].get("num_classes"))).build(G, D)
    try:
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
    except (RuntimeError, KeyError) as e:
        raise GanhacksError(f"Checkpoint '{found[-1]}' does not fit the run's model ({str(e).splitlines()[0]}).") from None
    G.to(device).eval()
    D.to(device).eval()
    return Run(run.path, cfg, info, G, D, state["step"])
