"""Stacked runs: K runs trained as one model match the same runs trained alone, whichever runs share
the stack; each writes an ordinary run folder; the doctor and the guard act on one run only."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
import yaml

from ganhacks.api import parse_seeds, prepare
from ganhacks.config import build_config
from ganhacks.errors import GanhacksError
from ganhacks.monitor.stats import collecting
from ganhacks.training import RunDir, Trainer, load_checkpoint
from ganhacks.training.optim import RunSlice, make_optimizer
from ganhacks.training.stack import NotStackable, stack_networks
from ganhacks.training.stacked import StackTrainer, build_stack, stack_key

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("loss_d", "loss_g", "d_real", "d_fake")
# A value-only trick on (label smoothing + instance noise), 100 steps, rows of 10 steps each.
CASES = {
    "grid25": ["data.name=grid25", "train.steps=100", "tricks.label_smoothing=on", "tricks.instance_noise=on"],
    "digits": ["data.name=digits", "train.steps=100", "tricks.label_smoothing=on", "tricks.instance_noise=on"],
}


def _configs(case, seeds, extra=()):
    cfgs, data = [], None
    for s in seeds:
        cfg, data = prepare(build_config(overrides=[*CASES[case], *extra, f"train.seed={s}"]), data)
        cfgs.append(cfg)
    return cfgs, data


def _single(cfg, data, path):
    t = Trainer(cfg, data)
    t.run = RunDir(path)
    t.run.path.mkdir(parents=True)
    t.fit()
    return t.run.read_metrics()


def _stack(cfgs, data, root, batched=None):
    trainers = build_stack(cfgs, data)
    for t in trainers:
        t.run = RunDir(root / f"seed{t.cfg.train.seed}")
        t.run.path.mkdir(parents=True)
    StackTrainer(trainers, batched=batched).fit()
    return [t.run.read_metrics() for t in trainers]


def _worst(a, b):
    """The largest relative difference of the logged losses and D outputs between two runs' rows."""
    assert [r["step"] for r in a] == [r["step"] for r in b]
    return max(abs(x[k] - y[k]) / max(abs(x[k]), 1e-12) for x, y in zip(a, b, strict=True) for k in KEYS)


@pytest.fixture(scope="module")
def grid_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    cfgs, data = _configs("grid25", range(4))
    singles = [_single(c, data, root / f"single{c.train.seed}") for c in cfgs]
    return cfgs, data, root, singles, _stack(cfgs, data, root / "stack")


@pytest.mark.parametrize("case", ["grid25", "digits"])
def test_each_run_of_a_stack_of_four_matches_its_single_run(case, grid_runs, tmp_path):
    if case == "grid25":
        cfgs, _, root, singles, stacked = grid_runs
    else:
        cfgs, data = _configs(case, range(4))
        singles = [_single(c, data, tmp_path / f"single{c.train.seed}") for c in cfgs]
        stacked = _stack(cfgs, data, tmp_path / "stack")
        root = tmp_path
    for a, b in zip(singles, stacked, strict=True):
        assert len(a) == 10 and _worst(a, b) < 1e-3
    # On the CPU each run keeps its own networks in a stack: its weights are its single run's, to the bit.
    for s in range(4):
        alone, stacked_state = (load_checkpoint(root / d / "checkpoints") for d in (f"single{s}", f"stack/seed{s}"))
        assert all(torch.equal(alone[net][k], stacked_state[net][k]) for net in ("G", "D") for k in alone[net])
    # ... and every run folder has the whole contract
    for s in range(4):
        run = root / "stack" / f"seed{s}"
        for name in ("config.yaml", "run.json", "metrics.jsonl", "verdict.json"):
            assert (run / name).is_file()
        assert list((run / "samples").glob("*.png")) and list((run / "checkpoints").glob("*.json"))
        info = json.loads((run / "run.json").read_text())
        assert info["stack"] == {"runs": 4, "layout": "per run"} and info["precision"]["autocast"] == "fp32"


