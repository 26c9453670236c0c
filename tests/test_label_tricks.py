"""Behaviour tests for the tricks that use class labels (12 AC-GAN, 16 conditional) and for the VAE-GAN (7)."""

import numpy as np
import pytest
import torch

from ganhacks.api import prepare
from ganhacks.config import ReplayConfig, build_config
from ganhacks.errors import ConfigError
from ganhacks.monitor.stats import collecting
from ganhacks.sampling import generate, latents
from ganhacks.training import Trainer
from ganhacks.tricks import StepContext
from ganhacks.tricks.replay import ExperienceReplay

CPU = torch.device("cpu")
SMALL = ["model.ngf=8", "model.ndf=8"]


def trainer(*overrides):
    cfg, data = prepare(build_config(overrides=list(overrides)))
    return Trainer(cfg, data)


def train(t, steps):
    with collecting(t.collector):
        for _ in range(steps):
            t.train_step()
        return t.collector.collect()


def label_match(t, n=800):
    """Fraction of samples drawn for mode k whose nearest ring8 mode is k."""
    y = torch.arange(n) % 8
    x = t.data.to_data_space(generate(t.G, latents(n, 2, 0), labels=y))
    return (torch.cdist(x, t.data.modes).argmin(1) == y).float().mean().item()


def test_2d_mixtures_carry_their_mode_as_label():
    _, data = prepare(build_config(overrides=["data.name=ring8", "data.num_points=2000"]))
    assert data.num_classes == 8 and data.y.shape == (2000,)
    nearest = torch.cdist(data.to_data_space(data.x), data.modes).argmin(1)
    assert torch.equal(nearest, data.y)


def test_conditional_embedding_channels_reach_g_and_d():
    t = trainer("data.name=digits", *SMALL, "tricks.conditional.embed_dim=3")
    first_d = t.D.features[0]
    first_g = t.G.net[0]
    assert first_d.in_channels == 1 + 3 and first_g.in_channels == t.cfg.model.z_dim + 3
    x = t.data.x[:4]
    t.D.eval()
    same_x_other_label = [t.D(x, torch.full((4,), k)) for k in (0, 1)]
    assert not torch.allclose(*same_x_other_label)  # D's output depends on the label it is given
    # and D's loss sends gradient into the label embedding: the channels really are D's input
    train(t, 1)
    assert t.D.condition.embed.weight.grad is not None and t.D.condition.embed.weight.grad.abs().sum() > 0
    z = latents(4, t.cfg.model.z_dim, 0)
    assert not torch.allclose(
        generate(t.G, z, labels=torch.zeros(4, dtype=torch.long)), generate(t.G, z, labels=torch.ones(4, dtype=torch.long))
    )


@pytest.mark.parametrize("trick, need", [("conditional", 0.95), ("acgan", 0.6)])
def test_class_conditional_g_learns_to_follow_its_label(trick, need):
    # ring8's label is the mode a point came from: after a short run, G(z, k) lands on mode k.
    t = trainer("data.name=ring8", "data.num_points=5000", f"tricks.{trick}=on", "train.steps=300")
    before = label_match(t)
    row = train(t, 300)
    assert label_match(t) >= need > before + 0.2
    if trick == "acgan":
        assert "trick/acgan/acc_real" in row and np.isfinite(row["trick/acgan/acc_real"])


def test_acgan_adds_an_auxiliary_head_whose_loss_reaches_g_and_d():
    t = trainer("data.name=digits", *SMALL, "tricks.acgan.weight=2.0")
    assert t.D.aux_head is not None and t.G.condition is not None and t.D.condition is None
    (acgan,) = list(t.tricks)
    feats = torch.randn(5, *t.D.features(t.data.x[:5]).shape[1:])
    labels = torch.tensor([0, 1, 2, 3, 4])
    c = StepContext(0, 1, CPU, t.G, t.D, labels=labels, d_fake_labels=labels, fake_labels=labels,
                    real_features=feats, fake_features=feats, g_features=feats)  # fmt: skip
    ce = torch.nn.functional.cross_entropy(t.D.aux_head(feats).float(), labels)
    with collecting(t.collector):
        assert torch.allclose(acgan.extra_d_loss(c), 2.0 * (ce + ce))
    assert torch.allclose(acgan.extra_g_loss(c), 2.0 * ce)


def test_acgan_and_conditional_together_share_one_g_embedding():
    t = trainer("data.name=digits", *SMALL, "tricks.acgan=on", "tricks.conditional=on")
    assert t.G.net[0].in_channels == t.cfg.model.z_dim + 8  # not widened twice
    assert np.isfinite(list(train(t, 2).values())).all()


