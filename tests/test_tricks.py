"""Behaviour tests: each trick does what it says."""

import math

import pytest
import torch

from ganhacks import losses
from ganhacks.api import prepare
from ganhacks.config import InstanceNoiseConfig, LabelSmoothingConfig, NoisyLabelsConfig, ReplayConfig, build_config
from ganhacks.errors import ConfigError
from ganhacks.monitor.stats import collecting
from ganhacks.sampling import draw_latents, lerp, slerp
from ganhacks.training import Trainer
from ganhacks.tricks import StepContext, catalogue
from ganhacks.tricks.labels import LabelSmoothing, NoisyLabels
from ganhacks.tricks.noise import InstanceNoise, noise_sigma
from ganhacks.tricks.replay import ExperienceReplay

CPU = torch.device("cpu")


def ctx(step=0):
    return StepContext(step=step, total_steps=100, device=CPU, G=torch.nn.Identity(), D=torch.nn.Identity())


def test_one_sided_smoothing_targets():
    real_t, fake_t = LabelSmoothing(LabelSmoothingConfig(), CPU, 0).d_targets(torch.ones(1000), torch.zeros(1000), ctx())
    assert torch.all(real_t == 0.9) and torch.all(fake_t == 0.0)


def test_two_sided_random_targets_lie_in_their_ranges():
    conf = LabelSmoothingConfig(mode="two_sided_random", real_range=(0.7, 1.2), fake_range=(0.0, 0.3))
    real_t, fake_t = LabelSmoothing(conf, CPU, 0).d_targets(torch.ones(10_000), torch.zeros(10_000), ctx())
    assert real_t.min() >= 0.7 and real_t.max() <= 1.2 and fake_t.min() >= 0.0 and fake_t.max() <= 0.3
    assert real_t.std() > 0.1 and abs(real_t.mean().item() - 0.95) < 0.01  # spread over the range, not constant


def test_noisy_labels_flip_rate_is_p():
    n, p = 100_000, 0.2
    real_t, fake_t = NoisyLabels(NoisyLabelsConfig(p=p), CPU, 0).d_targets(torch.ones(n), torch.zeros(n), ctx())
    tolerance = 5 * math.sqrt(p * (1 - p) / n)  # 5 standard errors
    assert abs((real_t == 0).float().mean().item() - p) < tolerance
    assert abs((fake_t == 1).float().mean().item() - p) < tolerance
    assert set(real_t.unique().tolist()) == {0.0, 1.0}


def test_replay_returns_old_samples_at_the_configured_rate():
    replay = ExperienceReplay(ReplayConfig(size=4096, p=0.3), CPU, 0)
    old = torch.ones(4096, 2)
    assert torch.equal(replay.fake_for_d(old, ctx()), old)  # empty buffer: nothing to replay yet
    new = torch.zeros(20_000, 2)
    out = replay.fake_for_d(new, ctx(1))
    rate = (out[:, 0] == 1).float().mean().item()
    assert abs(rate - 0.3) < 5 * math.sqrt(0.3 * 0.7 / 20_000)
    assert torch.all(replay.buffer == 0)  # then the new fakes replaced the old ones in the buffer


def test_replay_buffer_is_a_ring_of_the_newest():
    replay = ExperienceReplay(ReplayConfig(size=3, p=0.0), CPU, 0)
    for v in range(5):
        replay.fake_for_d(torch.full((1, 2), float(v)), ctx(v))
    assert sorted(replay.buffer[:, 0].tolist()) == [2.0, 3.0, 4.0]


@pytest.mark.parametrize("schedule", ["linear", "exponential"])
def test_instance_noise_decays_to_zero_at_until(schedule):
    conf = InstanceNoiseConfig(sigma=0.5, until=100, schedule=schedule)
    assert noise_sigma(conf, 0) == 0.5
    assert 0 < noise_sigma(conf, 99) < noise_sigma(conf, 50) < 0.5
    assert noise_sigma(conf, 100) == 0.0 and noise_sigma(conf, 1000) == 0.0
    trick = InstanceNoise(conf, CPU, 0)
    x = torch.zeros(5000, 2)
    assert abs(trick.d_input(x, ctx(0)).std().item() - 0.5) < 0.02
    assert torch.equal(trick.d_input(x, ctx(100)), x)


