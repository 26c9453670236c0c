"""train.cuda_graph: the step's bookkeeping for a CUDA graph, checked on the CPU.

No CPU can capture a graph, so these tests run a GraphedStep with capture=False: the same device table
of data orders, position advances and kept statistics, around an ordinary call of the step. They show
that it draws every run's own batches and reports what the step reports, to the bit; that it refuses
what a graph cannot replay; that it gives the graph up when a trick is switched on mid-run; and that it
captures the step again when the optimisers' state is replaced or a learning rate changes.
benchmarks/gpu_checks.py checks the capture itself on a GPU."""

import copy

import pytest
import torch

from ganhacks.api import prepare
from ganhacks.config import build_config
from ganhacks.data.base import BatchSampler
from ganhacks.errors import ConfigError
from ganhacks.training import RunDir, Trainer, load_checkpoint
from ganhacks.training.graph import DeviceOrders, GraphedStep, graphed
from ganhacks.training.stacked import StackTrainer, build_stack
from ganhacks.training.step import Step


def _configs(seeds, extra=()):
    cfgs, data = [], None
    for s in seeds:
        cfg, data = prepare(build_config(overrides=["data.name=digits", "train.steps=40", *extra, f"train.seed={s}"]), data)
        cfgs.append(cfg)
    return cfgs, data


def _train(cfgs, data, root, graph, batched):
    """Train the runs as one stack (or one run alone), with or without the graphed step's bookkeeping."""
    if len(cfgs) == 1:
        trainers = [Trainer(cfgs[0], data)]
    else:
        trainers = build_stack(cfgs, data)
    for t in trainers:
        t.run = RunDir(root / f"seed{t.cfg.train.seed}")
        t.run.path.mkdir(parents=True)
    if len(cfgs) == 1:
        t = trainers[0]
        if graph:
            t.engine = GraphedStep(t.engine, capture=False)
        t.fit()
        counts = t.engine.counts if graph else None
    else:
        stack = StackTrainer(trainers, batched=batched)
        if graph:
            stack.engine = GraphedStep(stack.engine, capture=False)
        stack.fit()
        counts = stack.engine.counts if graph else None
    return [t.run for t in trainers], counts


@pytest.mark.parametrize(
    "runs,batched,extra",
    [
        (1, False, ["train.d_steps=3"]),  # 1,797 digits make 28 batches an epoch: epochs turn mid-step
        (3, False, ["tricks.pack=on"]),
        (3, True, ["train.d_steps=3"]),
    ],
)
def test_a_graphed_step_trains_every_run_exactly_as_the_plain_step(runs, batched, extra, tmp_path):
    cfgs, data = _configs(range(runs), extra)
    plain, _ = _train(cfgs, data, tmp_path / "plain", graph=False, batched=batched)
    kept, counts = _train(cfgs, data, tmp_path / "graph", graph=True, batched=batched)
    assert counts["replayed"] > 0
    if "train.d_steps=3" in extra:
        assert counts["eager"] > 0  # the steps inside which an epoch turned drew from the samplers
    else:
        assert counts["eager"] == 0
    for a, b in zip(plain, kept, strict=True):
        rows_a, rows_b = a.read_metrics(), b.read_metrics()
        strip = lambda rows: [{k: v for k, v in r.items() if k != "sec_per_step"} for r in rows]  # noqa: E731
        assert len(rows_a) == 4 and strip(rows_a) == strip(rows_b)
        ca, cb = load_checkpoint(a.checkpoints), load_checkpoint(b.checkpoints)
        assert all(torch.equal(ca[net][k], cb[net][k]) for net in ("G", "D") for k in ca[net])


def test_the_device_table_follows_a_sampler_changed_on_the_host():
    x = torch.arange(10.0).view(10, 1)
    ours, twin = BatchSampler(x, 3, seed=0), BatchSampler(x, 3, seed=0)
    orders = DeviceOrders([ours], torch.device("cpu"))
    drawn, expected = [], []
    for _ in range(7):  # 3 batches an epoch: the epoch turns before steps 3 and 6
        assert orders.prepare(1)
        drawn.append(orders.draw()[0])
        orders.advance(1)
        expected.append(twin.next_indices())
    assert all(torch.equal(a, b) for a, b in zip(drawn, expected, strict=True))
    assert orders.prepare(2) and not orders.prepare(3)  # two batches are left in this epoch, not three
    state = twin.state_dict()  # a rollback loads an older sampler state on the host
    twin.next_indices()
    ours.load_state_dict(state)
    twin.load_state_dict(state)
    assert orders.prepare(1) and torch.equal(orders.draw()[0], twin.next_indices())
    with pytest.raises(ValueError, match="do not fit"):
        ours.skip(5)


def test_what_a_graph_cannot_replay_is_refused_in_one_sentence():
    cfgs, data = _configs([0], ["train.cuda_graph=true"])
    with pytest.raises(ConfigError, match=r"needs a CUDA device, and this run trains on cpu; set train.device=cuda"):
        Trainer(cfgs[0], data)
    auto, _ = _configs([0], ["train.cuda_graph=auto"])
    assert type(Trainer(auto[0], data).engine) is Step  # auto trains without a graph where there is none
    noisy, _ = _configs([0], ["tricks.instance_noise=on"])
    t = Trainer(noisy[0], data)
    with pytest.raises(ConfigError, match=r"^tricks.instance_noise cannot be replayed in a CUDA graph .*cuda_graph=auto"):
        GraphedStep(t.engine, capture=False)
    assert graphed(t.engine, False) is t.engine
    with pytest.raises(ConfigError, match="cuda_graph"):
        build_config(overrides=["train.cuda_graph=always"])


def _graphed_trainer(tmp_path, steps: int) -> Trainer:
    """One run whose step is an emulated GraphedStep, ``steps`` steps into training."""
    cfgs, data = _configs([0])
    t = Trainer(cfgs[0], data)
    t.engine = GraphedStep(t.engine, capture=False)
    t.run = RunDir(tmp_path / "run")
    t.run.path.mkdir()
    t.begin()
    for _ in range(steps):
        t.train_step()
    return t


def test_a_trick_switched_on_mid_run_gives_the_graph_up(tmp_path):
    from ganhacks.tricks.catalogue import build_tricks

    t = _graphed_trainer(tmp_path, 5)
    assert t.engine.counts == {"eager": 0, "warmup": 3, "captures": 1, "replayed": 2}
    noisy, _ = _configs([0], ["tricks.instance_noise=on"])
    t.tricks.tricks += build_tricks(noisy[0], t.device)  # what a remedy of the doctor does
    t.train_step()
    assert t.engine.broken and t.engine.counts["eager"] == 1


def test_a_new_optimiser_state_or_learning_rate_is_captured_again(tmp_path):
    from ganhacks.training.optim import scale_lr

    t = _graphed_trainer(tmp_path, 5)
    saved = copy.deepcopy(t.opt_d.state_dict())  # what a checkpoint holds: its own tensors
    t.train_step()
    assert t.engine.counts["captures"] == 1  # nothing changed: the same graph replays
    scale_lr(t.opt_g, 0.5)  # a remedy: G's lr is a float a graph would keep
    t.train_step()
    assert t.engine.counts == {"eager": 0, "warmup": 4, "captures": 1, "replayed": 3}
    t.train_step()
    assert t.engine.counts["captures"] == 2
    t.opt_d.load_state_dict(saved)  # a rollback: torch.optim puts the checkpoint's tensors in place
    t.train_step()
    t.train_step()
    assert t.engine.counts == {"eager": 0, "warmup": 5, "captures": 3, "replayed": 5}
