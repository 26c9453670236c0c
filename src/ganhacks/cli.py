"""The ``ganhacks`` command line: ``train``, ``sample``, ``eval``, ``doctor``, ``tricks``, ``ablate`` and ``report``.

Errors caused by the user's input print one sentence (``error: ...``) and exit with code 2;
``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ganhacks.errors import GanhacksError

EXIT_USAGE = 2


def _train(args: argparse.Namespace) -> int:
    from ganhacks.training import distributed

    if not distributed.launched():
        return _train_here(args)
    # Under torchrun: this process is one rank of the run.
    if args.seeds is not None:
        raise GanhacksError("--seeds cannot be used under torchrun; train each seed as its own torchrun job.")
    done = False
    try:
        code = _train_here(args)
        done = True
        return code
    finally:
        distributed.close(synchronise=done)


def _train_here(args: argparse.Namespace) -> int:
    from ganhacks.api import new_run, prepare
    from ganhacks.config import build_config, dump_yaml, nest
    from ganhacks.training import RunDir, Trainer, distributed

    if args.resume:
        return _resume(args)
    if args.allow_config_change:
        raise GanhacksError("--allow-config-change only applies with --resume RUN.")
    if args.seeds is not None and args.seed is not None:
        raise GanhacksError("--seed and --seeds both choose the seed; give one of them.")
    shorthands = {
        "data.name": args.data, "train.steps": args.steps, "train.batch_size": args.batch_size, "train.seed": args.seed,
        "train.device": args.device, "logging.tensorboard": args.tensorboard or None,
    }  # fmt: skip
    cfg = build_config(
        preset=args.preset,
        file=args.config,
        values=nest({k: v for k, v in shorthands.items() if v is not None}),
        overrides=args.set,
    )
    if args.seeds is not None:
        return _train_seeds(args, cfg)
    cfg, data = prepare(cfg)
    if args.dry_run:
        print(dump_yaml(cfg), end="")
        return 0
    world = distributed.init(cfg.train.device) if distributed.launched() else None
    main = world is None or world.main
    trainer = Trainer(cfg, data, quiet=args.quiet or not main)
    if main:
        run = new_run(args.out or "runs", cfg)
    if world is not None:  # rank 0 made the folder; the others need its path (rollbacks read its checkpoints)
        path = world.broadcast(str(run.path) if main else None)
        run = run if main else RunDir(path)
    trainer.run = run
    if not main:
        trainer.fit()
        return 0
    if not args.quiet:
        print(
            f"training {cfg.data.name} ({len(data)} samples, shape {list(data.x.shape[1:])}) "
            f"for {cfg.train.steps} steps on {trainer.device} -> {run.path}",
            file=sys.stderr,
        )
    trainer.fit()
    if not args.quiet:
        last = run.sample_path(trainer.step)
        print(f"samples: {last}\nmetrics: {run.metrics}\ncheckpoints: {run.checkpoints}", file=sys.stderr)
    print(run.path)
    return 0


def _train_seeds(args: argparse.Namespace, cfg) -> int:
    """``train --seeds``: the seeds as one stack; one run folder per line, the last lines printed."""
    from ganhacks.api import parse_seeds, prepare, train_stacked
    from ganhacks.config import dump_yaml

    seeds = parse_seeds(args.seeds)
    if args.dry_run:
        print(dump_yaml(prepare(cfg)[0]), end="")
        return 0
    if not args.quiet:
        print(f"training seeds {seeds[0]}..{seeds[-1]} of {cfg.data.name} as one stack of {len(seeds)} runs", file=sys.stderr)
    runs = train_stacked(cfg, seeds=seeds, out=args.out or "runs", quiet=args.quiet)
    for run in runs:
        print(run.path)
    return 0


def _resume(args: argparse.Namespace) -> int:
    from ganhacks.config import dump_yaml
    from ganhacks.training.resume import resume_run

    given = [f"--{name}" for name in ("out", "preset", "config") if getattr(args, name) is not None]
    if given:
        raise GanhacksError(
            f"{', '.join(given)} cannot be used with --resume (the run keeps its folder and config); "
            "change single keys with --set and --allow-config-change."
        )
    if args.seeds is not None:
        raise GanhacksError("--seeds cannot be used with --resume; resume each run folder of a stack on its own.")
    shorthands = {
        "data.name": args.data, "train.batch_size": args.batch_size, "train.seed": args.seed, "train.device": args.device,
        "logging.tensorboard": "true" if args.tensorboard else None,
    }  # fmt: skip
    overrides = [f"{k}={v}" for k, v in shorthands.items() if v is not None] + list(args.set or [])
    from ganhacks.training import distributed

    if distributed.launched() and not args.dry_run:
        return _resume_ranks(args, overrides)
    trainer = resume_run(args.resume, args.steps, overrides, args.allow_config_change, quiet=args.quiet, check_only=args.dry_run)
    if args.dry_run:  # every check ran; the folder is untouched
        print(dump_yaml(trainer.cfg), end="")
        return 0
    if not args.quiet:
        print(f"resuming {trainer.run.path} at step {trainer.step} of {trainer.cfg.train.steps}", file=sys.stderr)
    trainer.fit()
    print(trainer.run.path)
    return 0


def _resume_ranks(args: argparse.Namespace, overrides: list[str]) -> int:
    """``--resume`` under torchrun: rank 0 brings the folder back to its newest checkpoint, then every
    other rank loads that same checkpoint without touching the folder."""
    from ganhacks.config import load_yaml
    from ganhacks.training import distributed
    from ganhacks.training.resume import resume_run

    config = Path(args.resume) / "config.yaml"
    saved = load_yaml(config) if config.is_file() else {}
    world = distributed.init(args.device or str((saved.get("train") or {}).get("device", "auto")))
    trainer, refused = None, None
    if world.main:
        try:
            trainer = resume_run(args.resume, args.steps, overrides, args.allow_config_change, quiet=args.quiet)
        except GanhacksError as e:
            refused = e
    world.barrier()  # rank 0 has cut the folder back, or refused: then every rank stops here
    if not world.broadcast(refused is None):
        if refused is not None:
            raise refused
        return EXIT_USAGE
    if not world.main:
        trainer = resume_run(args.resume, args.steps, overrides, args.allow_config_change, quiet=True, check_only=True)
    if world.main and not args.quiet:
        print(
            f"resuming {trainer.run.path} at step {trainer.step} of {trainer.cfg.train.steps} on {world.size} processes",
            file=sys.stderr,
        )
    trainer.fit()
    if world.main:
        print(trainer.run.path)
    return 0


EXIT_UNHEALTHY = 3


def _doctor(args: argparse.Namespace) -> int:
    import json

    from ganhacks.api import diagnose

    result = diagnose(args.run)
    if args.json:
        print(json.dumps(result, indent=2))
    elif result["healthy"]:
        print(f"healthy: no failure in {result['rows']} rows (up to step {result['step']}).")
    else:
        print(f"unhealthy: {', '.join(result['failures'])} ({result['rows']} rows, up to step {result['step']})")
        if not result.get("ongoing"):
            print("  every one of them ended before the last row: the run recovered.")
        for event in result["events"]:
            print(f"- {event['message'].removeprefix('doctor: ')}")
    if not args.json:
        for action in result["actions"]:
            print(f"- {action.get('message', action)}".replace("- doctor: ", "- "))
    return 0 if result["healthy"] else EXIT_UNHEALTHY


def _sample(args: argparse.Namespace) -> int:
    from ganhacks.api import load_run

    run = load_run(args.run, step=args.step)
    if args.interpolate:
        path = run.save_interpolation(args.out, frames=args.frames, kind=args.interpolate, seed=args.seed, label=args.label)
    else:
        path = run.save_samples(args.out, n=args.n, seed=args.seed, label=args.label)
    print(path)
    return 0


def _tricks(args: argparse.Namespace) -> int:
    import json

    from ganhacks.tricks import catalogue

    rows = catalogue()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'#':>3}  {'key':<24} {'default':<14} description")
    for r in rows:
        number = "" if r["number"] is None else r["number"]
        print(f"{number!s:>3}  {r['key']:<24} {str(r['default']):<14} {r['description']}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    import json

    from ganhacks.api import load_run

    if args.n is not None and args.n < 2:
        raise GanhacksError(f"--n must be at least 2 samples, got {args.n}.")
    run = load_run(args.run, step=args.step)
    result = run.evaluate(n=args.n, inception_weights=args.inception_weights, quiet=False)
    print(json.dumps(result, indent=2))
    return 0


def _ablate(args: argparse.Namespace) -> int:
    import shlex

    from ganhacks.bench.ablate import Plan, ablate, machine_description, main_progress, verdict_table

    command = " ".join(shlex.quote(a) for a in ["ganhacks", *sys.argv[1:]]) if args.command_line is None else args.command_line
    plan_flags = {"--data": args.data, "--tricks": args.tricks, "--steps": args.steps, "--base": args.base,
                  "--mode": args.mode, "--set": args.set, "--eval-at": args.eval_at}  # fmt: skip
    if args.from_plan is not None:
        given = [flag for flag, value in plan_flags.items() if value is not None]
        if given:
            raise GanhacksError(
                f"--from takes the whole plan from '{args.from_plan}', so {given[0]} does not apply; leave it out."
            )
        plan = Plan.repeat(args.from_plan, seeds=args.seeds, command=command, machine=machine_description())
    else:
        missing = [flag for flag in ("--data", "--tricks", "--seeds", "--steps") if getattr(args, flag[2:]) is None]
        if missing:
            raise GanhacksError(f"ablate needs {', '.join(missing)} (or --from an ablation folder to train its plan again).")
        plan = Plan(
            data=args.data,
            tricks=[t.strip() for t in args.tricks.split(",") if t.strip()],
            seeds=args.seeds,
            steps=args.steps,
            base=args.base or "baseline",
            mode=args.mode or "add-one",
            set=list(args.set or []),
            eval_at=_eval_at(args.eval_at),
            command=command,
            machine=machine_description(),
        )
    stack = args.stack if args.stack in ("auto", "off") else _stack_count(args.stack)
    summary = ablate(
        args.out, plan, workers=args.workers, progress=None if args.quiet else main_progress, stack=stack, device=args.device,
        cuda_graph=args.cuda_graph, tensorboard=args.tensorboard, executor=args.executor, ray_address=args.ray_address,
        first=[t.strip() for t in (args.first or "").split(",") if t.strip()],
    )  # fmt: skip
    if not args.quiet:
        for budget in summary.get("budgets", [])[:-1]:  # the final budget's table comes last, as without --eval-at
            print(f"at {budget['steps']} steps:", file=sys.stderr)
            print(verdict_table({**summary, **budget}), file=sys.stderr)
        if summary.get("budgets"):
            print(f"at {plan.steps} steps:", file=sys.stderr)
        print(verdict_table(summary), file=sys.stderr)
    print(f"{args.out}/report.html")
    return 0


def _eval_at(text: str | None) -> list[int]:
    """--eval-at '2000,20000' as a sorted list of distinct steps; one sentence if it is not that."""
    if not text:
        return []
    try:
        steps = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise GanhacksError(f"--eval-at must be steps separated by commas, like 2000,10000; got '{text}'.") from None
    return steps


def _stack_count(text: str) -> int:
    try:
        k = int(text)
    except ValueError:
        k = 0
    if k < 1:
        raise GanhacksError(f"--stack must be auto, off or a positive number of runs, got {text!r}.")
    return k


def _report(args: argparse.Namespace) -> int:
    from ganhacks.bench.report import write_report

    if args.rediagnose and not (Path(args.path) / "ablation.json").is_file():
        raise GanhacksError(f"--rediagnose applies to an ablation folder, and '{args.path}' holds no ablation.json.")
    print(write_report(args.path, rediagnose=args.rediagnose, say=lambda line: print(line, file=sys.stderr)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ganhacks import __version__
    from ganhacks.config import PRESETS
    from ganhacks.data import DATA_NAMES

    p = argparse.ArgumentParser(prog="ganhacks", description="Train GANs that don't fall over.")
    p.add_argument("--version", action="version", version=f"ganhacks {__version__}")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    # --debug is also accepted after the command; SUPPRESS keeps a top-level --debug from being reset.
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    t = sub.add_parser("train", parents=[after], help="train a GAN; prints the run directory last")
    t.add_argument("--data", metavar="NAME", help="data set: " + ", ".join(DATA_NAMES))
    t.add_argument("--preset", metavar="NAME", help="named config preset: " + ", ".join(PRESETS) + " (default baseline)")
    t.add_argument("--config", metavar="FILE.yaml", help="YAML config file (applied after the preset)")
    t.add_argument("--steps", type=int, metavar="N", help="shorthand for --set train.steps=N")
    t.add_argument("--batch-size", type=int, metavar="B", help="shorthand for --set train.batch_size=B")
    t.add_argument("--seed", type=int, metavar="S", help="shorthand for --set train.seed=S")
    t.add_argument(
        "--seeds", metavar="N|A-B", help="train seeds 0..N-1 (or A..B) as one stack of runs; prints one run folder per line"
    )
    t.add_argument("--device", metavar="DEV", help="shorthand for --set train.device=DEV (cpu, cuda, cuda:N)")
    t.add_argument("--out", metavar="DIR", help="parent folder of the run folders (default runs/)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key, e.g. optim.d.lr=1e-4 (repeatable)")
    t.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard event files to RUN/tb (logging.tensorboard=true; ganhacks[tb])",
    )
    t.add_argument("--quiet", action="store_true", help="no progress bar or messages; print only the run directory")
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and exit without training")
    t.add_argument(
        "--resume",
        metavar="RUN",
        help="continue RUN from its newest checkpoint, up to --steps in total (default: its configured total)",
    )
    t.add_argument("--allow-config-change", action="store_true", help="with --resume: accept --set changes to the run's config")
    t.set_defaults(func=_train)

    s = sub.add_parser("sample", parents=[after], help="write a sample grid (or a 2D scatter) from a trained run")
    s.add_argument("run", metavar="RUN", help="run directory")
    s.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--out", required=True, metavar="FILE", help="output .png (or .gif with --interpolate)")
    s.add_argument("--seed", type=int, default=0, help="latent seed (default 0)")
    s.add_argument("--step", type=int, help="checkpoint step (default: the newest)")
    s.add_argument("--interpolate", choices=["slerp", "lerp"], help="write an animated GIF interpolating between random latents")
    s.add_argument("--frames", type=int, default=32, help="frames between two latents with --interpolate (default 32)")
    s.add_argument("--label", type=int, help="class to draw, for a class-conditional run (tricks.conditional / acgan)")
    s.set_defaults(func=_sample)

    d = sub.add_parser(
        "doctor", parents=[after], help="diagnose a finished or running run: exit 0 when healthy, 3 when it failed"
    )
    d.add_argument("run", metavar="RUN", help="run directory")
    d.add_argument("--json", action="store_true", help="print the verdict as JSON (the keys of verdict.json)")
    d.set_defaults(func=_doctor)

    k = sub.add_parser("tricks", parents=[after], help="list every trick: seed number, config key, default, description")
    k.add_argument("--json", action="store_true", help="print a JSON list of objects instead of a table")
    k.set_defaults(func=_tricks)

    e = sub.add_parser(
        "eval", parents=[after], help="compute every metric that applies to a run; writes RUN/eval.json and prints it"
    )
    e.add_argument("run", metavar="RUN", help="run directory")
    e.add_argument("--n", type=int, help="generated samples (default: 2,500 for 2D data, 5,000 for images)")
    e.add_argument("--step", type=int, help="checkpoint step (default: the newest)")
    e.add_argument("--inception-weights", metavar="PATH", help="local FID Inception weights (or $GANHACKS_INCEPTION_WEIGHTS)")
    e.set_defaults(func=_eval)

    a = sub.add_parser(
        "ablate", parents=[after], help="run tricks x seeds ablations; writes results, statistics and report.html (resumable)"
    )
    a.add_argument("--data", metavar="NAME", help="data set: " + ", ".join(DATA_NAMES))
    a.add_argument(
        "--tricks",
        metavar="KEY[,KEY...]",
        help="tricks to test: switches (replay, tricks.pack), key=value settings joined by '+' "
        "(tricks.label_smoothing.mode=two_sided_random, optim.d.name=sgd+optim.d.lr=0.01), or preset:NAME",
    )
    a.add_argument("--seeds", type=int, metavar="K", help="training seeds 0..K-1 per arm")
    a.add_argument("--steps", type=int, metavar="N", help="training steps per run")
    a.add_argument(
        "--eval-at",
        metavar="N[,N...]",
        help="also evaluate every run at these steps (up to --steps), each budget with its own verdicts, "
        "so the report shows how each effect moves with training",
    )
    a.add_argument("--base", metavar="PRESET", help="the preset every arm starts from (default baseline)")
    a.add_argument(
        "--mode",
        choices=["add-one", "leave-one-out", "both"],
        help="add each trick to the base, remove each from the full set, or both (default add-one)",
    )
    a.add_argument(
        "--workers", type=int, default=1, metavar="W", help="parallel runs, each with its share of the CPU threads (default 1)"
    )
    a.add_argument(
        "--stack",
        default="auto",
        metavar="auto|off|K",
        help="train compatible arm x seed runs as stacks of up to K runs; auto picks K from the device and the model "
        "(1 on the CPU, where stacking does not pay); off trains every run alone (default auto)",
    )
    a.add_argument(
        "--executor",
        choices=["pool", "ray"],
        default="pool",
        help="pool: --workers local processes (default); ray: every run (or stack) a Ray task, on the cluster at "
        "--ray-address or a local Ray (ganhacks[ray])",
    )
    a.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="with --executor ray: the Ray cluster to join (default: $RAY_ADDRESS, else a local Ray)",
    )
    a.add_argument("--device", metavar="DEV", help="train every run on DEV (cpu, cuda, cuda:N); default: each run's train.device")
    a.add_argument(
        "--cuda-graph",
        metavar="MODE",
        choices=["true", "false", "auto"],
        help="train every run with train.cuda_graph=MODE (true, false, auto); how this call runs, not part of the experiment",
    )
    a.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key in every arm (repeatable)")
    a.add_argument("--out", required=True, metavar="DIR", help="the ablation folder; calling again with it resumes")
    a.add_argument(
        "--from",
        dest="from_plan",
        metavar="ABLATION",
        help="train the plan pinned in this ablation folder (or ablation.json) again into --out, every arm with the "
        "settings pinned there, also where a preset means other ones now; only --seeds may extend it",
    )
    a.add_argument(
        "--first", metavar="TRICK[,TRICK]", help="train these arms' missing runs before the others' (only the order changes)"
    )
    a.add_argument(
        "--tensorboard", action="store_true", help="write each run's TensorBoard event files to DIR/tb/ARM/seed_N (ganhacks[tb])"
    )
    a.add_argument("--quiet", action="store_true", help="no progress lines; print only the report's path")
    a.add_argument("--command-line", help=argparse.SUPPRESS)  # what the report quotes, for scripts that call ablate
    a.set_defaults(func=_ablate)

    r = sub.add_parser("report", parents=[after], help="regenerate report.html (and report.md) of a run or an ablation folder")
    r.add_argument("path", metavar="RUN_OR_ABLATION_DIR", help="a run folder or an ablation folder")
    r.add_argument(
        "--rediagnose",
        action="store_true",
        help="an ablation: judge every run again with this version's doctor (from its metrics.jsonl) before the report",
    )
    r.set_defaults(func=_report)
    return p


class _LowerLevelFormatter(logging.Formatter):
    """'warning: ...' rather than 'WARNING: ...', like the 'error: ...' lines."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace(record.levelname, record.levelname.lower(), 1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LowerLevelFormatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("ganhacks")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    from ganhacks.training import stop

    # Training commands stop on Ctrl-C / SIGTERM at a step boundary, with a checkpoint; the others
    # have nothing to save and keep Python's default (KeyboardInterrupt, below).
    guard = stop.on_signals() if args.command in ("train", "ablate") else contextlib.nullcontext()
    try:
        with guard:
            return args.func(args)
    except stop.Stopped as e:
        print(str(e), file=sys.stderr)
        return e.exit_code
    except GanhacksError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        if args.command == "train" and stop.active_run is not None:  # a second Ctrl-C, during the stop's save
            print(
                f"interrupted; the newest complete checkpoint is intact: continue with ganhacks train --resume {stop.active_run}",
                file=sys.stderr,
            )
        elif args.command == "ablate":
            print("interrupted; every finished run is kept: continue with the same ganhacks ablate command", file=sys.stderr)
        else:
            print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ganhacks tricks --json | head`: the reader left; not an error of ours
        sys.stderr.close()
        return 0
    except OSError as e:  # after BrokenPipeError, which is one
        from ganhacks.errors import free_space, is_disk_full, one_line

        if not is_disk_full(e) or args.debug:
            raise
        where = e.filename or "."
        print(
            one_line(
                f"error: The disk holding '{where}' is full ({free_space(where)} free); what was there before is intact "
                "(every file is written whole or not at all): free space, or lower checkpoint.keep, then run the same command again."
            ),
            file=sys.stderr,
        )
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
