"""Trick ablations over seeds: the code behind ``ganhacks ablate``.

An ablation is a folder::

    DIR/ablation.json            what was asked (data, base preset, steps, mode, tricks, seeds, --set)
    DIR/runs/ARM/seed_S/         one ordinary run directory per arm and seed, plus its result.json
    DIR/records/ARM/seed_S/      each finished run's record: what the doctor reads of it (gzipped
                                 metrics, config, events; :func:`ganhacks.training.rundir.keep_record`)
    DIR/results.json, .csv       one row per arm x seed: eval metrics, doctor verdict, steps, wall time
    DIR/stats.json               per arm and per trick statistics (see :mod:`ganhacks.bench.stats`)
    DIR/report.html, report.md   the report (see :mod:`ganhacks.bench.report`)

A folder can be kept without its runs (docs/results/ keeps ablation.json, results.csv, the reports
and records/): its statistics are computed again from results.csv, and ``rediagnose`` judges its runs
again from their records.

A run counts as done once its ``result.json`` exists; that file is written last and atomically, so
an interrupted call leaves at most unfinished run folders, which the next call continues from their
newest checkpoint (or starts afresh when they have none).

Runs whose configs differ only in per-run values (see :func:`ganhacks.training.stacked.stack_key`)
can train as one stack (``--stack``): each still writes its own run folder and result.

Each trick is measured as (runs with it) minus (runs without it):

- ``add-one``: with = base + the trick, without = base.
- ``leave-one-out``: with = the full set (base + every trick), without = the full set minus the
  trick. Removing a switched trick (``replay``) sets it off, even when the base preset had it on;
  removing a ``key=value`` trick leaves that key at the base's value.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ganhacks.bench import stats
from ganhacks.errors import ConfigError, GanhacksError
from ganhacks.training import stop

Mode = Literal["add-one", "leave-one-out", "both"]
MODES: tuple[str, ...] = ("add-one", "leave-one-out", "both")
PLAN_VERSION = 1
# Keys of a run's eval.json that are bookkeeping, not metrics.
_NOT_METRICS = {"step", "n", "n_real", "feature_extractor", "classifier_accuracy"}


# --------------------------------------------------------------------------- what to run


@dataclass(frozen=True)
class TrickSpec:
    """One entry of ``--tricks``: the overrides that add it, and those that take it out of a set."""

    text: str
    on: tuple[str, ...]
    off: tuple[str, ...] = ()


def _switch_names() -> list[str]:
    from ganhacks.config import TricksConfig, _hints

    return list(_hints(TricksConfig))


def parse_tricks(text: str | Iterable[str], two_d: bool = False) -> list[TrickSpec]:
    """Parse ``--tricks``: comma-separated entries, each a switch (``replay`` or ``tricks.replay``,
    turned on at its defaults), ``key=value`` settings joined by ``+``
    (``tricks.label_smoothing.mode=two_sided_random``, ``optim.d.name=sgd+optim.d.lr=0.01``), or
    ``preset:NAME``, every setting of a preset at once (``preset:recommended``); for 2D data (``two_d``)
    without the preset's image-only settings, as ``ganhacks train --preset NAME`` leaves them out."""
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text)]
    items = [t for t in items if t]
    if not items:
        raise ConfigError("--tricks is empty; give at least one trick, e.g. --tricks replay,minibatch_stddev.")
    switches = _switch_names()
    specs: list[TrickSpec] = []
    for item in items:
        if item.startswith("preset:"):
            specs.append(TrickSpec(item, preset_overrides(item.removeprefix("preset:"), two_d)))
            continue
        if "=" in item:
            parts = tuple(p.strip() for p in item.split("+"))
            bad = [p for p in parts if "=" not in p]
            if bad:
                raise ConfigError(f"Trick '{item}' mixes a setting with '{bad[0]}'; join key=value settings with '+'.")
            specs.append(TrickSpec(item, parts))
            continue
        name = item.removeprefix("tricks.")
        if name not in switches:
            from ganhacks.tricks.catalogue import CATALOGUE

            choices = [c.key for c in CATALOGUE if not c.key.startswith("tricks.")]
            if item in choices:
                raise ConfigError(f"'{item}' is a choice, not a switch; give the value to test, e.g. {item}=VALUE.")
            near = difflib.get_close_matches(name, switches, n=1)
            hint = f"did you mean '{near[0]}'?" if near else "see `ganhacks tricks` for the switches."
            raise ConfigError(f"Unknown trick '{item}'; {hint}")
        specs.append(TrickSpec(item, (f"tricks.{name}=on",), (f"tricks.{name}=off",)))
    texts = [s.text for s in specs]
    dupes = sorted({t for t in texts if texts.count(t) > 1})
    if dupes:
        raise ConfigError(f"Trick '{dupes[0]}' is listed twice in --tricks; list each trick once.")
    return specs


def taken_out(
    settings: tuple[str, ...], base: dict[str, Any], with_trick: dict[str, Any], plain: dict[str, Any]
) -> tuple[str, ...]:
    """How a ``key=value`` trick leaves a leave-one-out set, from three flat configs: the base preset,
    the base with the trick, and the baseline preset. A setting the base already has (at the trick's
    value) goes with it, back to its baseline value, as a switch is turned off; otherwise leaving the
    trick out is enough (the key keeps the base's value). Without this, ``--base recommended
    --tricks model.g_act=leaky_relu`` would drop LeakyReLU from nothing."""
    undo: list[str] = []
    for key in dict.fromkeys(k.split("=", 1)[0].strip() for k in settings):
        group = ".".join(key.split(".")[:2]) if key.startswith("tricks.") else key  # a trick as a whole

        def part(d: dict[str, Any], group: str = group) -> dict[str, Any]:
            return {k: v for k, v in d.items() if k == group or k.startswith(group + ".")}

        if part(base) != part(with_trick) or part(base) == part(plain):
            continue  # the base does not have it: leaving it out is enough
        if group.startswith("tricks."):
            undo.append(f"{group}=off")
        undo += [f"{k}={'on' if v == {} else 'off' if v is None else json.dumps(v)}" for k, v in part(plain).items()]
    return tuple(dict.fromkeys(undo))


def preset_overrides(name: str, two_d: bool = False) -> tuple[str, ...]:
    """A preset's settings as ``key=value`` overrides (values in JSON, which YAML reads back); with
    ``two_d``, without its settings that only apply to images (``config.PRESET_IMAGE_ONLY``)."""
    from ganhacks.config import PRESET_IMAGE_ONLY, PRESETS, flatten

    if name not in PRESETS:
        near = difflib.get_close_matches(name, list(PRESETS), n=1)
        hint = f"did you mean 'preset:{near[0]}'?" if near else "choose one of: " + ", ".join(PRESETS) + "."
        raise ConfigError(f"Unknown preset '{name}' in --tricks; {hint}")
    skip = PRESET_IMAGE_ONLY.get(name, ()) if two_d else ()
    return tuple(
        f"{k}={'on' if v == {} else json.dumps(v)}"
        for k, v in flatten(PRESETS[name]).items()
        if not any(k == s or k.startswith(s + ".") for s in skip)
    )