def test_instance_noise_until_defaults_to_half_the_run():
    cfg, _ = prepare(build_config(overrides=["data.name=ring8", "tricks.instance_noise=on", "train.steps=300"]))
    assert cfg.tricks.instance_noise.until == 150


def test_d_steps_makes_exactly_that_many_d_updates():
    cfg, data = prepare(build_config(overrides=["data.name=digits", "train.d_steps=3", "model.ngf=8", "model.ndf=8"]))
    trainer = Trainer(cfg, data)
    with collecting(trainer.collector):
        trainer.train_step()
        trainer.train_step()
    d_updates = {int(s["step"]) for s in trainer.opt_d.state.values()}
    g_updates = {int(s["step"]) for s in trainer.opt_g.state.values()}
    assert d_updates == {6} and g_updates == {2}
    assert trainer.sampler.state_dict()["pos"] == 6 * 64  # a fresh real batch for every D update


def test_flip_labels_gradient_equals_nonsaturating():
    a = torch.randn(64, dtype=torch.float64, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    losses.g_flip_labels(a).backward()
    losses.g_nonsaturating(b).backward()
    assert torch.allclose(a.grad, b.grad, rtol=1e-12, atol=1e-15)
    assert losses.g_flip_labels(a).item() == pytest.approx(losses.g_nonsaturating(b).item(), rel=1e-12)


def test_uniform_latent_and_interpolations():
    u = draw_latents(10_000, 4, "uniform", torch.Generator().manual_seed(0))
    assert u.min() >= -1 and u.max() <= 1 and abs(u.mean().item()) < 0.02
    a, b = (
        torch.randn(100, generator=torch.Generator().manual_seed(1)),
        torch.randn(100, generator=torch.Generator().manual_seed(2)),
    )
    t = torch.linspace(0, 1, 11)
    path = slerp(a, b, t)
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    line = lerp(a, b, t)
    # The great circle keeps the norm of Gaussian latents; the straight line dips towards 0 midway.
    assert path[5].norm() > 0.95 * min(a.norm(), b.norm()) > line[5].norm()


def test_sgd_for_d():
    cfg, data = prepare(build_config(overrides=["data.name=digits", "optim.d.name=sgd", "optim.d.momentum=0.9"]))
    trainer = Trainer(cfg, data)
    assert isinstance(trainer.opt_d, torch.optim.SGD) and isinstance(trainer.opt_g, torch.optim.Adam)
    assert trainer.opt_d.param_groups[0]["momentum"] == 0.9


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("tricks.noisy_labels.p=1.5", "is a probability"),
        ("tricks.replay.size=0", "'tricks.replay.size' must be a positive number"),
        ("tricks.label_smoothing.real_range=[1.2, 0.7]", "low <= high"),
        ("tricks.instance_noise.sigma=-1", "must be >= 0"),
        ("train.d_steps=0", "'train.d_steps' must be a positive number"),
        ("tricks.replay=maybe", "switches a trick"),
    ],
)
def test_bad_trick_settings_fail_before_training(override, fragment):
    with pytest.raises(ConfigError) as e:
        build_config(overrides=[override])
    assert fragment in str(e.value)


def test_catalogue_rows_and_cli(cli):
    import json

    rows = catalogue()
    assert all(set(r) == {"number", "key", "default", "description"} for r in rows)
    assert {"loss", "latent", "train.d_steps", "tricks.label_smoothing", "tricks.replay"} <= {r["key"] for r in rows}
    assert next(r for r in rows if r["key"] == "tricks.replay")["default"] == "off"
    assert {r["number"] for r in rows} >= set(range(1, 17))  # every trick of the seed has a row
    assert all(r["default"] is not None for r in rows)  # and each key is a real config key
    code, out, _ = cli("tricks", "--json")
    assert code == 0 and json.loads(out) == rows
    code, out, _ = cli("tricks")
    assert "tricks.instance_noise" in out


