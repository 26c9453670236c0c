import math

import pytest
import torch

from ganhacks import losses


def softplus(v):
    return math.log1p(math.exp(v))


def t(*v):
    return torch.tensor(v, dtype=torch.float64, requires_grad=True)


def test_d_loss_hand_computed():
    # logit 0 on both: -log(1/2) twice = 2 log 2
    assert losses.d_loss(t(0.0), t(0.0)).item() == pytest.approx(2 * math.log(2), abs=1e-12)
    # D right and confident: real 3, fake -3 -> softplus(-3) + softplus(-3)
    assert losses.d_loss(t(3.0), t(-3.0)).item() == pytest.approx(2 * softplus(-3.0), abs=1e-12)
    # D wrong and confident: real -3, fake 3 -> 2 softplus(3) (large)
    assert losses.d_loss(t(-3.0), t(3.0)).item() == pytest.approx(2 * softplus(3.0), abs=1e-12)
    # soft targets: BCE(l, y) = softplus(l) - y l
    assert losses.d_loss(t(1.0), t(-2.0), 0.9, 0.1).item() == pytest.approx(
        softplus(1.0) - 0.9 * 1.0 + softplus(-2.0) - 0.1 * -2.0, abs=1e-12
    )


def test_d_loss_gradient_directions():
    real, fake = t(0.5, -0.5), t(0.5, -0.5)
    losses.d_loss(real, fake).backward()
    assert (real.grad < 0).all()  # raise real logits
    assert (fake.grad > 0).all()  # lower fake logits


def test_generator_losses_hand_computed():
    assert losses.g_nonsaturating(t(0.0)).item() == pytest.approx(math.log(2), abs=1e-12)
    assert losses.g_nonsaturating(t(2.0, -1.0)).item() == pytest.approx((softplus(-2.0) + softplus(1.0)) / 2, abs=1e-12)
    assert losses.g_minimax(t(0.0)).item() == pytest.approx(-math.log(2), abs=1e-12)
    assert losses.g_minimax(t(-4.0)).item() == pytest.approx(-softplus(-4.0), abs=1e-12)


def test_generator_losses_push_fake_logits_up_and_saturation_differs():
    for fn in (losses.g_nonsaturating, losses.g_minimax):
        z = t(0.0)
        fn(z).backward()
        assert z.grad.item() < 0  # descending raises D(G(z))
    # Where D confidently rejects fakes (logit -10), the minimax gradient vanishes and the
    # non-saturating one does not: the reason for ganhacks trick 2.
    a, b = t(-10.0), t(-10.0)
    losses.g_nonsaturating(a).backward()
    losses.g_minimax(b).backward()
    assert abs(a.grad.item()) == pytest.approx(1 / (1 + math.exp(-10)), rel=1e-9)
    assert abs(b.grad.item()) == pytest.approx(1 / (1 + math.exp(10)), rel=1e-9)
    assert abs(a.grad.item()) > 1e4 * abs(b.grad.item())


def test_losses_finite_at_extreme_logits():
    big = torch.tensor([1e4, -1e4])
    assert torch.isfinite(losses.d_loss(big, -big))
    assert torch.isfinite(losses.g_nonsaturating(big)) and torch.isfinite(losses.g_minimax(big))


# ----------------------------------------------------------------------------- the later objectives


def grads(fn, real, fake):
    r, f = t(*real), t(*fake)
    fn(r, f).backward()
    return r.grad, f.grad


def test_hinge_hand_computed_on_both_sides_of_the_margin():
    # real 2 (beyond the margin: 0), real 0.5 (inside: 0.5); fake -3 (beyond: 0), fake 0 (inside: 1)
    assert losses.d_hinge(t(2.0, 0.5), t(-3.0, 0.0)).item() == pytest.approx((0 + 0.5) / 2 + (0 + 1) / 2, abs=1e-12)
    assert losses.g_hinge(t(2.0, -1.0)).item() == pytest.approx(-0.5, abs=1e-12)
    real_grad, fake_grad = grads(losses.d_hinge, (2.0, 0.5), (-3.0, 0.0))
    # Descending D's loss raises the real logit inside the margin and lowers the fake one; beyond it, nothing.
    assert real_grad.tolist() == [0.0, -0.5] and fake_grad.tolist() == [0.0, 0.5]