@dataclass(frozen=True)
class Arm:
    """One configuration of the ablation: the base plus ``overrides``."""

    name: str  # "base", "+TRICK", "full", "-TRICK"
    role: Literal["base", "add", "full", "drop"]
    trick: str | None
    overrides: tuple[str, ...]

    @property
    def slug(self) -> str:
        """A folder name that is safe on every file system and unique per configuration."""
        label = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.trick or self.role).strip("._-")[:40] or "arm"
        digest = hashlib.sha1("\n".join(self.overrides).encode()).hexdigest()[:6]
        return f"{self.role}-{label}-{digest}" if self.trick else self.role


def plan_arms(specs: list[TrickSpec], mode: str) -> list[Arm]:
    """The arms an ablation runs, in report order."""
    if mode not in MODES:
        raise ConfigError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}.")
    arms: list[Arm] = []
    if mode in ("add-one", "both"):
        arms.append(Arm("base", "base", None, ()))
        arms += [Arm(f"+{s.text}", "add", s.text, s.on) for s in specs]
    if mode in ("leave-one-out", "both"):
        everything = tuple(o for s in specs for o in s.on)
        arms.append(Arm("full", "full", None, everything))
        for s in specs:
            rest = tuple(o for t in specs if t is not s for o in t.on)
            arms.append(Arm(f"-{s.text}", "drop", s.text, rest + s.off))
    return arms


@dataclass
class Plan:
    """What an ablation was asked to do; saved as ``ablation.json`` and checked on every later call."""

    data: str
    tricks: list[str]
    seeds: int
    steps: int
    base: str = "baseline"
    mode: str = "add-one"
    set: list[str] = field(default_factory=list)
    command: str = ""
    created: str = ""
    machine: str = ""
    version: int = PLAN_VERSION
    # What the arms meant when the folder was made, pinned so that a later ganhacks with other
    # presets or defaults can neither mix two experiments in one folder nor lose track of its runs:
    # each arm's overrides (a preset arm's are the preset's settings then), and the base arm's whole
    # config, flattened, without its seed.
    arm_overrides: dict[str, list[str]] = field(default_factory=dict)
    base_config: dict[str, Any] = field(default_factory=dict)
    # Budgets short of `steps` at which every run is also evaluated (`--eval-at`); each gets its own
    # verdicts. A folder made before this existed has none.
    eval_at: list[int] = field(default_factory=list)
    # The ablation.json whose pinned plan this one repeats (`ganhacks ablate --from`): its arms train
    # the settings pinned there, also where a preset means other settings now.
    source: str = ""

    # These define the experiment; the rest (seeds, command, when and where) may differ between calls.
    IDENTITY = ("data", "tricks", "steps", "base", "mode", "set", "eval_at")

    def budgets(self) -> list[int]:
        """Every budget with verdicts, in order: the ``eval_at`` steps, then ``steps``."""
        return sorted({*self.eval_at, self.steps})

    def specs(self) -> list[TrickSpec]:
        from ganhacks.data.toy2d import MIXTURES

        specs = parse_tricks(self.tricks, two_d=self.data in MIXTURES)
        if self.mode == "add-one" or all(s.off for s in specs):  # `off` only builds leave-one-out arms
            return specs
        from ganhacks.config import flatten, to_dict

        def flat(plan: Plan, overrides: tuple[str, ...] = ()) -> dict[str, Any]:
            return flatten(to_dict(plan.config(Arm("base", "base", None, overrides), 0)))

        base, plain = flat(self), flat(replace(self, base="baseline"))
        return [s if s.off else replace(s, off=taken_out(s.on, base, flat(self, s.on), plain)) for s in specs]

    def arms(self) -> list[Arm]:
        arms = plan_arms(self.specs(), self.mode)
        if not self.arm_overrides:  # a folder made before arms were pinned
            return arms
        return [replace(a, overrides=tuple(self.arm_overrides.get(a.name, a.overrides))) for a in arms]

    def pinned(self) -> tuple[dict[str, list[str]], dict[str, Any]]:
        """(arm_overrides, base_config) as this version of ganhacks resolves the plan now."""
        from ganhacks.config import flatten, to_dict

        arms = plan_arms(self.specs(), self.mode)
        base = flatten(to_dict(self.config(Arm("base", "base", None, ()), 0)))
        base.pop("train.seed", None)
        return {a.name: list(a.overrides) for a in arms}, base

    def drift(self, finished: Collection[str] = ()) -> list[str]:
        """How the pinned arms differ from what this version of ganhacks makes of the same plan.

        Arms named in ``finished`` (every seed done) are left out: they train nothing more, and they
        keep the settings they were pinned with (``report.md`` names them)."""
        return self.base_drift() + self.arm_drift(finished)

    def base_drift(self) -> list[str]:
        """How the pinned base config differs from the one this version builds for the plan.

        Only the arms' overrides are pinned as settings; the base is built again from its preset, so a
        base that drifted cannot be trained as it was."""
        if not self.base_config:
            return []
        from ganhacks.config import RunConfig, changed_keys, flatten, to_dict

        _, base = self.pinned()
        # A key added to ganhacks after the folder was made is not drift while the base arm keeps
        # its default: the folder's runs were made with what that default means.
        defaults = flatten(to_dict(RunConfig()))
        keys = [
            k
            for k in changed_keys(self.base_config, base)
            if k in self.base_config or k not in defaults or base.get(k) != defaults[k]
        ]
        return [f"base {k}: {self.base_config.get(k)!r} then, {base.get(k)!r} now" for k in keys]

    def arm_drift(self, finished: Collection[str] = ()) -> list[str]:
        """The arms (other than those in ``finished``) whose pinned overrides differ from what they resolve to now."""
        if not self.arm_overrides:
            return []
        overrides, _ = self.pinned()
        return [
            f"arm '{name}' was {self.arm_overrides.get(name)} and is now {o}"
            for name, o in overrides.items()
            if self.arm_overrides.get(name) != o and name not in finished
        ]

    @classmethod
    def repeat(cls, source: str | Path, seeds: int | None = None, command: str = "", machine: str = "") -> Plan:
        """The plan pinned in ``source`` (an ablation folder or its ablation.json), to be trained again as
        it was pinned (``ganhacks ablate --from``): every arm with its pinned overrides, also one whose
        preset means other settings now. ``seeds`` extends it.

        A plan that pinned no arms, or whose base this version builds otherwise, is refused in one
        sentence: its runs could not be made again as they were."""
        path = Path(source)
        file = Ablation(path).plan_file if path.is_dir() else path
        if not file.is_file():
            raise GanhacksError(f"--from '{source}' is neither an ablation folder nor an ablation.json; give one of them.")
        stored = load_plan(file)
        if not stored.arm_overrides or not stored.base_config:
            raise GanhacksError(
                f"'{file}' predates pinned arms, so what its arms meant is not recorded; run its own command instead."
            )
        if seeds is not None and seeds < stored.seeds:
            raise GanhacksError(f"--seeds {seeds} is fewer than the {stored.seeds} of '{file}'; leave it out or give more.")
        plan = replace(stored, seeds=seeds or stored.seeds, command=command, created="", machine=machine, source=str(file))
        if drift := plan.base_drift():
            raise GanhacksError(
                f"'{file}' pinned a base that this version of ganhacks builds otherwise ({'; '.join(drift[:4])}), "
                "so it cannot be trained again as it was; run its own command in a new --out folder instead."
            )
        return plan

    def config(self, arm: Arm, seed: int):
        """The RunConfig of one arm and seed (validated; auto values are filled later, from the data)."""
        from ganhacks.config import build_config, nest, without_image_only
        from ganhacks.data.toy2d import MIXTURES

        flat: dict[str, Any] = {"data.name": self.data, "train.steps": self.steps, "train.seed": seed}
        early = [b for b in self.budgets() if b < self.steps]  # the last budget is the run's own final evaluation
        if early:
            flat["eval.at"] = early
        cfg = build_config(preset=self.base, values=nest(flat), overrides=[*self.set, *arm.overrides])
        # The 2D data sets train a preset base without its image-only settings (config.resolve does
        # it again, to the same effect); doing it here too makes the pinned base_config say what the
        # runs trained, so that a preset that changes what it means on 2D shows as drift.
        return without_image_only(cfg) if self.data in MIXTURES else cfg


