"""Generators and discriminators, built from a resolved config."""

from __future__ import annotations

from torch import nn

from ganhacks.config import RunConfig
from ganhacks.models.dcgan import SUPPORTED_SIZES, DCGANDiscriminator, DCGANGenerator
from ganhacks.models.mlp import MLPDiscriminator, MLPGenerator
from ganhacks.models.resnet import ResNetDiscriminator, ResNetGenerator

__all__ = [
    "SUPPORTED_SIZES",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "build_models",
]


def build_models(cfg: RunConfig, shape: list[int]) -> tuple[nn.Module, nn.Module]:
    """(G, D) for data whose per-sample shape is ``shape``: [2] for points, [C, H, W] for images."""
    m = cfg.model
    if m.arch == "mlp":
        dim = shape[0]
        G = MLPGenerator(m.z_dim, m.mlp_g_hidden, m.mlp_g_layers, dim, norm=m.g_norm, act=m.g_act)
        D = MLPDiscriminator(dim, m.mlp_d_hidden, m.mlp_d_layers, m.mlp_d_pieces, norm=m.d_norm)
    elif m.arch == "resnet":
        channels, size = shape[0], shape[-1]
        G = ResNetGenerator(m.z_dim, size, channels, m.ngf, norm=m.g_norm, act=m.g_act)
        D = ResNetDiscriminator(size, channels, m.ndf, norm=m.d_norm, act=m.d_act)
    else:
        channels, size = shape[0], shape[-1]
        G = DCGANGenerator(m.z_dim, size, channels, m.ngf, norm=m.g_norm, act=m.g_act, up=m.up)
        D = DCGANDiscriminator(size, channels, m.ndf, norm=m.d_norm, act=m.d_act, down=m.down)
    return G, D