def test_wasserstein_hand_computed_and_directions():
    assert losses.d_wasserstein(t(1.0, 3.0), t(-1.0, 0.0)).item() == pytest.approx(-0.5 - 2.0, abs=1e-12)
    real_grad, fake_grad = grads(losses.d_wasserstein, (1.0, 3.0), (-1.0, 0.0))
    assert (real_grad < 0).all() and (fake_grad > 0).all()  # the critic raises reals and lowers fakes
    z = t(0.3)
    losses.g_hinge(z).backward()
    assert z.grad.item() < 0  # G raises the critic's value of its fakes


def test_least_squares_hand_computed_and_directions():
    # 1/2 mean (r - 1)^2 + 1/2 mean f^2, on both sides of each target
    value = losses.d_least_squares(t(1.5, 0.0), t(-0.5, 1.0)).item()
    assert value == pytest.approx(0.5 * (0.25 + 1.0) / 2 + 0.5 * (0.25 + 1.0) / 2, abs=1e-12)
    real_grad, fake_grad = grads(losses.d_least_squares, (1.5, 0.0), (-0.5, 1.0))
    # A real above its target 1 is pulled down, one below is pushed up; the same around the fakes' 0.
    assert real_grad.tolist() == pytest.approx([0.25, -0.5]) and fake_grad.tolist() == pytest.approx([-0.25, 0.5])
    assert losses.d_least_squares(t(0.9), t(0.1), 0.9, 0.1).item() == pytest.approx(0.0, abs=1e-12)  # soft targets
    assert losses.g_least_squares(t(0.0, 3.0)).item() == pytest.approx(0.5 * (1.0 + 4.0) / 2, abs=1e-12)


def test_relativistic_hand_computed_and_directions():
    real, fake = (1.0, 3.0), (0.0, -2.0)  # mean real 2, mean fake -1
    expect_d = (softplus(-(1 + 1)) + softplus(-(3 + 1))) / 2 + (softplus(0 - 2) + softplus(-2 - 2)) / 2
    assert losses.d_relativistic(t(*real), t(*fake)).item() == pytest.approx(expect_d, abs=1e-12)
    expect_g = (softplus(-(0 - 2)) + softplus(-(-2 - 2))) / 2 + (softplus(1 + 1) + softplus(3 + 1)) / 2
    assert losses.g_relativistic(t(*fake), t(*real)).item() == pytest.approx(expect_g, abs=1e-12)
    real_grad, fake_grad = grads(losses.d_relativistic, real, fake)
    assert (real_grad < 0).all() and (fake_grad > 0).all()
    f, r = t(*fake), t(*real)
    losses.g_relativistic(f, r).backward()
    assert (f.grad < 0).all() and (r.grad > 0).all()  # G's loss wants fakes up and reals down, relatively


@pytest.mark.parametrize("name", sorted(losses.OBJECTIVES))
def test_every_objective_is_per_run_and_finite(name):
    """[K, N] logits give [K] losses, each equal to that run's loss on its own [N]."""
    o = losses.OBJECTIVES[name]
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(3, 8, generator=g), torch.randn(3, 8, generator=g)
    ones, zeros = torch.ones(3, 8), torch.zeros(3, 8)
    d, gl = o.d_loss(real, fake, ones, zeros), o.g_loss(fake, real)
    assert d.shape == (3,) and gl.shape == (3,)
    for k in range(3):
        assert o.d_loss(real[k], fake[k], ones[k], zeros[k]).item() == pytest.approx(d[k].item(), rel=1e-6)
        assert o.g_loss(fake[k], real[k]).item() == pytest.approx(gl[k].item(), rel=1e-6)
    big = torch.tensor([1e4, -1e4])
    assert torch.isfinite(o.d_loss(big, -big, torch.ones(2), torch.zeros(2))) and torch.isfinite(o.g_loss(big, -big))


def test_hinge_and_wasserstein_refuse_target_tricks():
    from ganhacks.config import build_config
    from ganhacks.errors import ConfigError

    with pytest.raises(ConfigError, match="does not have"):
        build_config(overrides=["data.name=ring8", "loss=hinge", "tricks.label_smoothing=on"])
    build_config(overrides=["data.name=ring8", "loss=least_squares", "tricks.label_smoothing=on"])
