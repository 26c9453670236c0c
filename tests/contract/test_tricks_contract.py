"""One contract suite over every registered hook trick."""

import json

import numpy as np
import pytest
import torch

from ganhacks.api import prepare
from ganhacks.config import build_config
from ganhacks.monitor.stats import collecting
from ganhacks.training import Trainer
from ganhacks.training.checkpoint import join_state, split_state
from ganhacks.tricks import HOOK_TRICKS, StepContext, Trick, build_tricks

NAMES = [name for name, _ in HOOK_TRICKS]
CPU = torch.device("cpu")


def make(name, seed=0):
    cfg, data = prepare(build_config(overrides=["data.name=digits", f"tricks.{name}=on", "train.steps=10"]))
    (trick,) = build_tricks(cfg, CPU, data.num_classes)
    return trick


def ctx(step=0):
    return StepContext(step=step, total_steps=10, device=CPU, G=torch.nn.Identity(), D=torch.nn.Identity())


def apply_all(trick, step=0, seed=0):
    g = torch.Generator().manual_seed(seed)
    real, fake = torch.rand(16, 1, 8, 8, generator=g) * 2 - 1, torch.rand(16, 1, 8, 8, generator=g) * 2 - 1
    c = ctx(step)
    out = {
        "real": trick.real_for_d(real, c),
        "fake": trick.fake_for_d(fake, c),
        "d_input": trick.d_input(real, c),
    }
    out["real_t"], out["fake_t"] = trick.d_targets(torch.ones(16), torch.zeros(16), c)
    return out


def test_disabled_tricks_are_not_built_and_base_hooks_are_identity():
    cfg, _ = prepare(build_config(overrides=["data.name=digits"]))
    assert build_tricks(cfg, CPU) == []
    out = apply_all(Trick())
    g = torch.Generator().manual_seed(0)
    real, fake = torch.rand(16, 1, 8, 8, generator=g) * 2 - 1, torch.rand(16, 1, 8, 8, generator=g) * 2 - 1
    assert torch.equal(out["real"], real) and torch.equal(out["fake"], fake) and torch.equal(out["d_input"], real)
    assert torch.equal(out["real_t"], torch.ones(16)) and torch.equal(out["fake_t"], torch.zeros(16))


@pytest.mark.parametrize("name", NAMES)
def test_enabled_trick_keeps_shapes_and_dtypes(name):
    trick = make(name)
    for _ in range(3):  # several calls: stateful tricks (the replay buffer) change behaviour after the first
        out = apply_all(trick)
        for key in ("real", "fake"):
            assert out[key].shape == (16, 1, 8, 8) and out[key].dtype == torch.float32
        # D's input may be regrouped (PacGAN packs samples into channels) but keeps every value and the dtype.
        assert out["d_input"].numel() == 16 * 64 and out["d_input"].dtype == torch.float32
        assert out["d_input"].shape[2:] == (8, 8)
        assert out["real_t"].shape == (16,) and out["fake_t"].shape == (16,)
        assert out["real_t"].dtype == torch.float32


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trips_through_a_checkpoint(name):
    trick = make(name)
    apply_all(trick, seed=1)
    structure, tensors = split_state(trick.state_dict())
    fresh = make(name)
    fresh.load_state_dict(join_state(json.loads(json.dumps(structure)), tensors))
    a, b = apply_all(trick, seed=2), apply_all(fresh, seed=2)
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("name", NAMES)
def test_short_run_with_trick_is_finite(name):
    data_name = "ring8" if name == "replay" else "digits"
    extra = ["data.num_points=2000"] if data_name == "ring8" else ["model.ngf=8", "model.ndf=8"]
    cfg, data = prepare(build_config(overrides=[f"data.name={data_name}", f"tricks.{name}=on", "train.steps=8", *extra]))
    trainer = Trainer(cfg, data)
    assert [t.key for t in trainer.tricks] == [f"tricks.{name}"]
    with collecting(trainer.collector):
        for _ in range(8):
            trainer.train_step()
        row = trainer.collector.collect()
    assert all(np.isfinite(v) for v in row.values())
    assert f"0:tricks.{name}" in trainer.state_dict()["tricks"]
