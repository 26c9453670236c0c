"""ganhacks trick 7: a VAE-GAN hybrid, where G is also the decoder of a variational autoencoder."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ganhacks.config import VAEConfig
from ganhacks.models.layers import init_normal
from ganhacks.tricks.base import StepContext, Trick


class Encoder(nn.Module):
    """x -> (mu, logvar) of q(z|x), each [N, z_dim]: D's trunk (fresh weights) with a 2 * z_dim head."""

    def __init__(self, D: nn.Module, z_dim: int):
        super().__init__()
        self.trunk = copy.deepcopy(D.features)
        for m in self.trunk.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                init_normal(m)
        head = D.head
        if isinstance(head, nn.Conv2d):
            self.head: nn.Module = nn.Conv2d(head.in_channels, 2 * z_dim, head.kernel_size, head.stride, head.padding)
        else:
            self.head = nn.Linear(head.in_features, 2 * z_dim)
        init_normal(self.head)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.trunk(x)).flatten(1).chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 10.0)  # keeps exp(logvar) finite early in training


class VAEGAN(Trick):
    """Larsen et al. (2016), the seed's trick 7. An encoder (a copy of D's architecture) maps each real
    batch to q(z|x) = N(mu, exp(logvar)); G decodes a reparameterised z ~ q(z|x) back to x. G's loss gains
    ``kl_weight * KL(q || N(0, I)) + recon_weight * ||G(z) - x||^2`` (or the error in D's features), so G
    must cover every real sample, which works against mode collapse. The encoder is a submodule of G, so
    G's optimiser trains it and checkpoints hold it; sampling never uses it."""

    key = "tricks.vae"

    def __init__(self, conf: VAEConfig, device: torch.device, seed: int):
        self.conf = conf
        self.seed_rng(device, seed)
        self.encoder: Encoder | None = None

    def build(self, G: nn.Module, D: nn.Module) -> None:
        self.encoder = Encoder(D, G.z_dim)
        G.encoder = self.encoder

    def extra_g_loss(self, ctx: StepContext) -> torch.Tensor:
        from ganhacks.monitor.stats import report

        x = ctx.real
        mu, logvar = self.encoder(x)
        eps = torch.randn(mu.shape, generator=self.rng, device=mu.device, dtype=mu.dtype)
        recon = ctx.G(mu + eps * (0.5 * logvar).exp(), ctx.labels)
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean()
        if self.conf.recon == "features":
            # D is frozen during G's update, so this trains only G and the encoder.
            _, target = ctx.D.judge(x, ctx.labels)
            _, got = ctx.D.judge(recon, ctx.labels)
            error = F.mse_loss(got.float(), target.detach().float())
        else:
            error = F.mse_loss(recon.float(), x.float())
        report("trick/vae/kl", kl.detach())
        report("trick/vae/recon", error.detach())
        return self.conf.kl_weight * kl + self.conf.recon_weight * error