def test_which_runs_share_a_stack_changes_no_run(grid_runs, tmp_path):
    _, _, _, singles, stacked = grid_runs
    cfgs, data = _configs("grid25", [5, 3])
    other = _stack(cfgs, data, tmp_path)  # seed 3 now shares its stack with seed 5 only, and comes second
    assert _worst(stacked[3], other[1]) < 1e-3 and _worst(singles[3], other[1]) < 1e-3
    ours, theirs = load_checkpoint(tmp_path / "seed3" / "checkpoints"), load_checkpoint(grid_runs[2] / "stack/seed3/checkpoints")
    assert all(torch.equal(ours["G"][k], theirs["G"][k]) for k in ours["G"])


def test_a_stacked_run_checkpoints_as_a_single_run_and_resumes_alone(grid_runs, cli):
    cfgs, _, root, _, _ = grid_runs
    run = root / "stack" / "seed1"
    state = load_checkpoint(run / "checkpoints")
    t = Trainer(cfgs[1], prepare(cfgs[1])[1])
    single = t.state_dict()
    assert set(state["G"]) == set(single["G"]) and set(state["opt_d"]) == {"state", "param_groups"}
    assert state["opt_d"]["state"][0]["step"].shape == () and int(state["opt_d"]["state"][0]["step"]) == 100
    assert state["opt_d"]["param_groups"][0]["lr"] == cfgs[1].optim.d.lr
    t.load_state_dict(state)  # a single run's Trainer takes it as it is
    code, out, _ = cli("train", "--resume", str(run), "--steps", "120", "--quiet")
    assert code == 0 and out.strip() == str(run)
    assert RunDir(run).read_metrics()[-1]["step"] == 120


@pytest.mark.parametrize("case", ["grid25", "digits"])
def test_batched_kernels_match_too_within_float_noise(case, tmp_path):
    """The batched layout (one bmm or grouped convolution per layer: the GPU's) reorders float sums, so
    its runs drift from their single runs by rounding only."""
    cfgs, data = _configs(case, range(2), ["train.steps=30", "tricks.g_noise=on"])  # and G's hooked activations
    exact = _stack(cfgs, data, tmp_path / "exact", batched=False)
    batched = _stack(cfgs, data, tmp_path / "batched", batched=True)
    assert max(_worst(a, b) for a, b in zip(exact, batched, strict=True)) < 1e-3