@pytest.mark.parametrize("trick", ["conditional", "acgan"])
def test_label_tricks_refuse_unlabelled_data_before_any_folder(cli, tmp_path, trick):
    np.savez(tmp_path / "x.npz", x=np.random.default_rng(0).uniform(-1, 1, (64, 1, 8, 8)).astype(np.float32))
    code, _, err = cli(
        "train", "--data", f"npz:{tmp_path / 'x.npz'}", "--set", f"tricks.{trick}=on", "--out", str(tmp_path / "runs")
    )
    assert code == 2 and f"tricks.{trick} needs class labels" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["tricks.conditional=on", "tricks.pack=on"], "tricks.pack cannot keep"),
        (["tricks.acgan=on", "tricks.pack=on"], "tricks.pack cannot keep"),
        (["tricks.vae=on", "latent=uniform"], "needs latent=gaussian"),
        (["tricks.vae.recon=features", "tricks.pack=on"], "use recon=pixel"),
        (["tricks.conditional.embed_dim=0"], "must be a positive number"),
    ],
)
def test_incompatible_label_and_vae_settings_fail_in_one_sentence(overrides, fragment):
    with pytest.raises(ConfigError) as e:
        build_config(overrides=overrides)
    assert fragment in str(e.value)


def test_replay_keeps_each_replayed_fake_with_its_label():
    replay = ExperienceReplay(ReplayConfig(size=100, p=1.0), CPU, seed=0)
    old = torch.arange(100, dtype=torch.float32).view(100, 1)  # sample i holds value i ...
    c = StepContext(0, 1, CPU, torch.nn.Identity(), torch.nn.Identity(), d_fake_labels=torch.arange(100) % 7)
    replay.fake_for_d(old, c)
    c.d_fake_labels = torch.full((100,), -1)
    out = replay.fake_for_d(torch.full((100, 1), -5.0), c)  # p = 1: every sample comes from the buffer
    assert torch.equal(c.d_fake_labels, out.view(-1).long() % 7)  # ... and label i % 7


def test_vae_encoder_trains_and_reconstruction_improves():
    t = trainer("data.name=digits", "model.ngf=16", "model.ndf=16", "tricks.vae=on", "train.steps=200")
    assert any(name.startswith("encoder.") for name, _ in t.G.named_parameters())  # G's optimiser trains it
    first = train(t, 20)
    for _ in range(3):
        last = train(t, 60)
    assert last["trick/vae/recon"] < 0.75 * first["trick/vae/recon"]
    assert np.isfinite(last["trick/vae/kl"])
    x = t.data.x[:16]
    mu, _ = t.G.encoder(x)
    assert mu.shape == (16, t.cfg.model.z_dim)


def test_vae_feature_reconstruction_trains_g_not_d():
    t = trainer("data.name=ring8", "data.num_points=2000", "tricks.vae.recon=features")
    before = {k: v.clone() for k, v in t.D.state_dict().items()}
    (vae,) = list(t.tricks)
    real, _ = t.sampler.next()
    c = StepContext(0, 1, CPU, t.G, t.D, real=real)
    t.D.requires_grad_(False)
    with collecting(t.collector):
        vae.extra_g_loss(c).backward()
    t.D.requires_grad_(True)
    assert all(p.grad is None for p in t.D.parameters())
    assert all(p.grad is not None for p in t.G.encoder.parameters())
    assert all(torch.equal(before[k], v) for k, v in t.D.state_dict().items())


def test_sample_label_for_conditional_runs_and_its_errors(cli, tmp_path):
    args = ["--steps", "2", "--quiet", "--out", str(tmp_path)]
    code, out, err = cli("train", "--data", "ring8", "--set", "data.num_points=1000", "--set", "tricks.conditional=on", *args)
    assert code == 0, err
    run = out.strip()
    assert cli("sample", run, "--label", "3", "--out", str(tmp_path / "three.png"))[0] == 0
    code, _, err = cli("sample", run, "--label", "8", "--out", str(tmp_path / "bad.png"))
    assert code == 2 and "must be a class in 0..7" in err
    code, out, _ = cli("train", "--data", "ring8", "--set", "data.num_points=1000", *args)
    code, _, err = cli("sample", out.strip(), "--label", "1", "--out", str(tmp_path / "plain.png"))
    assert code == 2 and "not class-conditional" in err