def load_plan(file: Path) -> Plan:
    """The Plan saved in ``file`` (an ablation.json); one sentence if it is damaged."""
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
        return Plan(**{k: v for k, v in raw.items() if k in Plan.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        raise GanhacksError(f"'{file}' is damaged; start the ablation in a new --out folder.") from None


def machine_description() -> str:
    """A one-line description of this machine for reports: CPU model, cores, accelerator."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return f"{cpu}, {os.cpu_count()} cores{gpu}, torch {torch.__version__}"


# --------------------------------------------------------------------------- the folder


class Ablation:
    """An ablation folder: its plan, its run folders and the files computed from them."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def plan_file(self) -> Path:
        return self.path / "ablation.json"

    @property
    def runs(self) -> Path:
        return self.path / "runs"

    def run_dir(self, arm: Arm, seed: int) -> Path:
        return self.runs / arm.slug / f"seed_{seed}"

    @property
    def records(self) -> Path:
        return self.path / "records"

    def keep_record(self, row: dict[str, Any]) -> None:
        """Keep the record of a finished run (its row) beside the results, so that a later doctor can
        judge it again after runs/ is gone. A run that failed before it trained has none."""
        from ganhacks.training.rundir import keep_record

        run = self.runs / row["run"]
        if (run / "metrics.jsonl").is_file() and (run / "verdict.json").is_file():
            keep_record(run, self.records / row["run"])

    def tb_dir(self, arm: Arm, seed: int) -> Path:
        """A run's TensorBoard event folder (``ganhacks ablate --tensorboard``)."""
        return self.path / "tb" / arm.slug / f"seed_{seed}"

    def read_plan(self) -> Plan:
        if not self.plan_file.exists():
            raise GanhacksError(f"'{self.path}' is not an ablation folder (it has no ablation.json).")
        return load_plan(self.plan_file)

    def open(self, plan: Plan) -> Plan:
        """Create the folder for ``plan``, or reopen it when it holds the same experiment.

        More seeds than before extend it, and so do more arms in add-one mode (every trick it had, and
        others: the finished runs keep their verdicts, and the new arms run on the same seeds); a
        different experiment is refused, naming what differs."""
        from ganhacks.fileio import atomic_write

        if self.path.exists() and not self.path.is_dir():
            raise GanhacksError(f"Output path '{self.path}' is not a folder; choose another --out.")
        if self.plan_file.exists():
            old = self.read_plan()
            changed = [k for k in Plan.IDENTITY if getattr(old, k) != getattr(plan, k)]
            # An add-one arm depends on its trick and the base alone, so new arms leave the old ones'
            # runs as they are; a leave-one-out arm holds every other trick, so there it is another experiment.
            extends = changed == ["tricks"] and plan.mode == "add-one" and set(old.tricks) <= set(plan.tricks)
            if extends:
                changed = []
            if changed:
                what = ", ".join(f"{k} ({getattr(old, k)!r} before, {getattr(plan, k)!r} now)" for k in changed)
                raise GanhacksError(
                    f"'{self.path}' holds a different ablation: {what}; use a new --out folder or the same settings."
                )
            plan.created = old.created
            plan.source = old.source
            plan.seeds = max(plan.seeds, old.seeds)
            plan.arm_overrides, plan.base_config = old.arm_overrides, old.base_config
            if extends and old.arm_overrides:
                # The new arms are pinned as they are resolved now; the old ones keep what they meant.
                now, _ = plan.pinned()
                plan.arm_overrides = {name: old.arm_overrides.get(name, o) for name, o in now.items()}
            # A preset can change after its arm finished (the bench is what changes it); the finished
            # runs stay what they were, and the arms still to train must mean what they meant.
            # A folder made to repeat a stored plan (--from) asked for its pinned arms, so only its base can drift.
            drift = plan.base_drift() + ([] if plan.source else plan.arm_drift(finished=self.finished_arms(plan)))
            if drift:
                raise GanhacksError(
                    f"'{self.path}' was made when its arms meant other settings ({'; '.join(drift[:4])}"
                    f"{f'; and {len(drift) - 4} more' if len(drift) > 4 else ''}); measure the new ones in a new --out folder."
                )
        elif self.path.is_dir() and any(self.path.iterdir()):
            raise GanhacksError(f"Output folder '{self.path}' is not empty and holds no ablation; choose a new --out.")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise GanhacksError(f"Cannot create the output folder '{self.path}' ({e.strerror}); choose another --out.") from None
        plan.created = plan.created or time.strftime("%Y-%m-%dT%H:%M:%S%z")
        if not plan.arm_overrides:
            plan.arm_overrides, plan.base_config = plan.pinned()
        atomic_write(self.plan_file, (json.dumps(asdict(plan), indent=2) + "\n").encode())
        self._restore_kept_results(plan)
        return plan

    def finished_arms(self, plan: Plan) -> set[str]:
        """The arms with a finished run for every seed of ``plan``."""
        seeds: dict[str, set[int]] = {}
        for row in self.results(plan):
            seeds.setdefault(row["arm"], set()).add(row["seed"])
        return {arm for arm, done in seeds.items() if done >= set(range(plan.seeds))}

    def _restore_kept_results(self, plan: Plan) -> None:
        """A folder kept without its runs (docs/results/ keeps ablation.json and results.csv) gets a
        result.json per finished run back from its results.csv, so that continuing it trains only
        the runs it lacks. Those runs have no metrics.jsonl, so ``rediagnose`` reads their records."""
        from ganhacks.fileio import atomic_write

        kept = self.path / "results.csv"
        if self.runs.exists() or not kept.is_file():
            return
        arms = {a.name: a for a in plan.arms()}
        for row in rows_from_csv(kept.read_text(encoding="utf-8")):
            if row["arm"] not in arms:
                continue
            run = self.run_dir(arms[row["arm"]], row["seed"])
            run.mkdir(parents=True, exist_ok=True)
            atomic_write(run / "result.json", strict_json({**row, "run": str(run.relative_to(self.runs))}))

    # ------------------------------------------------------------------ results

    def results(self, plan: Plan | None = None) -> list[dict[str, Any]]:
        """One row per finished arm x seed, in plan order (unfinished runs are left out).

        A folder kept without its runs (as docs/results/ keeps them: ablation.json and results.csv)
        is read from its results.csv, so its statistics can be computed again."""
        plan = plan or self.read_plan()
        if not self.runs.is_dir() and (self.path / "results.csv").is_file():
            return rows_from_csv((self.path / "results.csv").read_text(encoding="utf-8"))
        rows = []
        for arm in plan.arms():
            folder = self.runs / arm.slug
            if not folder.is_dir():
                continue
            found = []
            for run in folder.glob("seed_*"):
                result = run / "result.json"
                if result.is_file():
                    try:
                        found.append(json.loads(result.read_text(encoding="utf-8")))
                    except ValueError:
                        continue
            rows += sorted(found, key=lambda r: r["seed"])
        return rows

    def write_results(self, plan: Plan | None = None) -> list[dict[str, Any]]:
        """Write results.json and results.csv from the finished runs; return the rows."""
        from ganhacks.fileio import atomic_write

        rows = self.results(plan)
        atomic_write(self.path / "results.json", strict_json(rows))
        atomic_write(self.path / "results.csv", results_csv(rows).encode())
        return rows

    def rediagnose(self, plan: Plan | None = None) -> list[str]:
        """Judge every finished run again with today's doctor (a function of metrics.jsonl), from its
        run folder or, where that is gone, its record, and rewrite its result's ``healthy`` and
        ``failures`` (in result.json, or in results.csv for a folder kept without runs/). The run's own
        verdict.json and events.jsonl, the record of what the live doctor did, stay as they are.
        Returns one line per run whose verdict changed. A run with neither is left alone."""
        from ganhacks.fileio import atomic_write

        plan = plan or self.read_plan()
        changed: list[str] = []
        if not self.runs.is_dir():  # kept without its runs: the rows are results.csv's
            rows = self.results(plan)
            judged = [self._judge_again(row, changed) for row in rows]  # every row, not up to the first change
            if any(judged):
                atomic_write(self.path / "results.csv", results_csv(rows).encode())
            return changed
        for arm in plan.arms():
            for result in sorted((self.runs / arm.slug).glob("seed_*/result.json")):
                try:
                    row = json.loads(result.read_text(encoding="utf-8"))
                except ValueError:
                    continue
                if self._judge_again(row, changed):
                    atomic_write(result, strict_json(row))
        return changed

    def _judge_again(self, row: dict[str, Any], changed: list[str]) -> bool:
        """Diagnose one result row's run again; True (and a line in ``changed``) if its verdict changed."""
        from ganhacks.api import diagnose
        from ganhacks.training.rundir import is_record

        if row.get("error"):
            return False  # a run that failed to train keeps its error as its failure
        run, record = self.runs / row["run"], self.records / row["run"]
        if (run / "metrics.jsonl").is_file():
            if not is_record(record):
                self.keep_record(row)  # a folder from before records: keep them now
            source = run
        elif is_record(record):
            source = record
        else:
            return False
        verdict = diagnose(source)
        before = (row.get("healthy"), row.get("failures"))
        row["healthy"], row["failures"] = bool(verdict["healthy"]), list(verdict["failures"])
        if before == (row["healthy"], row["failures"]):
            return False
        was = "healthy" if before[0] else ", ".join(before[1] or []) or "unhealthy"
        now = "healthy" if row["healthy"] else ", ".join(row["failures"])
        changed.append(f"{row['arm']} seed {row['seed']}: {was} -> {now}")
        return True

    def summarize(self, plan: Plan | None = None) -> dict[str, Any]:
        """Statistics over the finished runs; also written to stats.json."""
        from ganhacks.fileio import atomic_write

        plan = plan or self.read_plan()
        summary = summarize(plan, self.write_results(plan))
        atomic_write(self.path / "stats.json", strict_json(summary))
        return summary


def strict_json(value: Any) -> bytes:
    """JSON that every parser accepts: NaN and infinities (an undefined KL, a diverged run) become null."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return (json.dumps(clean(value), indent=2, allow_nan=False) + "\n").encode()


# results.csv's columns before the metrics: a row's own fields, as results.json holds them.
CSV_FIXED = ("arm", "role", "trick", "seed", "steps", "wall_s", "eval_s", "healthy", "failures", "error", "run")


def results_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as CSV: fixed columns first, then one column per metric."""
    fixed = list(CSV_FIXED)
    metrics = sorted({k for r in rows for k in r.get("metrics", {})})
    # Earlier budgets (--eval-at) as METRIC@STEP columns, after the final ones.
    early = sorted({(int(b), k) for r in rows for b, m in r.get("metrics_at", {}).items() for k in m})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fixed + metrics + [f"{k}@{b}" for b, k in early])
    for r in rows:
        cells = [";".join(r[k]) if k == "failures" else r.get(k) for k in fixed]
        at = r.get("metrics_at", {})
        writer.writerow(cells + [r.get("metrics", {}).get(m) for m in metrics] + [at.get(str(b), {}).get(k) for b, k in early])
    return out.getvalue()


def rows_from_csv(text: str) -> list[dict[str, Any]]:
    """The rows of a results.csv that :func:`results_csv` wrote, as results.json holds them."""
    fixed = set(CSV_FIXED)

    def number(v: str) -> float | None:
        return float(v) if v not in ("", "None") else None

    rows = []
    for r in csv.DictReader(io.StringIO(text)):
        rows.append(
            {
                "arm": r["arm"],
                "role": r["role"],
                "trick": r["trick"] or None,
                "seed": int(r["seed"]),
                "steps": int(r["steps"]) if r["steps"] else None,
                "wall_s": number(r["wall_s"]) or 0.0,
                "eval_s": number(r["eval_s"]),
                "healthy": r["healthy"] == "True",
                "failures": [f for f in r["failures"].split(";") if f],
                "error": r["error"] or None,
                "run": r["run"],
                # An empty cell is an undefined metric (KL with no high-quality sample): None, as in results.json.
                "metrics": {k: number(v) for k, v in r.items() if k not in fixed and "@" not in k},
            }
        )
        at: dict[str, dict[str, Any]] = {}
        for k, v in r.items():
            if "@" in k and v != "":  # a run that stopped before a budget has no value there
                name, step = k.rsplit("@", 1)
                at.setdefault(step, {})[name] = number(v)
        if at:
            rows[-1]["metrics_at"] = at
    return rows


# --------------------------------------------------------------------------- statistics

PRIMARY_ORDER = ("kl", "fd", "fd_inception", "modes")


def summarize(plan: Plan, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per arm: runs, failure rate, mean and SE of each metric. Per trick and role: the difference
    from the arm without it, with a paired t 95 % CI and p, and a verdict per metric; the headline
    verdict is the primary metric's (KL for 2D and Stacked MNIST, FD for labelled images), or the
    mode count's where KL is undefined in some of the runs compared. Until both arms have every
    planned seed the verdicts are ``pending``. The headline tests of the complete effects also get
    Benjamini-Hochberg adjusted p values (``q``) and an adjusted verdict (see :mod:`ganhacks.bench.stats`)."""
    arms = plan.arms()
    by_arm: dict[str, list[dict[str, Any]]] = {a.name: [r for r in rows if r["arm"] == a.name] for a in arms}
    metrics = [m for m in stats.DIRECTIONS if any(m in r.get("metrics", {}) for r in rows)]
    # The headline metric: the first of PRIMARY_ORDER with any finite value (a 2D run with no
    # high-quality sample has no KL, so very short runs fall back to the mode count).
    usable = [m for m in metrics if any(stats.finite([r.get("metrics", {}).get(m)]) for r in rows)]
    primary = next((m for m in PRIMARY_ORDER if m in usable), usable[0] if usable else None)

    def values(arm: str, metric: str) -> dict[int, float]:
        out = {}
        for r in by_arm.get(arm, []):
            v = r.get("metrics", {}).get(metric)
            if stats.finite([v]):
                out[r["seed"]] = float(v)
        return out

    arm_rows = []
    for a in arms:
        runs = by_arm[a.name]
        entry: dict[str, Any] = {
            "arm": a.name,
            "role": a.role,
            "trick": a.trick,
            "overrides": list(a.overrides),
            "runs": len(runs),
            "failure_rate": stats.failure_rate([bool(r["healthy"]) for r in runs]),
            "wall_s": stats.mean_se([r["wall_s"] for r in runs])[0] if runs else math.nan,
            "metrics": {},
        }
        for m in metrics:
            v = list(values(a.name, m).values())
            mean, se = stats.mean_se(v)
            lo, hi = stats.mean_ci(v)
            entry["metrics"][m] = {"mean": mean, "se": se, "ci": [lo, hi], "n": len(v)}
        arm_rows.append(entry)

    effects = []
    names = {a.name for a in arms}
    for spec in plan.tricks:
        for role, with_arm, without_arm in (("add", f"+{spec}", "base"), ("drop", "full", f"-{spec}")):
            if with_arm not in names or without_arm not in names:
                continue
            # An ablation still running (or interrupted) has arms short of their seeds. Their difference
            # is shown, but a verdict over fewer seeds than planned would read as the final answer.
            done = min(len(by_arm[with_arm]), len(by_arm[without_arm]))
            complete = done >= plan.seeds
            effect: dict[str, Any] = {
                "trick": spec,
                "role": role,
                "with": with_arm,
                "without": without_arm,
                "seeds_done": done,
                "failure_rate_with": stats.failure_rate([bool(r["healthy"]) for r in by_arm[with_arm]]),
                "failure_rate_without": stats.failure_rate([bool(r["healthy"]) for r in by_arm[without_arm]]),
                "metrics": {},
            }
            for m in metrics:
                c = stats.compare(values(with_arm, m), values(without_arm, m))
                effect["metrics"][m] = {
                    "diff": c.diff,
                    "ci": [c.lo, c.hi],
                    "p": c.p,
                    "p_signflip": c.p_signflip,
                    "paired": c.paired,
                    "n": c.n,
                    "verdict": stats.verdict(c.diff, c.p, stats.DIRECTIONS[m]) if complete else "pending",
                }
            # The headline is the primary metric, unless it is undefined in some of these runs (KL
            # with no high-quality sample): comparing the runs that kept it would hide the failures
            # that lost it, so the next metric of PRIMARY_ORDER defined in every run decides.
            effect["headline"] = next(
                (
                    m
                    for m in [primary, *PRIMARY_ORDER]
                    if m in metrics and all(len(values(a, m)) == len(by_arm[a]) for a in (with_arm, without_arm))
                ),
                primary,
            )
            head = effect["headline"]
            effect["verdict"] = effect["metrics"][head]["verdict"] if head else ("no evidence" if complete else "pending")
            effect["p"] = effect["metrics"][head]["p"] if head else math.nan
            effects.append(effect)
    adjust_verdicts(effects, {m: stats.DIRECTIONS[m] for m in metrics})
    summary = {
        "data": plan.data,
        "base": plan.base,
        "mode": plan.mode,
        "steps": plan.steps,
        "seeds": plan.seeds,
        "metrics": metrics,
        "primary": primary,
        "directions": {m: stats.DIRECTIONS[m] for m in metrics},
        "arms": arm_rows,
        "effects": effects,
        "statistics": {
            "test": stats.TEST_NAME,
            "level": stats.LEVEL,
            "min_seeds": stats.MIN_SEEDS,
            "fdr": f"{stats.FDR_NAME} over the headline tests of the table's complete effects",
            "signflip": {
                "min_seeds": stats.SIGNFLIP_MIN_SEEDS,
                "exact_up_to": stats.SIGNFLIP_EXACT_MAX,
                "resamples": stats.SIGNFLIP_RESAMPLES,
                "seed": stats.SIGNFLIP_SEED,
            },
        },
    }
    if plan.eval_at:
        # Each budget is its own table, with its own FDR adjustment; the last is this summary.
        final = replace(plan, eval_at=[])
        summary["budgets"] = []
        for b in plan.budgets():
            sub = summary if b == plan.steps else summarize(final, rows_at(rows, b))
            summary["budgets"].append({"steps": b, "primary": sub["primary"], "arms": sub["arms"], "effects": sub["effects"]})
    return summary


def rows_at(rows: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """The rows as they stood at ``budget`` steps: each run's metrics from its evaluation there. A run
    that ended before it (the doctor stopped it) counts with its final state, which is what training
    it to the budget would have left; a run with no evaluation there has every metric undefined."""
    out = []
    for r in rows:
        m = r.get("metrics_at", {}).get(str(budget))
        if m is None:
            m = r["metrics"] if 0 < r.get("steps", 0) < budget and not r.get("error") else {}
        out.append({**r, "metrics": {k: m.get(k) for k in r.get("metrics", {})}})
    return out


def adjusted(effects: list[dict[str, Any]], directions: list[dict[str, int]]) -> list[tuple[float, str]]:
    """(q, adjusted verdict) of each complete effect: its headline p, Benjamini-Hochberg adjusted over
    all of ``effects``, read in the direction of its headline metric (``directions``, one per effect)."""
    qs = stats.bh_adjust([e.get("p", math.nan) for e in effects])
    out = []
    for e, q, direction in zip(effects, qs, directions, strict=True):
        head = e.get("headline")
        diff = e["metrics"][head]["diff"] if head else math.nan
        out.append((q, stats.verdict(diff, q, direction.get(head, 0)) if head else "no evidence"))
    return out


def adjust_verdicts(effects: list[dict[str, Any]], directions: dict[str, int]) -> None:
    """Give each effect ``q`` (its headline p, Benjamini-Hochberg adjusted over the complete effects
    in ``effects``) and ``verdict_adjusted``; pending effects stay pending and take no part."""
    complete = [e for e in effects if e["verdict"] != "pending"]
    for e in effects:
        e["q"], e["verdict_adjusted"] = math.nan, "pending"
    for e, (q, verdict) in zip(complete, adjusted(complete, [directions] * len(complete)), strict=True):
        e["q"], e["verdict_adjusted"] = q, verdict


# --------------------------------------------------------------------------- running


def _result_row(arm: Arm, seed: int, run: Path) -> dict[str, Any]:
    return {
        "arm": arm.name,
        "role": arm.role,
        "trick": arm.trick,
        "seed": seed,
        "run": str(Path(arm.slug) / run.name),
        "steps": 0,
        "wall_s": 0.0,
        "eval_s": 0.0,
        "healthy": False,
        "failures": [],
        "error": None,
        "metrics": {},
    }


def _open_run(
    plan: Plan,
    arm: Arm,
    seed: int,
    run: Path,
    runtime: dict[str, Any] | None,
    datasets: dict[Any, Any] | None = None,
    tb: str | None = None,
) -> tuple[Any, int | None]:
    """A Trainer for one arm x seed in ``run``: continued from its newest checkpoint when an interrupted
    call left one (the run's config is its own; ``runtime``, how this call runs it, such as
    ``{"train.device": "cuda"}``, may change it), else built afresh in an emptied folder. ``datasets``
    caches loaded data by its config, so the runs of a stack share one data set (and one copy of it on
    the device). ``tb``, when given, is the run's TensorBoard event folder.
    Returns (trainer, the step it resumed from or None)."""
    trainer, at = _open_trainer(plan, arm, seed, run, runtime or {}, datasets)
    if tb is not None:
        trainer.tb_path = Path(tb)
    return trainer, at


def _open_trainer(
    plan: Plan, arm: Arm, seed: int, run: Path, runtime: dict[str, Any], datasets: dict[Any, Any] | None
) -> tuple[Any, int | None]:
    from ganhacks.api import prepare
    from ganhacks.data import load_data
    from ganhacks.training import Trainer
    from ganhacks.training.checkpoint import list_checkpoints
    from ganhacks.training.resume import resume_run

    cfg = plan.config(arm, seed)
    datasets = {} if datasets is None else datasets
    if cfg.data not in datasets:
        datasets[cfg.data] = load_data(cfg.data)
    data = datasets[cfg.data]
    if list_checkpoints(run / "checkpoints"):
        # the override parser reads true/false, not Python's True/False; a device name stays as given
        overrides = [f"{key}={str(value).lower() if isinstance(value, bool) else value}" for key, value in runtime.items()]
        try:
            trainer = resume_run(run, overrides=overrides, allow_config_change=bool(runtime), quiet=True, data=data)
            return trainer, trainer.step
        except GanhacksError:
            pass  # no checkpoint that loads, or another config: start it again
    if run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True)
    if runtime:
        from ganhacks.config import replace as set_keys

        cfg = set_keys(cfg, **runtime)
    cfg, data = prepare(cfg, data)
    return Trainer(cfg, data, run_dir=run, quiet=True), None


def _finish_row(row: dict[str, Any], trainer: Any, run: Path) -> None:
    """Evaluate a trained run and fill its row: the metrics, the doctor's verdict, the step reached."""
    row["steps"] = trainer.step
    start = time.perf_counter()
    result = trainer.evaluate()
    row["eval_s"] = round(time.perf_counter() - start, 3)
    row["metrics"] = {k: v for k, v in result.items() if k not in _NOT_METRICS and isinstance(v, (int, float))}
    at = trainer.cfg.eval.at or ()
    if at:
        from ganhacks.training.rundir import RunDir

        row["metrics_at"] = metrics_at(RunDir(run).read_metrics(), at, set(row["metrics"]))
    verdict = json.loads((run / "verdict.json").read_text(encoding="utf-8"))
    row["healthy"] = bool(verdict.get("healthy"))
    row["failures"] = list(verdict.get("failures", []))


def metrics_at(log: list[dict[str, Any]], steps: Iterable[int], keys: set[str]) -> dict[str, dict[str, Any]]:
    """The evaluation metrics (``keys``) that metrics.jsonl holds at each of ``steps``, keyed by the
    step as a string (JSON's keys are strings). After a rollback a step can be logged twice; the
    last row is the one the run went on from."""
    wanted = set(steps)
    out: dict[str, dict[str, Any]] = {}
    for r in log:
        if r.get("step") in wanted and any(k in r for k in keys):
            out[str(r["step"])] = {k: r[k] for k in keys if k in r}
    return out


def _failed(row: dict[str, Any], e: Exception) -> None:
    row["error"] = f"{type(e).__name__}: {e}".splitlines()[0][:500]
    row["failures"] = row["failures"] or ["error"]


def run_one(
    plan_dict: dict[str, Any],
    arm_dict: dict[str, Any],
    seed: int,
    path: str,
    runtime: dict[str, Any] | None = None,
    tb: str | None = None,
) -> dict[str, Any]:
    """Train and evaluate one arm x seed in ``path`` (with TensorBoard event files in ``tb``, when given);
    write and return its result row.

    Runs in a worker process. A run that raises is recorded as failed (with the error) rather than
    taking the whole ablation down; an interrupt is not caught."""
    from ganhacks.fileio import atomic_write

    plan = Plan(**plan_dict)
    arm = Arm(**{**arm_dict, "overrides": tuple(arm_dict["overrides"])})
    run = Path(path)
    row = _result_row(arm, seed, run)
    if stop.requested() is not None:  # queued before the stop: leave it unstarted, its folder untouched
        return {**row, "stopped": None}
    try:
        trainer, row["resumed_from"] = _open_run(plan, arm, seed, run, runtime, tb=tb)
        start = time.perf_counter()
        trainer.fit()
        row["wall_s"] = round(time.perf_counter() - start, 3)
        _finish_row(row, trainer, run)
    except stop.Stopped as e:  # asked to stop: the run keeps its checkpoint and no result, so the next call continues it
        return {**row, "stopped": str(e)}
    except Exception as e:  # noqa: BLE001 - one broken run must not end the ablation
        _failed(row, e)
    atomic_write(run / "result.json", strict_json(row))
    return row


def run_stack(
    plan_dict: dict[str, Any],
    jobs: list[tuple[dict[str, Any], int, str]],
    runtime: dict[str, Any] | None = None,
    tb: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Train several arm x seed runs as one stack (each in its own folder, each continued from its
    newest checkpoint if it has one), evaluate each, write and return their result rows. A stack that
    cannot be formed trains its runs one after another; a stack that raises fails all its runs.
    ``tb``, when given, holds each run's TensorBoard event folder."""
    from ganhacks.fileio import atomic_write
    from ganhacks.training.loop import global_rng_state
    from ganhacks.training.stack import NotStackable
    from ganhacks.training.stacked import StackTrainer

    plan = Plan(**plan_dict)
    arms = [Arm(**{**a, "overrides": tuple(a["overrides"])}) for a, _, _ in jobs]
    runs = [Path(p) for _, _, p in jobs]
    rows = [_result_row(arm, seed, run) for arm, (_, seed, _), run in zip(arms, jobs, runs, strict=True)]
    if stop.requested() is not None:  # queued before the stop: leave them unstarted
        return [{**row, "stopped": None} for row in rows]
    trainers, datasets = [], {}
    try:
        for i, (arm, (_, seed, _), run, row) in enumerate(zip(arms, jobs, runs, rows, strict=True)):
            trainer, row["resumed_from"] = _open_run(plan, arm, seed, run, runtime, datasets, tb=tb[i] if tb else None)
            trainer.own_rng = global_rng_state()  # as it stands after this run's build (or its checkpoint)
            trainers.append(trainer)
        start = time.perf_counter()
        try:
            try:
                StackTrainer(trainers).fit()
            except NotStackable:
                for t in trainers:
                    t.fit()
        except stop.Stopped as e:  # every run keeps its checkpoint and gets no result: the next call continues them
            return [{**row, "stopped": str(e)} for row in rows]
        wall = round((time.perf_counter() - start) / len(trainers), 3)  # each run's share of the stack
        for trainer, run, row in zip(trainers, runs, rows, strict=True):
            row["wall_s"], row["stacked"] = wall, len(trainers)
            _finish_row(row, trainer, run)
    except Exception as e:  # noqa: BLE001 - one broken stack must not end the ablation
        for row in rows:
            if not row["metrics"]:
                _failed(row, e)
    for run, row in zip(runs, rows, strict=True):
        run.mkdir(parents=True, exist_ok=True)
        atomic_write(run / "result.json", strict_json(row))
    return rows


def _cuda_graph_mode(value: bool | str) -> bool | str:
    """``--cuda-graph`` as ``train.cuda_graph`` holds it: True, False or "auto"."""
    text = str(value).lower()
    if text not in ("true", "false", "auto"):
        raise GanhacksError(f"--cuda-graph must be true, false or auto, got {value!r}.")
    return "auto" if text == "auto" else text == "true"


def stack_size(stack: str | int, device: str | None, cfg: Any) -> int:
    """How many runs share a stack: ``--stack off`` 1, ``--stack K`` K, ``auto`` by the device and the
    model. On the CPU auto is 1: there a stack runs no faster per run-step than the runs alone
    (docs/performance.md), and one process per core is the best layout. On a GPU it fills the chip,
    up to a memory budget for weights, gradients and Adam's moments."""
    if stack == "off":
        return 1
    if stack != "auto":
        k = int(stack)
        if k < 1:
            raise GanhacksError(f"--stack must be auto, off or a positive number of runs, got {stack}.")
        return k
    from ganhacks.training.loop import pick_device

    if pick_device(device or cfg.train.device).type == "cpu":
        return 1
    from ganhacks.api import prepare
    from ganhacks.models import build_models

    cfg, data = prepare(cfg)
    G, D = build_models(cfg, list(data.x.shape[1:]))
    params = sum(p.numel() for m in (G, D) for p in m.parameters())
    budget = 2e9  # bytes: 4 tensors (weights, grads, two moments) of 4 bytes each per parameter
    return int(max(1, min(256, budget // (16 * params))))


def _init_worker(threads: int, shared_stop: Any = None) -> None:
    import torch

    torch.set_num_threads(threads)
    if shared_stop is not None:  # a pool process: stop requests come from the main process
        stop.share(shared_stop)
        # The terminal's Ctrl-C (and timeout's SIGTERM) reaches every process of the group; a worker
        # only records it, and the main process decides.
        stop.install_in_worker()


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def ablate(
    out: str | Path,
    plan: Plan,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
    stack: str | int = "auto",
    device: str | None = None,
    cuda_graph: bool | str | None = None,
    tensorboard: bool = False,
    executor: str = "pool",
    ray_address: str | None = None,
    first: Sequence[str] = (),
) -> dict[str, Any]:
    """Run every arm x seed of ``plan`` that has not finished yet in ``out``, then write results,
    statistics and the report. Returns the statistics. Safe to call again after an interruption.

    ``first`` names arms (by trick, as in ``plan.tricks``, or by arm name, e.g. ``+tricks.pack``)
    whose missing runs train before the others', seed by seed, to settle one question sooner;
    it changes only the order, not what runs.

    ``stack`` (auto, off or K) trains compatible runs as stacks of up to K (see :func:`stack_size`);
    ``device`` (cpu, cuda, cuda:N) overrides every run's ``train.device``, and ``cuda_graph`` (true, false,
    auto) its ``train.cuda_graph``: how this call runs them, not part of the experiment; ``tensorboard`` writes each run's
    TensorBoard event files to ``out/tb/ARM/seed_N`` (:meth:`Ablation.tb_dir`), so ``tensorboard --logdir
    out/tb`` compares arms and seeds. It is not part of the experiment: a later call may leave it off.
    ``executor`` is ``pool`` (``workers`` local processes) or ``ray`` (each task a Ray task on the cluster
    at ``ray_address``, or a local one: :mod:`ganhacks.bench.ray_executor`); results do not depend on it."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    if workers < 1:
        raise GanhacksError(f"--workers must be at least 1, got {workers}.")
    if executor not in ("pool", "ray"):
        raise GanhacksError(f"--executor must be pool or ray, got {executor!r}.")
    if ray_address and executor != "ray":
        raise GanhacksError("--ray-address only applies with --executor ray.")
    if executor == "ray":
        from ganhacks.bench.ray_executor import require as require_ray

        require_ray()  # a missing package is one sentence, before anything runs
    if plan.seeds < 1 or plan.steps < 1:
        raise GanhacksError(f"--seeds and --steps must be at least 1, got {plan.seeds} and {plan.steps}.")
    bad = [b for b in plan.eval_at if not 1 <= b <= plan.steps]
    if bad:
        raise GanhacksError(f"--eval-at {bad[0]} is outside 1..{plan.steps}; give budgets up to --steps.")
    say = progress or (lambda _msg: None)
    arms = plan.arms()
    names = {a.name for a in arms} | {a.trick for a in arms if a.trick}
    unknown = [f for f in first if f not in names]
    if unknown:
        raise GanhacksError(f"--first names no arm of this ablation: '{unknown[0]}'; give a trick of --tricks.")
    firsts = {a.name for a in arms if a.name in first or a.trick in first}
    from ganhacks.api import prepare
    from ganhacks.data import load_data
    from ganhacks.training.stacked import stack_key

    datasets: dict[Any, Any] = {}  # DataConfig -> Dataset: arms rarely differ in data, so load each once
    keys: dict[str, str | None] = {}
    for arm in arms:  # every arm's config must be valid before anything runs or a folder is made
        cfg = plan.config(arm, 0)
        if cfg.data not in datasets:
            datasets[cfg.data] = load_data(cfg.data)
        keys[arm.name] = stack_key(prepare(cfg, datasets[cfg.data])[0])
    from ganhacks.training.loop import pick_device

    if device is not None:
        pick_device(device)  # an unavailable device is one sentence, before anything runs
    runtime: dict[str, Any] = {"train.device": device} if device is not None else {}
    if cuda_graph is not None:
        runtime["train.cuda_graph"] = _cuda_graph_mode(cuda_graph)
    if runtime.get("train.cuda_graph") is True:
        if pick_device(device or plan.config(arms[0], 0).train.device).type != "cuda":
            raise GanhacksError(
                "--cuda-graph true needs a CUDA device, and these runs train on the CPU; use --cuda-graph auto or false."
            )
    if tensorboard:
        from ganhacks.training.tensorboard import require

        require()  # a missing package is one sentence, before anything runs
    folder = Ablation(out)
    plan = folder.open(plan)
    # A reopened folder's arms are what it pinned, not what they mean now: an arm that finished before
    # its preset changed keeps its runs instead of training them again with the new settings.
    arms = plan.arms()
    # Seed by seed, not arm by arm: an interrupted call then leaves every arm with the same seeds,
    # so the paired differences so far cover every trick rather than only the first ones.
    jobs = [(a, s) for s in range(plan.seeds) for a in arms if not (folder.run_dir(a, s) / "result.json").is_file()]
    if first:
        jobs.sort(key=lambda job: job[0].name not in firsts)  # stable: seed by seed within each group
    total = len(arms) * plan.seeds
    k = stack_size(stack, device, plan.config(arms[0], 0))
    tasks = group_stacks(jobs, keys, k)
    stacks = sum(len(t) > 1 for t in tasks)
    stacked = f", {stacks} stacks of up to {k}" if stacks else ""
    say(f"ablation {folder.path}: {len(arms)} arms x {plan.seeds} seeds, {total - len(jobs)} done, {len(jobs)} to run{stacked}")
    _warm_evaluator(datasets.values())
    threads = max(1, available_cores() // workers)
    done = total - len(jobs)

    def report_one(row: dict[str, Any]) -> None:
        nonlocal done
        done += 1
        shown = ", ".join(f"{k} {v:.4g}" for k, v in list(row["metrics"].items())[:3])
        state = "healthy" if row["healthy"] else "unhealthy: " + ", ".join(row["failures"])
        error = f" ({row['error']})" if row["error"] else ""
        say(f"[{done}/{total}] {row['arm']} seed {row['seed']}: {shown or 'no metrics'}; {state}{error} ({row['wall_s']:.0f} s)")
        folder.keep_record(row)
        folder.write_results(plan)

    plan_dict = asdict(plan)

    def call(group: list[tuple[Arm, int]], where: Callable[[Path], Path] = lambda p: p) -> tuple[Callable[..., Any], tuple]:
        """One task, a single run or a stack, as (function, arguments); ``where`` places its paths."""
        tb = [str(where(folder.tb_dir(a, s))) for a, s in group] if tensorboard else None
        if len(group) == 1:
            ((arm, seed),) = group
            return run_one, (plan_dict, asdict(arm), seed, str(where(folder.run_dir(arm, seed))), runtime, tb[0] if tb else None)
        return run_stack, (plan_dict, [(asdict(a), s, str(where(folder.run_dir(a, s)))) for a, s in group], runtime, tb)

    def task(pool: Any, group: list[tuple[Arm, int]]) -> Any:
        """Run (or, with a pool, submit) one task."""
        fn, args = call(group)
        return pool.submit(fn, *args) if pool else fn(*args)

    stopped_runs = 0

    def report(result: dict[str, Any] | list[dict[str, Any]]) -> None:
        nonlocal stopped_runs
        for row in result if isinstance(result, list) else [result]:
            if "stopped" in row:
                stopped_runs += row["stopped"] is not None  # None: it never started
            else:
                report_one(row)

    lost: list[str] = []
    if executor == "ray" and tasks:
        from ganhacks.bench.ray_executor import RETRIES, run_on_ray

        first = plan.config(arms[0], 0).train
        ray_threads = first.threads or 1
        gpus = 1.0 if (device or first.device).startswith("cuda") else 0.0
        # Absolute paths: a Ray worker's working folder is not this process's.
        calls = [call(group, where=lambda p: p.resolve()) for group in tasks]
        cancelled, lost = run_on_ray(
            calls, report, lambda: stop.requested() is not None, address=ray_address, threads=ray_threads, gpus=gpus
        )
        if cancelled:  # which of the cancelled tasks had started shows on disk: a checkpoint and no result
            stopped_runs += sum(
                1
                for a, s in jobs
                if not (folder.run_dir(a, s) / "result.json").is_file() and any(folder.run_dir(a, s).glob("checkpoints/*.json"))
            )
    elif workers == 1 or len(tasks) <= 1:
        _init_worker(threads)
        for group in tasks:
            if stop.requested() is not None:
                break
            report(task(None, group))
    elif tasks:
        # spawn, not fork: a forked child would inherit the parent's torch thread pools and locks.
        ctx = get_context("spawn")
        shared = ctx.RawValue("i", 0)  # stop requests, from this process's signal handler to the workers
        stop.share(shared)
        try:
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(threads, shared)) as pool:
                futures = [task(pool, group) for group in tasks]
                for future in as_completed(futures):
                    if stop.requested() is not None:  # runs not started yet stay unstarted
                        for f in futures:
                            f.cancel()
                    if not future.cancelled():
                        report(future.result())
        finally:
            stop.share(None)
    if (signum := stop.requested()) is not None:
        folder.summarize(plan)  # results.json / stats.json hold every finished run
        raise stop.Stopped(
            signum,
            f"Ablation stopped by {stop.name(signum)}: {done} of {total} runs are finished, and {stopped_runs} in flight "
            f"kept their checkpoints. Continue with the same command: {plan.command or 'the same ablate() call'}",
        )
    summary = folder.summarize(plan)
    from ganhacks.bench.report import write_ablation_report

    write_ablation_report(folder, plan, summary)
    if lost:
        raise GanhacksError(
            f"{len(lost)} task(s) got no result because Ray lost their workers {1 + RETRIES} times (first: {lost[0]}); "
            f"the report covers the rest, and the same command continues them: {plan.command or 'the same ablate() call'}"
        )
    return summary


def group_stacks(jobs: list[tuple[Arm, int]], keys: dict[str, str | None], k: int) -> list[list[tuple[Arm, int]]]:
    """The jobs (in their seed-by-seed order) as tasks: stacks of up to ``k`` runs with equal stack keys,
    each filled in order, and single runs for configs that cannot be stacked."""
    if k <= 1:
        return [[job] for job in jobs]
    tasks: list[list[tuple[Arm, int]]] = []
    open_stacks: dict[str, list[tuple[Arm, int]]] = {}
    for job in jobs:
        key = keys[job[0].name]
        if key is None:
            tasks.append([job])
            continue
        group = open_stacks.get(key)
        if group is None:
            group = open_stacks[key] = []
            tasks.append(group)
        group.append(job)
        if len(group) == k:
            del open_stacks[key]
    return tasks


def _warm_evaluator(datasets: Iterable[Any]) -> None:
    """Train (or load) the offline classifier once, before the workers would each do it at once."""
    from ganhacks.metrics.evaluate import Evaluator

    for data in datasets:
        if data.kind == "image" and data.y is not None:
            Evaluator(data).classifier()


def verdict_text(effect: dict[str, Any], summary: dict[str, Any], key: str = "verdict") -> str:
    """An effect's headline verdict (``key``: ``verdict`` raw, ``verdict_adjusted`` after the FDR
    adjustment) as the tables print it: with the seeds a pending one has, and the metric that decided
    where the primary one is undefined in some runs."""
    primary = summary["primary"]
    # A stats.json written before the adjustment existed has no adjusted verdict.
    text = effect.get(key, "n/a")
    if text == "pending":
        text += f" ({effect['seeds_done']} of {summary['seeds']} seeds)"
    if effect.get("headline", primary) != primary:
        text += f" (on {effect['headline']}: {primary} is undefined in some runs)"
    return text


def fmt_p(p: float | None) -> str:
    """A p or q value as the tables print it."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return f"{p:.2g}" if p >= 0.001 else "<0.001"


def verdict_table(summary: dict[str, Any]) -> str:
    """The per-trick verdicts as plain text (what `ganhacks ablate` prints)."""
    primary = summary["primary"]
    lines = [
        f"{'trick':<40} {'role':<5} {'d ' + str(primary):>12} {'95% CI':>24} {'p':>7} {'q':>7} {'fail':>9}  verdict; adjusted"
    ]
    for e in summary["effects"]:
        m = e["metrics"].get(primary, {})
        lo, hi = m.get("ci", [math.nan, math.nan])
        fail = f"{e['failure_rate_with']:.0%}/{e['failure_rate_without']:.0%}"
        verdict = verdict_text(e, summary)
        adjusted = e.get("verdict_adjusted", "n/a")
        lines.append(
            f"{e['trick'][:40]:<40} {e['role']:<5} {m.get('diff', math.nan):>12.4g} {f'[{lo:.4g}, {hi:.4g}]':>24} "
            f"{fmt_p(e.get('p')):>7} {fmt_p(e.get('q')):>7} {fail:>9}  {verdict}; {adjusted}"
        )
    return "\n".join(lines)


def main_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
