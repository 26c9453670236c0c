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
