import pytest
import torch

from ganhacks.config import build_config, resolve
from ganhacks.errors import ConfigError
from ganhacks.models import SUPPORTED_SIZES, DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator, build_models


@pytest.mark.parametrize("size", SUPPORTED_SIZES)
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_dcgan_shapes(size, channels):
    G = DCGANGenerator(z_dim=16, size=size, channels=channels, ngf=8)
    D = DCGANDiscriminator(size=size, channels=channels, ndf=8)
    x = G(torch.randn(5, 16))
    assert x.shape == (5, channels, size, size)
    assert x.abs().max() < 1.0  # tanh output
    logits = D(x)
    assert logits.shape == (5,)


def test_dcgan_64_defaults_match_reference():
    G, D = DCGANGenerator(), DCGANDiscriminator()
    convs = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [tuple(c.weight.shape[:2]) for c in convs] == [(100, 512), (512, 256), (256, 128), (128, 64), (64, 3)]
    dconvs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [tuple(c.weight.shape[:2]) for c in dconvs] == [(64, 3), (128, 64), (256, 128), (512, 256), (1, 512)]
    assert isinstance(list(G.modules())[-1], torch.nn.Tanh)
    assert any(isinstance(m, torch.nn.LeakyReLU) and m.negative_slope == 0.2 for m in D.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules()) == 3  # none on the first layer
    w = convs[1].weight
    assert abs(w.std().item() - 0.02) < 0.002 and abs(w.mean().item()) < 0.002  # N(0, 0.02) init


def test_dcgan_widths_configurable():
    G = DCGANGenerator(z_dim=10, size=32, channels=1, ngf=16)
    assert G.net[0].weight.shape == (10, 64, 4, 4)  # ngf * 4 at the 4x4 base for 32x32
    D = DCGANDiscriminator(size=32, channels=1, ndf=16)
    assert D.features[0].weight.shape == (16, 1, 4, 4)


def test_unsupported_size():
    with pytest.raises(ConfigError, match="DCGAN supports image sizes 8, 16, 28, 32, 64, got 48"):
        DCGANGenerator(size=48)


def test_mlp_protocol_shapes():
    G, D = MLPGenerator(), MLPDiscriminator()
    linears = [m for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [(400, 2), (400, 400), (400, 400), (400, 400), (2, 400)]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in G.modules()) == 4
    assert G(torch.randn(7, 2)).shape == (7, 2)
    assert D(torch.randn(7, 2)).shape == (7,)
    maxouts = [m for m in D.modules() if m.__class__.__name__ == "Maxout"]
    assert len(maxouts) == 3 and all(m.linear.out_features == 1000 for m in maxouts)
    assert abs(maxouts[1].linear.weight.std().item() - 0.02) < 0.002


def test_maxout_takes_max_over_pieces():
    from ganhacks.models.mlp import Maxout

    m = Maxout(1, 2, 3)
    with torch.no_grad():
        m.linear.weight.copy_(torch.tensor([[1.0], [2.0], [3.0], [-1.0], [0.0], [1.0]]))
        m.linear.bias.zero_()
    assert m(torch.tensor([[2.0]])).tolist() == [[6.0, 2.0]]
    assert m(torch.tensor([[-1.0]])).tolist() == [[-1.0, 1.0]]


def test_build_models_from_config():
    cfg = resolve(build_config(overrides=["model.ngf=8", "model.ndf=8"]), kind="image", size=28, channels=1)
    G, D = build_models(cfg, [1, 28, 28])
    assert G(torch.randn(2, 100)).shape == (2, 1, 28, 28)