def _poison_g():
    import sys

    if "doctor_eval" not in sys.modules:  # benchmarks/doctor_eval.py: its fault-injection tricks
        spec = importlib.util.spec_from_file_location("doctor_eval", ROOT / "benchmarks" / "doctor_eval.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["doctor_eval"] = module
        spec.loader.exec_module(module)
    return sys.modules["doctor_eval"].PoisonG


@pytest.mark.parametrize("batched", [False, True])
def test_the_doctor_stops_one_run_and_the_others_go_on(batched, tmp_path):
    cfgs, data = _configs("digits", range(3), ["doctor.action=stop", "train.steps=60"])
    trainers = build_stack(cfgs, data)
    trainers[1].tricks.tricks.append(_poison_g()(20))  # NaN in run 1's G at the end of step 20
    for t in trainers:
        t.run = RunDir(tmp_path / f"seed{t.cfg.train.seed}")
        t.run.path.mkdir()
    StackTrainer(trainers, batched=batched).fit()
    verdicts = [json.loads(t.run.verdict.read_text()) for t in trainers]
    assert verdicts[1]["failures"] == ["non_finite"] and verdicts[1]["actions"][0]["event"] == "stop"
    assert trainers[1].step == 30 and trainers[0].step == trainers[2].step == 60
    assert verdicts[0]["healthy"] and verdicts[2]["healthy"]
    # The guard masked the poisoned run's updates on the device: the others never saw a NaN...
    assert all(torch.isfinite(p).all() for t in (trainers[0], trainers[2]) for p in t.G.parameters())
    # ... and run 0 is the run it would have been alone.
    alone = _single(cfgs[0], data, tmp_path / "alone")
    assert _worst(alone, trainers[0].run.read_metrics()) < 1e-3


def test_stack_keys_group_value_settings_and_split_shapes():
    def key(*overrides):
        return stack_key(prepare(build_config(overrides=["data.name=ring8", *overrides]))[0])

    base = key()
    assert key("train.seed=3") == key("optim.d.lr=1e-3") == key("tricks.label_smoothing=on") == base
    assert key("tricks.instance_noise.sigma=0.3", "loss=minimax", "latent=uniform", "doctor.action=stop") == base
    assert key("tricks.pack=on") != base and key("train.d_steps=2") != base and key("model.g_act=leaky_relu") != base
    assert key("tricks.loss_threshold=on") is None and key("tricks.swap=on") is None


def test_a_network_that_cannot_be_stacked_is_refused_before_it_changes():
    cfgs, data = _configs("digits", range(2), ["tricks.minibatch_stddev=on"])
    trainers = [Trainer(c, data) for c in cfgs]
    before = [p for p in trainers[0].D.parameters()]
    with pytest.raises(NotStackable, match="minibatch_stddev|MinibatchStdDev"):
        StackTrainer(trainers)
    with pytest.raises(NotStackable, match="MinibatchStdDev"):
        stack_networks([t.G for t in trainers], [t.D for t in trainers], batched=True)
    assert [p for p in trainers[0].D.parameters()] == before  # untouched: same parameter objects


def test_train_seeds_cli(cli, tmp_path):
    code, out, err = cli("train", "--data", "ring8", "--steps", "20", "--seeds", "1-2", "--out", str(tmp_path), "--quiet")
    paths = out.split()
    assert code == 0 and len(paths) == 2 and all(Path(p).is_dir() for p in paths)
    assert [json.loads((Path(p) / "verdict.json").read_text())["step"] for p in paths] == [20, 20]
    assert yaml.safe_load((Path(paths[1]) / "config.yaml").read_text())["train"]["seed"] == 2
    code, out, err = cli("train", "--data", "digits", "--steps", "5", "--seeds", "2", "--out", str(tmp_path), "--set",
                         "tricks.minibatch_stddev=on", "--quiet")  # fmt: skip
    assert code == 0 and len(out.split()) == 2 and "cannot be stacked" in err
    code, _, err = cli("train", "--data", "ring8", "--seeds", "x")
    assert code == 2 and "--seeds must be a count" in err
    code, _, err = cli("train", "--data", "ring8", "--seeds", "2", "--seed", "1")
    assert code == 2 and "--seed and --seeds" in err


def test_train_stacked_api(tmp_path):
    import ganhacks

    runs = ganhacks.train_stacked(data__name="ring8", train__steps=10, seeds=[3, 4], out=tmp_path)
    assert [r.config.train.seed for r in runs] == [3, 4] and all(r.step == 10 for r in runs)
    assert runs[1].sample(5).shape == (5, 2)


def test_parse_seeds():
    assert parse_seeds("3") == [0, 1, 2] and parse_seeds("4-6") == [4, 5, 6]
    for bad in ("0", "5-2", "a", "-1"):
        with pytest.raises(GanhacksError):
            parse_seeds(bad)


def test_run_adam_matches_torch_adam_and_masks_one_run():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(3, 50))
    ref = torch.nn.Parameter(p.detach()[0].clone())
    opt = make_optimizer([p], build_config(overrides=["optim.g.lr=1e-2", "optim.g.betas=[0.8,0.999]"]).optim.g, 3, [1e-2] * 3)
    torch_opt = torch.optim.Adam([ref], lr=1e-2, betas=(0.8, 0.999))
    frozen = p.detach()[2].clone()
    for _ in range(20):
        g = torch.randn(3, 50)
        p.grad, ref.grad = g.clone(), g[0].clone()
        p.grad[2] = float("nan")  # run 2's gradient is NaN: the mask keeps it out
        opt.step(mask=torch.tensor([True, True, False]))
        torch_opt.step()
    assert torch.allclose(p.detach()[0], ref.detach(), rtol=1e-5, atol=1e-7)
    assert torch.equal(p.detach()[2], frozen)
    sliced = RunSlice(opt, 2).state_dict()
    assert int(sliced["state"][0]["step"]) == 0 and int(RunSlice(opt, 0).state_dict()["state"][0]["step"]) == 20


# --------------------------------------------------------------------------- ablations


def _ablation_plan():
    from ganhacks.bench.ablate import Plan

    return Plan(data="ring8", tricks=["tricks.label_smoothing"], seeds=1, steps=120, set=["checkpoint.every=40"])


@pytest.fixture(scope="module")
def stacked_ablation(tmp_path_factory):
    from ganhacks.bench.ablate import ablate

    root = tmp_path_factory.mktemp("ablations")
    ablate(root / "stacked", _ablation_plan(), stack=2)
    ablate(root / "alone", _ablation_plan(), stack="off")
    return root


