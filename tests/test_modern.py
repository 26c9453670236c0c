"""Behaviour tests for the stabilisers that came after the seed: the penalties, spectral norm, the EMA
generator, DiffAugment and ADA, LeCam, and the objectives' use in training."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from torch import nn

import ganhacks
from ganhacks.api import prepare
from ganhacks.bench.ablate import Plan
from ganhacks.config import ADAConfig, EMAConfig, GradientPenaltyConfig, LeCamConfig, R1Config, build_config
from ganhacks.errors import ConfigError
from ganhacks.monitor.stats import Collector, collecting
from ganhacks.training import Trainer
from ganhacks.training.checkpoint import list_checkpoints, remove_checkpoint
from ganhacks.tricks import StepContext
from ganhacks.tricks.augment import ADA, augment, color, cutout, translation
from ganhacks.tricks.penalties import R1, R2, GradientPenalty, LeCam
from ganhacks.tricks.weights import EMA, AveragedWeights, generator_name

CPU = torch.device("cpu")
SMALL = ["data.name=digits", "model.ngf=8", "model.ndf=8"]
NEW_TRICKS = ["r1", "r2", "gradient_penalty", "spectral_norm", "ema", "diffaugment", "ada", "lecam", "bcr"]


def linear_ctx(weight: torch.Tensor, real: torch.Tensor, fake: torch.Tensor | None = None, step: int = 0) -> StepContext:
    """A StepContext whose D is the linear map x -> w.x + 1 on flattened x."""
    D = nn.Linear(weight.numel(), 1)
    with torch.no_grad():
        D.weight.copy_(weight.view(1, -1))
        D.bias.fill_(1.0)
    c = StepContext(step=step, total_steps=10, device=CPU, G=nn.Identity(), D=D, real=real, fake=fake)
    c.d_judge = lambda x, y=None: (D(x.flatten(1)).squeeze(1), x)
    return c


# ----------------------------------------------------------------------------- penalties


def test_r1_on_a_linear_d_is_half_gamma_times_the_squared_weight_norm():
    w = torch.tensor([3.0, -4.0, 1.0, 2.0])
    real = torch.randn(16, 1, 2, 2)
    r1 = R1(R1Config(gamma=5.0), CPU, seed=0)
    value = r1.extra_d_loss(linear_ctx(w, real))
    assert value.item() == pytest.approx(5.0 / 2 * float(w.pow(2).sum()), rel=1e-6)
    # R2 is the same penalty on the fakes; the batch it reads is the fakes.
    r2 = R2(R1Config(gamma=2.0), CPU, seed=0)
    assert r2.extra_d_loss(linear_ctx(w, real, fake=torch.randn(8, 1, 2, 2))).item() == pytest.approx(30.0, rel=1e-6)


def test_the_penalty_trains_d_through_its_gradient():
    w = torch.tensor([3.0, -4.0])
    c = linear_ctx(w, torch.randn(8, 2))
    R1(R1Config(gamma=1.0), CPU, seed=0).extra_d_loss(c).backward()
    # d/dw of 1/2 ||w||^2 is w: descending it shrinks D's slope.
    assert torch.allclose(c.D.weight.grad.view(-1), w)


def test_lazy_r1_is_its_own_phase_every_k_steps_scaled_by_k():
    w = torch.tensor([1.0, 2.0])
    r1 = R1(R1Config(gamma=2.0, every=4), CPU, seed=0)
    phases = [r1.d_phase(linear_ctx(w, torch.randn(4, 2), step=s)) for s in range(8)]
    assert [p is not None for p in phases] == [True, False, False, False, True, False, False, False]
    assert phases[0].item() == pytest.approx(4 * 5.0, rel=1e-6)
    assert r1.extra_d_loss(linear_ctx(w, torch.randn(4, 2))) is None
    # In training: one extra D update every 4 steps (Adam counts 8 + 2 after 8 steps).
    trainer = _trainer("tricks.r1.every=4")
    with collecting(trainer.collector):
        for _ in range(8):
            trainer.train_step()
        row = trainer.collector.collect()
    steps = {int(s["step"]) for s in trainer.opt_d.state.values()}
    assert steps == {10}
    assert "grad_norm_d_reg" in row and row["trick/r1/penalty"] > 0


def test_wgan_gp_is_zero_for_a_unit_norm_linear_critic_and_closed_form_otherwise():
    real, fake = torch.randn(32, 3), torch.randn(32, 3)
    unit = torch.tensor([0.6, 0.0, 0.8])
    gp = GradientPenalty(GradientPenaltyConfig(weight=10.0), CPU, seed=0)
    assert gp.extra_d_loss(linear_ctx(unit, real, fake)).item() == pytest.approx(0.0, abs=1e-10)
    three = unit * 3.0  # ||grad|| = 3 everywhere: weight * (3 - 1)^2
    assert gp.extra_d_loss(linear_ctx(three, real, fake)).item() == pytest.approx(40.0, rel=1e-6)


def test_lecam_anchors_and_value_by_hand():
    lecam = LeCam(LeCamConfig(weight=0.5, decay=0.9), CPU, seed=0)
    c = StepContext(step=0, total_steps=1, device=CPU, G=nn.Identity(), D=nn.Identity())
    c.real_logits, c.fake_logits = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    value = lecam.extra_d_loss(c)
    a_real, a_fake = 0.1 * 1.0, 0.1 * 0.0  # anchors start at 0: 0.9 * 0 + 0.1 * mean
    expect = ((2 - a_fake) ** 2 + 0.0) / 2 + ((a_real + 1) ** 2 + 0.0) / 2  # relu keeps only the overshoots
    assert value.item() == pytest.approx(0.5 * expect, rel=1e-6)
    assert torch.allclose(lecam.anchors, torch.tensor([a_real, a_fake]))


def test_bcr_is_zero_for_a_d_that_ignores_the_augmentation_and_trains_d_otherwise():
    from ganhacks.config import BCRConfig
    from ganhacks.tricks.augment import BCR

    x = torch.rand(8, 1, 8, 8) * 2 - 1
    bcr = BCR(BCRConfig(policy="cutout"), CPU, seed=0)
    mean_free = linear_ctx(torch.zeros(64), x, fake=x.clone())  # D(x) = 1 whatever x is
    mean_free.real_logits = mean_free.fake_logits = torch.ones(8)
    assert bcr.extra_d_loss(mean_free).item() == 0.0
    c = linear_ctx(torch.randn(64), x, fake=x.clone())
    c.real_logits = c.fake_logits = c.d_judge(x)[0].detach()
    value = bcr.extra_d_loss(c)
    assert value.item() > 0
    value.backward()
    assert c.D.weight.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- spectral norm


def test_spectral_norm_keeps_every_d_weight_near_unit_spectral_norm_after_training():
    trainer = _trainer("tricks.spectral_norm=on", "model.ndf=16")
    with collecting(trainer.collector):
        for _ in range(60):
            trainer.train_step()
    trainer.D.eval()  # read the weights without another power iteration
    layers = [m for m in trainer.D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)
    for m in layers:
        top = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2).item()
        assert top == pytest.approx(1.0, rel=0.05), m
    assert not any(hasattr(m, "parametrizations") for m in trainer.G.modules())


# ----------------------------------------------------------------------------- EMA


def test_ema_equals_the_closed_form_average():
    net = nn.Linear(3, 2)
    conf = EMAConfig(half_life=640.0, rampup=None)
    ema = EMA(conf, CPU, seed=0)
    G = nn.Sequential(net)
    ema.build(G, nn.Identity())
    beta = 0.5 ** (64 / 640.0)
    history = [net.weight.detach().clone()]
    for step in range(5):
        with torch.no_grad():
            net.weight.add_(torch.randn_like(net.weight))
        history.append(net.weight.detach().clone())
        c = StepContext(step=step, total_steps=5, device=CPU, G=G, D=nn.Identity(), real=torch.zeros(64, 3))
        with collecting(Collector()):
            ema.after_step(c)
    k = len(history) - 1
    expect = beta**k * history[0] + sum((1 - beta) * beta ** (k - i) * history[i] for i in range(1, k + 1))
    assert torch.allclose(G.ema.tensors()["0.weight"], expect, atol=1e-6)
    # The ramp-up caps the half-life at rampup x the images seen: the first steps forget fast.
    ramp = EMA(EMAConfig(half_life=10_000.0, rampup=0.05), CPU, seed=0)
    assert ramp.beta(0, 64) == pytest.approx(0.5 ** (64 / (0.05 * 64)))
    assert ramp.beta(10_000, 64) == pytest.approx(0.5 ** (64 / 10_000.0))


def test_samples_evaluation_and_load_run_use_the_ema_generator(tmp_path):
    cfg = build_config(overrides=[*SMALL, "tricks.ema=on", "train.steps=6", "eval.every=6", "eval.n=100"])
    run = ganhacks.train(cfg, out=tmp_path)
    G = run.G.cpu()
    assert generator_name(G) == "ema"
    z = torch.randn(8, G.z_dim)
    G.eval()
    averaged = G.ema(G, z)
    assert not torch.allclose(averaged, G(z))  # the average really differs from the current G
    assert torch.equal(ganhacks.sampling.generate(G, z), averaged)
    again = ganhacks.load_run(run.path)
    assert torch.equal(again.sample(8, seed=3), run.sample(8, seed=3))
    assert json.loads((run.path / "eval.json").read_text())["generator"] == "ema"
    # The averaged weights are buffers: no optimiser or gradient norm sees them.
    assert not any(n.startswith("ema.") for n, _ in G.named_parameters())
    assert any(n.startswith("ema.") for n in again.G.state_dict())
    plain = ganhacks.train(build_config(overrides=[*SMALL, "train.steps=2", "eval.every=2", "eval.n=100"]), out=tmp_path)
    assert json.loads((plain.path / "eval.json").read_text())["generator"] == "G"


def test_averaged_weights_work_with_spectral_norm_in_g():
    trainer = _trainer("tricks.ema=on", "tricks.spectral_norm.which=g")
    assert isinstance(trainer.G.ema, AveragedWeights)
    assert any("parametrizations" in n for n in trainer.G.ema.params)
    z = torch.randn(4, trainer.G.z_dim)
    trainer.G.eval()
    assert torch.allclose(trainer.G.ema(trainer.G, z), trainer.G(z))  # before any step: the same weights


# ----------------------------------------------------------------------------- augmentation


@pytest.mark.parametrize("op", [color, translation, cutout])
@pytest.mark.parametrize("channels", [1, 3])
def test_augment_ops_keep_shape_and_range_and_pass_gradients(op, channels):
    x = (torch.rand(16, channels, 8, 8) * 2 - 1).requires_grad_(True)
    out = op(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= -1.0 and out.max() <= 1.0
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_translation_and_cutout_are_exactly_identity_at_strength_zero():
    x = torch.rand(8, 3, 16, 16) * 2 - 1
    g = torch.Generator().manual_seed(0)
    assert torch.equal(translation(x, g, ratio=0.0), x)
    assert torch.equal(cutout(x, g, ratio=0.0), x)
    assert not torch.equal(translation(x, g), x) and not torch.equal(cutout(x, g), x)


def test_translation_shifts_and_cutout_blanks_a_square():
    x = torch.arange(64.0).view(1, 1, 8, 8) / 64
    g = torch.Generator().manual_seed(1)
    shifted = translation(x.expand(64, -1, -1, -1), g, ratio=0.125)  # up to 1 pixel each way
    originals = {tuple(x[0, 0].roll((dy, dx), (0, 1)).flatten().tolist()) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    for img in shifted:
        # Each is the original moved by at most one pixel in each direction, the edge it left padded with zeros.
        nonzero = img[0] != 0
        assert any(torch.equal(img[0][nonzero], torch.tensor(o).view(8, 8)[nonzero]) for o in originals)
    assert len({tuple(img.flatten().tolist()) for img in shifted}) == 9  # all nine shifts occur
    blanked = cutout(torch.ones(32, 1, 8, 8), g, ratio=0.5)
    zeros = (blanked == 0).flatten(1).sum(1)
    assert zeros.max() == 16 and zeros.min() >= 4  # a 4x4 square, clipped at most to 2x2 at a corner


def test_g_gets_gradients_through_diffaugment():
    G = nn.Linear(4, 3 * 8 * 8)
    z = torch.randn(8, 4)
    out = augment(torch.tanh(G(z)).view(8, 3, 8, 8), ("color", "translation", "cutout"), torch.Generator().manual_seed(0))
    out.sum().backward()
    assert G.weight.grad.abs().sum() > 0


def test_diffaugment_changes_what_d_sees_in_both_updates():
    trainer = _trainer("tricks.diffaugment=on")
    seen = []
    trainer.D.features.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    trainer.train_step()
    assert len(seen) == 3  # real, fake (D's update) and fake (G's update)
    real = trainer.sampler.x[:0]  # only the shape is needed
    assert all(s.shape[1:] == real.shape[1:] for s in seen)
    # Cutout leaves exact zeros that no real digit image has at the same places: the inputs are augmented.
    assert all((s == 0).float().mean() > 0.1 for s in seen)


def test_ada_p_rises_when_d_overfits_and_falls_when_it_does_not():
    ada = ADA(ADAConfig(interval=1, speed=640.0, target=0.6), CPU, seed=0)
    for _ in range(5):  # D sure of every real sample: r_t = 1 > 0.6
        ada.observe(torch.full((64,), 3.0))
        ada.adjust(64)
    assert ada.p.item() == pytest.approx(0.5)
    for _ in range(2):  # D unsure: r_t = 0 < 0.6
        ada.observe(torch.tensor([1.0, -1.0] * 32))
        ada.adjust(64)
    assert ada.p.item() == pytest.approx(0.3)
    for _ in range(10):
        ada.observe(torch.full((64,), -1.0))
        ada.adjust(64)
    assert ada.p.item() == 0.0  # clamped to [0, 1]
    # p = 0 leaves D's inputs alone; p = 1 augments every sample.
    x = torch.rand(16, 3, 8, 8) * 2 - 1
    assert torch.equal(ada.d_input(x, None), x)
    ada.p = torch.tensor(1.0)
    assert not torch.equal(ada.d_input(x, None), x)


def test_ada_p_is_logged_and_saved():
    trainer = _trainer("tricks.ada.p=0.2", "tricks.ada.interval=2")
    with collecting(trainer.collector):
        for _ in range(4):
            trainer.train_step()
        row = trainer.collector.collect()
    assert "trick/ada/p" in row and "trick/ada/r_t" in row
    state = trainer.state_dict()["tricks"]["0:tricks.ada"]
    assert state["p"].item() == pytest.approx(trainer.tricks.tricks[0].p.item())


def test_doctor_hint_for_d_wins_reads_adas_p():
    from ganhacks.config import DoctorConfig
    from ganhacks.monitor.doctor import Doctor

    def rows(extra):
        return [{"step": 10 * i, "d_real": 0.99, "d_fake": 0.01, "loss_d": 0.02, **extra} for i in range(1, 12)]

    for extra, fragment in (({}, "tricks.ada"), ({"trick/ada/p": 0.97}, "p=0.97"), ({"trick/ada/p": 0.3}, "p=0.3")):
        doctor = Doctor(DoctorConfig(warmup=0), {"kind": "image"})
        events = [e for r in rows(extra) for e in doctor.observe(r) if e.code == "d_wins"]
        assert events and fragment in events[0].hint, (extra, events[0].hint if events else None)
    doctor = Doctor(DoctorConfig(warmup=0), {"kind": "2d"})  # no image tricks suggested for points
    events = [e for r in rows({}) for e in doctor.observe(r) if e.code == "d_wins"]
    assert events and "tricks.ada" not in events[0].hint


# ----------------------------------------------------------------------------- objectives in training


@pytest.mark.parametrize("loss", ["hinge", "wasserstein", "least_squares", "relativistic"])
def test_each_objective_trains_and_logs_what_applies(loss):
    extra = ["tricks.gradient_penalty=on"] if loss == "wasserstein" else []
    trainer = _trainer(f"loss={loss}", *extra)
    with collecting(trainer.collector):
        for _ in range(5):
            trainer.train_step()
        row = trainer.collector.collect()
    assert all(torch.isfinite(torch.tensor(v)) for v in row.values())
    # A Wasserstein critic's outputs are not probabilities, so no D(real) / D(fake) is logged for it.
    assert ("d_real" in row) == (loss != "wasserstein")


def test_new_trick_settings_fail_before_training():
    for override, fragment in (
        (["data.name=ring8", "tricks.diffaugment=on"], "2D data has none"),
        ([*SMALL, "tricks.diffaugment.policy=color,blur"], "subset of color,translation,cutout"),
        ([*SMALL, "tricks.ada=on", "tricks.diffaugment=on"], "switch one of them off"),
        ([*SMALL, "tricks.r1.every=0"], "tricks.r1.gamma"),
        ([*SMALL, "tricks.ema.half_life=0"], "tricks.ema.half_life"),
        ([*SMALL, "tricks.ada.target=2"], "tricks.ada.target"),
    ):
        with pytest.raises(ConfigError, match=fragment):
            prepare(build_config(overrides=override))


# ----------------------------------------------------------------------------- resume


@pytest.mark.slow
@pytest.mark.parametrize("trick", NEW_TRICKS)
def test_new_tricks_resume_bit_identically(tmp_path, trick):
    on = {"r1": "tricks.r1.every=3", "ada": "tricks.ada.speed=2000"}.get(trick, f"tricks.{trick}=on")
    overrides = [*SMALL, on, "train.steps=12", "checkpoint.every=6", "checkpoint.keep=5", "train.log_every=3"]
    whole = ganhacks.train(build_config(overrides=overrides), out=tmp_path / "whole")
    cut = tmp_path / "cut"
    shutil.copytree(whole.path, cut)
    for path in list_checkpoints(cut / "checkpoints"):
        if path.name != "step_0000006.json":
            remove_checkpoint(path)
    (cut / "verdict.json").unlink()
    resumed = ganhacks.resume(cut)
    assert resumed.step == 12
    rows = [
        [
            {k: v for k, v in json.loads(line).items() if k != "sec_per_step"}
            for line in (p / "metrics.jsonl").read_text().splitlines()
        ]
        for p in (whole.path, cut)
    ]
    assert rows[0] == rows[1]
    for net in ("G", "D"):
        a, b = getattr(whole, net).state_dict(), getattr(resumed, net).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), net


def _trainer(*overrides: str) -> Trainer:
    cfg, data = prepare(build_config(overrides=[*SMALL, *overrides]))
    return Trainer(cfg, data)


# ----------------------------------------------------------------------------- the ResNet


@pytest.mark.parametrize("size", [32, 64, 128])
def test_resnet_shapes_and_blocks(size):
    from ganhacks.models import ResNetDiscriminator, ResNetGenerator
    from ganhacks.models.resnet import DownBlock, UpBlock

    G, D = ResNetGenerator(16, size, 3, ngf=4), ResNetDiscriminator(size, 3, ndf=4)
    x = G(torch.randn(2, 16))
    assert x.shape == (2, 3, size, size) and x.abs().max() <= 1
    logits, features = D.judge(x)
    assert logits.shape == (2,) and features.dim() == 2
    ups = [m for m in G.modules() if isinstance(m, UpBlock)]
    downs = [m for m in D.modules() if isinstance(m, DownBlock)]
    assert len(ups) == {32: 3, 64: 4, 128: 5}[size] and len(downs) == {32: 3, 64: 4, 128: 5}[size]
    assert any(isinstance(m, nn.BatchNorm2d) for m in G.modules())
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) for m in D.modules())  # no normalisation in D


def test_resnet_refuses_other_sizes_and_dcgan_resampling():
    with pytest.raises(ConfigError, match="ResNet supports image sizes 32, 64, 128"):
        Trainer(*prepare(build_config(overrides=[*SMALL, "model.arch=resnet"])))
    with pytest.raises(ConfigError, match="leave them at their defaults"):
        prepare(build_config(overrides=["data.name=mnist5k", "data.size=32", "model.arch=resnet", "model.up=nearest"]))


@pytest.mark.parametrize("trick", ["tricks.pack=on", "tricks.conditional=on", "tricks.minibatch_stddev=on",
                                   "tricks.spectral_norm=on", "tricks.vae=on"])  # fmt: skip
def test_resnet_trains_with_tricks_that_reshape_d(trick):
    cfg, data = prepare(build_config(overrides=["data.name=mnist5k", "data.size=32", "model.arch=resnet", "model.ngf=4",
                                                "model.ndf=4", "train.batch_size=8", trick]))  # fmt: skip
    trainer = Trainer(cfg, data)
    with collecting(trainer.collector):
        for _ in range(2):
            trainer.train_step()
        row = trainer.collector.collect()
    assert all(torch.isfinite(torch.tensor(v)) for v in row.values())


def test_folder_images_at_128_train_with_the_resnet_by_default(tmp_path):
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for i in range(8):
        pixels = (torch.rand(40, 40, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(tmp_path / f"{i}.png")
    cfg = build_config(overrides=[f"data.name=folder:{tmp_path}", "data.size=128", "model.ngf=4", "model.ndf=4",
                                  "train.batch_size=4", "train.steps=2"])  # fmt: skip
    run = ganhacks.train(cfg, out=tmp_path / "runs")
    assert run.config.model.arch == "resnet"
    assert run.sample(2).shape == (2, 3, 128, 128)


def test_tricks_json_lists_every_new_key_as_not_from_the_seed(cli):
    code, out, _ = cli("tricks", "--json")
    rows = json.loads(out)
    new = {f"tricks.{t}" for t in NEW_TRICKS} | {"model.arch"}
    assert {r["key"] for r in rows if r["number"] is None} >= new | {"loss"}
    assert all(r["default"] == "off" for r in rows if r["key"] in new - {"model.arch"})
    later = next(r for r in rows if r["key"] == "loss" and r["number"] is None)
    assert all(name in later["description"] for name in ("hinge", "wasserstein", "least_squares", "relativistic"))


def test_modern_preset_keeps_its_image_settings_for_images_and_leaves_them_out_for_2d_data():
    two_d, _ = prepare(build_config(preset="modern", overrides=["data.name=ring8"]))
    images, _ = prepare(build_config(preset="modern", overrides=["data.name=digits"]))
    for cfg in (two_d, images):
        assert cfg.loss == "hinge" and cfg.tricks.ema is not None
    assert images.tricks.spectral_norm is not None and images.tricks.diffaugment is not None
    assert images.tricks.r1 is not None and images.tricks.r1.gamma == 10.0  # measured to beat SN alone
    # On 2D data spectral norm and R1 held D at chance (grid25 at 20k steps, docs/results.md).
    assert (two_d.tricks.spectral_norm, two_d.tricks.r1, two_d.tricks.diffaugment) == (None, None, None)
    # What the user sets is theirs: only the preset's own settings are left out.
    mine, _ = prepare(build_config(preset="modern", overrides=["data.name=ring8", "tricks.r1.gamma=0.1"]))
    assert mine.tricks.r1 is not None and mine.tricks.r1.gamma == 0.1 and mine.tricks.spectral_norm is None


def test_recommended_keeps_leaky_relu_in_g_for_images_and_leaves_it_out_for_2d_data():
    """LeakyReLU in G hurt grid25's KL at 20k steps (docs/results.md); it helped MNIST's FD."""
    two_d, _ = prepare(build_config(preset="recommended", overrides=["data.name=ring8"]))
    images, _ = prepare(build_config(preset="recommended", overrides=["data.name=digits"]))
    assert images.model.g_act == "leaky_relu" and two_d.model.g_act == "relu"
    for cfg in (two_d, images):  # instance noise stays on both; g_noise left with the adjusted verdicts
        assert cfg.tricks.instance_noise is not None and cfg.tricks.g_noise is None
    plan = Plan(data="grid25", tricks=["preset:recommended"], seeds=1, steps=10)
    arm = next(a for a in plan.arms() if a.role == "add")
    assert not any(o.startswith("model.g_act") for o in arm.overrides)
    assert prepare(plan.config(arm, 0))[0].model.g_act == "relu"