def test_interpolation_gif(cli, tmp_path):
    from PIL import Image

    code, out, err = cli(
        "train",
        "--data",
        "digits",
        "--steps",
        "2",
        "--quiet",
        "--out",
        str(tmp_path),
        "--set",
        "model.ngf=8",
        "--set",
        "model.ndf=8",
    )
    run = out.strip()
    code, out, err = cli("sample", run, "--interpolate", "slerp", "--frames", "5", "--out", str(tmp_path / "walk.gif"))
    assert code == 0, err
    gif = Image.open(tmp_path / "walk.gif")
    assert gif.n_frames == 20 and gif.size[0] >= 200
    code, _, err = cli("sample", run, "--interpolate", "lerp", "--out", str(tmp_path / "walk.png"))
    assert code == 2 and "must be a .gif" in err


def _trainer(*overrides):
    cfg, data = prepare(build_config(overrides=list(overrides)))
    return Trainer(cfg, data)


def test_minibatch_discrimination_output_depends_on_other_samples():
    from ganhacks.models.layers import MinibatchDiscrimination

    layer = MinibatchDiscrimination(6, kernels=4, kernel_dim=3)
    x = torch.randn(5, 6)
    before = layer(x)
    x2 = x.clone()
    x2[3] += 1.0  # change another sample
    after = layer(x2)
    assert before.shape == (5, 6 + 4)
    assert not torch.allclose(before[0, 6:], after[0, 6:])  # sample 0's minibatch features moved
    assert torch.equal(before[0, :6], after[0, :6])  # its own features did not


def test_minibatch_stddev_feature_tracks_batch_variety():
    from ganhacks.models.layers import MinibatchStdDev

    layer = MinibatchStdDev()
    same = layer(torch.ones(4, 3, 2, 2))
    varied = layer(torch.randn(4, 3, 2, 2) * 5)
    assert same.shape == (4, 4, 2, 2) and same[:, 3].max() < 1e-3 and varied[:, 3].min() > 1.0


@pytest.mark.parametrize("data", ["digits", "ring8"])
@pytest.mark.parametrize("trick", ["minibatch_stddev", "minibatch_discrimination"])
def test_batch_tricks_change_ds_last_layer_and_train(data, trick):
    extra = ["data.num_points=1000"] if data == "ring8" else ["model.ngf=8", "model.ndf=8"]
    t = _trainer(f"data.name={data}", f"tricks.{trick}=on", *extra)
    assert isinstance(t.D.head, torch.nn.Sequential)
    with collecting(t.collector):
        t.train_step()
    assert all(math.isfinite(v) for v in t.collector.collect().values())


@pytest.mark.parametrize("data", ["digits", "ring8"])
def test_pack_feeds_m_samples_per_d_input(data):
    extra = ["data.num_points=1000"] if data == "ring8" else ["model.ngf=8", "model.ndf=8"]
    t = _trainer(f"data.name={data}", "tricks.pack.m=4", *extra)
    first = next(m for m in t.D.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    assert (first.in_features if isinstance(first, torch.nn.Linear) else first.in_channels) == 4 * t.data.x.shape[1]
    seen = []
    t.D.head.register_forward_hook(lambda m, inp, out: seen.append(out.shape[0]))
    with collecting(t.collector):
        t.train_step()
    assert seen == [t.cfg.train.batch_size // 4] * 3  # real, fake, G's update: N/m logits each


def test_pack_needs_divisible_batch_and_batch_layers_conflict():
    with pytest.raises(ConfigError, match="divisible by 3"):
        prepare(build_config(overrides=["data.name=ring8", "tricks.pack.m=3", "data.num_points=500"]))
    with pytest.raises(ConfigError, match="switch one of them off"):
        build_config(overrides=["tricks.minibatch_stddev=on", "tricks.minibatch_discrimination=on"])


@pytest.mark.parametrize("size", [8, 28])
@pytest.mark.parametrize("norm", ["batch", "instance", "layer", "none"])
@pytest.mark.parametrize("up, down", [("convtranspose", "strided"), ("pixelshuffle", "avgpool"), ("nearest", "maxpool")])
def test_dcgan_norm_and_resampling_choices(size, norm, up, down):
    from ganhacks.models import DCGANDiscriminator, DCGANGenerator

    G = DCGANGenerator(16, size, 3, 8, norm=norm, act="leaky_relu", up=up)
    D = DCGANDiscriminator(size, 3, 8, norm=norm, act="relu", down=down)
    x = G(torch.randn(4, 16))
    assert x.shape == (4, 3, size, size) and D(x).shape == (4,)
    kinds = {"batch": torch.nn.BatchNorm2d, "instance": torch.nn.InstanceNorm2d, "layer": torch.nn.GroupNorm}
    if norm in kinds:
        assert any(isinstance(m, kinds[norm]) for m in G.modules())
        # D never normalises its first layer; at 8x8 that is its only layer before the head.
        assert any(isinstance(m, kinds[norm]) for m in D.modules()) == (size > 8)
    else:
        assert not any(isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm)) for m in [*G.modules(), *D.modules()])
    layer = {"pixelshuffle": torch.nn.PixelShuffle, "nearest": torch.nn.Upsample, "convtranspose": torch.nn.ConvTranspose2d}[up]
    assert any(isinstance(m, layer) for m in G.modules())
    if down != "strided":
        pool = torch.nn.AvgPool2d if down == "avgpool" else torch.nn.MaxPool2d
        assert any(isinstance(m, pool) for m in D.modules())