def _rows(folder):
    rows = json.loads((folder / "results.json").read_text())
    return [(r["arm"], r["seed"], r["steps"], r["metrics"], r["healthy"]) for r in rows]


def test_an_ablation_gives_the_same_rows_stacked_or_not(stacked_ablation):
    stacked = json.loads((stacked_ablation / "stacked" / "results.json").read_text())
    assert [r["stacked"] for r in stacked] == [2, 2] and all(r["error"] is None for r in stacked)
    assert _rows(stacked_ablation / "stacked") == _rows(stacked_ablation / "alone")


@pytest.mark.slow
def test_a_stack_killed_mid_run_resumes_from_its_checkpoints(stacked_ablation, tmp_path):
    """kill -9 while a stack trains; the next call continues both runs from their newest checkpoints
    and ends with the rows of the stack that never stopped."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "ab"
    cmd = [sys.executable, "-m", "ganhacks", "ablate", "--data", "ring8", "--tricks", "tricks.label_smoothing", "--seeds", "1",
           "--steps", "120", "--set", "checkpoint.every=40", "--stack", "2", "--out", str(out), "--quiet"]  # fmt: skip
    log = tmp_path / "child.log"
    with log.open("wb") as sink:
        child = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)

    def written():
        return len(list(out.glob("runs/*/seed_0/checkpoints/step_0000040.json")))

    # The wait is long on purpose: on 2 cores shared with other training, the first 40 steps took
    # over 120 s, and a kill before any checkpoint tests nothing.
    deadline = time.time() + 900
    while time.time() < deadline and child.poll() is None and written() < 2:
        time.sleep(0.02)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    assert written() == 2, f"the stack wrote no step-40 checkpoints before the kill: {log.read_text()[-2000:]}"
    assert not list(out.glob("runs/*/seed_0/result.json")), "the stack finished before it could be killed"
    from ganhacks.bench.ablate import ablate

    ablate(out, _ablation_plan(), stack=2)
    rows = json.loads((out / "results.json").read_text())
    assert all(r["resumed_from"] and r["resumed_from"] >= 40 for r in rows)
    assert _rows(out) == _rows(stacked_ablation / "stacked")


def test_a_stack_asked_to_stop_checkpoints_every_run_and_resumes(stacked_ablation, tmp_path, monkeypatch):
    """Ctrl-C while a stack trains: each run of the stack checkpoints the step, no result is written,
    and the next call continues both, as a stack, to the rows of the stack that never stopped."""
    from ganhacks.bench.ablate import ablate
    from ganhacks.training import stop
    from ganhacks.training.loop import Trainer

    real = Trainer.after_step

    def after_step(self):
        if self.step == 50 and stop.requested() is None:
            stop.request(2)  # SIGINT, as the terminal's Ctrl-C would
        return real(self)

    monkeypatch.setattr(Trainer, "after_step", after_step)
    out = tmp_path / "ab"
    with stop.on_signals(), pytest.raises(stop.Stopped, match=r"^Ablation stopped by Ctrl-C \(SIGINT\): 0 of 2 runs"):
        ablate(out, _ablation_plan(), stack=2)
    assert len(list(out.glob("runs/*/seed_0/checkpoints/step_0000050.json"))) == 2
    assert not list(out.glob("runs/*/seed_0/result.json"))
    monkeypatch.setattr(Trainer, "after_step", real)
    ablate(out, _ablation_plan(), stack=2)
    rows = json.loads((out / "results.json").read_text())
    assert [r["resumed_from"] for r in rows] == [50, 50] and [r["stacked"] for r in rows] == [2, 2]
    assert _rows(out) == _rows(stacked_ablation / "stacked")


def test_run_sgd_matches_torch_sgd_with_momentum_and_weight_decay():
    torch.manual_seed(1)
    p = torch.nn.Parameter(torch.randn(2, 30))
    ref = torch.nn.Parameter(p.detach()[1].clone())
    cfg = build_config(overrides=["optim.d.name=sgd", "optim.d.lr=0.05", "optim.d.momentum=0.9", "optim.d.weight_decay=0.01"])
    opt = make_optimizer([p], cfg.optim.d, 2, [0.05, 0.05])
    torch_opt = torch.optim.SGD([ref], lr=0.05, momentum=0.9, weight_decay=0.01)
    for i in range(15):
        g = torch.randn(2, 30)
        p.grad, ref.grad = g.clone(), g[1].clone()
        opt.step(mask=torch.tensor([i % 2 == 0, True]))  # run 0 skips every other update
        torch_opt.step()
    assert torch.allclose(p.detach()[1], ref.detach(), rtol=1e-5, atol=1e-6)


def test_an_unfinished_single_run_continues_from_its_newest_checkpoint(stacked_ablation, tmp_path):
    import shutil

    from ganhacks.bench.ablate import ablate

    out = tmp_path / "ab"
    shutil.copytree(stacked_ablation / "alone", out)
    run = next(out.glob("runs/base/seed_0"))
    (run / "result.json").unlink()  # as if the call had been killed just after step 40's checkpoint
    for step in (80, 120):
        for suffix in ("json", "safetensors"):
            (run / "checkpoints" / f"step_{step:07d}.{suffix}").unlink()
    ablate(out, _ablation_plan(), stack="off")
    rows = json.loads((out / "results.json").read_text())
    assert [r.get("resumed_from") for r in rows] == [40, None]
    assert _rows(out) == _rows(stacked_ablation / "alone")


@pytest.mark.parametrize("batched", [False, True])
def test_a_step_never_reads_a_number_back_from_the_device(batched, monkeypatch):
    """On a GPU each of these calls waits for the device; on the CPU the test makes each one an error
    for the length of a stacked step with every value-only trick on (the guard included)."""
    tricks = ["tricks.label_smoothing=on", "tricks.instance_noise=on", "tricks.g_noise=on", "tricks.replay=on"]
    cfgs, data = _configs("grid25", range(2), tricks)
    stack = StackTrainer(build_stack(cfgs, data), batched=batched)
    with collecting(stack.collector):
        stack.engine()  # the first step draws the epoch's data order
        for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
            monkeypatch.setattr(torch.Tensor, name, _refuse(name))
        for _ in range(3):
            stack.engine()


def _refuse(name):
    def refuse(self, *args, **kwargs):
        raise AssertionError(f"Tensor.{name} in a step: a host sync on a GPU")

    return refuse


def test_a_batched_stack_checkpoints_and_resumes_as_its_runs(tmp_path):
    """The batched layout keeps the stack's weights and Adam's moments in one [K, P] tensor per network;
    each run's checkpoint still holds only its own, in a single run's format, and a stack rebuilt
    from those checkpoints goes on exactly as the stack that never stopped."""
    from ganhacks.training.loop import global_rng_state
    from ganhacks.training.resume import resume_run

    cfgs, data = _configs("digits", range(2), ["train.steps=40", "checkpoint.every=20"])
    whole = _stack(cfgs, data, tmp_path / "whole", batched=True)
    short = [c for c in _configs("digits", range(2), ["train.steps=40", "checkpoint.every=20"])[0]]
    trainers = build_stack(short, data)
    for t in trainers:
        t.run = RunDir(tmp_path / "cut" / f"seed{t.cfg.train.seed}")
        t.run.path.mkdir(parents=True)
    stack = StackTrainer(trainers, batched=True)
    stack.fit()  # to 40, then cut each run back to its step-20 checkpoint and resume the pair
    for t in trainers:
        for name in ("step_0000040.json", "step_0000040.safetensors"):
            (t.run.checkpoints / name).unlink()
    state = load_checkpoint(trainers[1].run.checkpoints)
    alone = Trainer(short[1], data).state_dict()
    assert state["step"] == 20 and {k: v.shape for k, v in state["G"].items()} == {k: v.shape for k, v in alone["G"].items()}
    assert state["opt_g"]["state"][0]["exp_avg"].shape == alone["G"][next(iter(alone["G"]))].shape
    resumed = []
    for t in trainers:
        r = resume_run(t.run.path)
        r.own_rng = global_rng_state()
        resumed.append(r)
    StackTrainer(resumed, batched=True).fit()

    def timeless(rows):
        return [{k: v for k, v in row.items() if k != "sec_per_step"} for row in rows]

    assert [timeless(r.run.read_metrics()) for r in resumed] == [timeless(rows) for rows in whole]