def test_model_choices_from_config_and_their_errors():
    t = _trainer("data.name=digits", "model.g_norm=layer", "model.d_norm=none", "model.g_act=leaky_relu", "model.up=nearest")
    assert t.cfg.model.d_act == "leaky_relu" and any(isinstance(m, torch.nn.GroupNorm) for m in t.G.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in t.D.modules())
    mlp = _trainer("data.name=ring8", "data.num_points=500", "model.d_norm=layer")
    assert mlp.cfg.model.d_act == "maxout" and any(isinstance(m, torch.nn.LayerNorm) for m in mlp.D.modules())
    for bad, fragment in [
        ("model.g_norm=instance", "Instance normalisation needs images"),
        ("model.up=pixelshuffle", "do not apply to the 2D MLPs"),
        ("model.d_act=relu", "maxout"),
    ]:
        with pytest.raises(ConfigError, match=fragment):
            prepare(build_config(overrides=["data.name=ring8", "data.num_points=500", bad]))


@pytest.mark.parametrize("pack", [None, 2])
def test_mixed_d_batches_use_one_forward_of_both(pack):
    extra = [f"tricks.pack.m={pack}"] if pack else []
    t = _trainer("data.name=digits", "train.d_batches=mixed", "model.ngf=8", "model.ndf=8", *extra)
    seen = []
    t.D.head.register_forward_hook(lambda m, inp, out: seen.append(out.shape[0]))
    with collecting(t.collector):
        t.train_step()
    n = 64 // (pack or 1)
    assert seen == [2 * n, n]  # one D update on real+fake together, then G's update on the fakes
    assert all(math.isfinite(v) for v in t.collector.collect().values())


def test_swapped_in_checkpoints_really_are_older_weights():
    t = _trainer("data.name=ring8", "data.num_points=2000", "tricks.swap.every=2", "tricks.swap.p=1.0", "tricks.swap.duration=3")
    (swap,) = [tr for tr in t.tricks if tr.key == "tricks.swap"]
    snapshots = {}
    with collecting(t.collector):
        for _ in range(4):
            t.train_step()
            if t.step % 2 == 0 and swap.saved is None:
                snapshots[t.step] = {k: v.clone() for k, v in t.D.state_dict().items()}
    # step 2 and step 4 were snapshotted; after step 4, the older one (step 2) was swapped in
    assert swap.swapped_from == 2 and swap.remaining == 3
    assert all(torch.equal(t.D.state_dict()[k], v) for k, v in swap.pool[0]["D"].items())
    current = swap.saved["D"]
    assert not all(torch.equal(current[k], v) for k, v in swap.pool[0]["D"].items())
    with collecting(t.collector):
        for _ in range(3):
            t.train_step()
    # after `duration` steps the current weights are back exactly as they were when the swap began
    assert swap.saved is None and swap.swapped_from is None
    assert all(torch.equal(t.D.state_dict()[k], v) for k, v in current.items())


@pytest.mark.parametrize(
    "trick",
    [
        "tricks.pack.m=2",
        "tricks.minibatch_discrimination=on",
        "tricks.minibatch_stddev=on",
        "tricks.conditional=on",
        "tricks.acgan=on",
        "tricks.vae=on",
        "tricks.spectral_norm.which=both",
        "tricks.ema=on",
    ],
)
def test_runs_with_model_changing_tricks_load_back(tmp_path, trick):
    import ganhacks

    run = ganhacks.train(
        build_config(overrides=["data.name=digits", "model.ngf=8", "model.ndf=8", "train.steps=2", trick]), out=tmp_path
    )
    again = ganhacks.load_run(run.path)
    for net in ("G", "D"):
        a, b = getattr(again, net).state_dict(), getattr(run, net).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k].cpu()) for k in a)


def test_g_noise_perturbs_every_g_layer_in_training_only_and_decays():
    t = _trainer(
        "data.name=digits", "model.ngf=8", "model.ndf=8", "tricks.g_noise.sigma=0.5", "tricks.g_noise.until=2", "train.steps=4"
    )
    (noise,) = [tr for tr in t.tricks if tr.key == "tricks.g_noise"]
    z = torch.randn(8, 100)
    t.G.train()
    a, b = t.G(z), t.G(z)
    assert not torch.allclose(a, b)  # fresh noise in the layers on every training-mode pass
    t.G.eval()
    assert torch.equal(t.G(z), t.G(z))  # sampling is noise-free
    with collecting(t.collector):
        for _ in range(2):
            t.train_step()
    assert noise.sigma == 0.0  # reached 0 at `until`
    t.G.train()
    torch.manual_seed(0)
    first = t.G(z)
    torch.manual_seed(0)
    assert torch.equal(first, t.G(z))  # no noise left: training-mode passes agree again


@pytest.mark.parametrize(
    "settings, d_updates, g_updates",
    [
        (["tricks.loss_threshold.d=0.0", "tricks.loss_threshold.max_repeat=3"], 4, 1),  # always above: capped at 3 extra
        (["tricks.loss_threshold.d=1000"], 1, 1),  # never above: no extra update
        (["tricks.loss_threshold.d=null", "tricks.loss_threshold.g=0.0", "tricks.loss_threshold.max_repeat=2"], 1, 3),
    ],
)
def test_loss_threshold_repeats_updates_with_a_hard_cap(settings, d_updates, g_updates):
    t = _trainer("data.name=ring8", "data.num_points=1000", *settings)
    with collecting(t.collector):
        t.train_step()
        t.train_step()
    assert {int(s["step"]) for s in t.opt_d.state.values()} == {2 * d_updates}
    assert {int(s["step"]) for s in t.opt_g.state.values()} == {2 * g_updates}


def test_loss_threshold_needs_a_threshold():
    with pytest.raises(ConfigError, match="sets no threshold"):
        build_config(overrides=["tricks.loss_threshold.d=null"])


def test_recommended_preset_turns_on_its_tricks(tmp_path):
    import ganhacks
    from ganhacks.config import PRESETS

    cfg = build_config(preset="recommended", overrides=["data.name=ring8", "data.num_points=2000", "train.steps=6"])
    assert cfg.preset == "recommended"
    chosen = set(PRESETS["recommended"]["tricks"])
    assert chosen, "the recommended preset switches at least one trick on"
    assert {name for name in chosen if getattr(cfg.tricks, name) is not None} == chosen
    off = [name for name in ("label_smoothing", "noisy_labels", "replay") if name not in chosen]
    assert all(getattr(cfg.tricks, name) is None for name in off)
    # a preset plus --set expresses any combination: switch one trick off, turn another on
    first = sorted(chosen)[0]
    fewer = build_config(preset="recommended", overrides=[f"tricks.{first}=off", "tricks.noisy_labels.p=0.2"])
    assert getattr(fewer.tricks, first) is None and fewer.tricks.noisy_labels.p == 0.2
    run = ganhacks.train(cfg, out=tmp_path)
    assert run.path.name.endswith("-ring8-recommended")
    assert all(math.isfinite(r["loss_d"]) for r in run.metrics())
