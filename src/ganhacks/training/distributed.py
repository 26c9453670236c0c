"""One run on several processes: ``torchrun --nproc_per_node=N -m ganhacks train ...``.

PyTorch's own machinery does the work: ``torch.distributed`` (NCCL on GPUs, gloo on the CPU) and
``DistributedDataParallel`` around G and D, which averages their gradients across the ranks in the
backward pass. What ganhacks adds is what a GAN step needs around that:

- **The batch.** ``train.batch_size`` is the global batch. Every rank keeps the same data order, z
  and label streams (they are seeded alike and advance alike), draws the global batch's indices and
  latents, and takes its own contiguous share of them (:attr:`World.shard`). So N ranks of B/N see
  exactly the samples one process of B would, and every rank's sampler state is the one a checkpoint
  holds.
- **Statistics.** Each logged number is the mean over the ranks of the rank's own mean
  (:meth:`World.mean`), so a row reads as one process's over the global batch. Gradient norms are
  already global (the gradients are).
- **Agreement.** A step's update is skipped on every rank if any rank's loss or gradient is not
  finite; a stop asked on any rank (a signal) stops all of them at the same step; the doctor decides
  on rank 0 and every rank acts on its stop or rollback together (:meth:`World.broadcast`).
- **Files.** Only rank 0 writes the run folder, samples, checkpoints and event files.
- **Other random draws** (a trick's noise or augmentation, from its own generator or the global RNG)
  are re-seeded on ranks above 0 from the seed, the step and the rank (:func:`reseed`), so each rank
  draws independent noise for its own samples.

SyncBatchNorm (``train.sync_bn``) is PyTorch's, and PyTorch runs it on GPUs only.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ganhacks.errors import ConfigError
from ganhacks.training.stack import SingleD


@dataclass
class World:
    """This process's place among the ranks of one run."""

    rank: int
    size: int
    local_rank: int
    backend: str

    @property
    def main(self) -> bool:
        """Whether this rank writes the run's files and hosts the doctor."""
        return self.rank == 0

    def shard(self, batch: int) -> slice:
        """This rank's contiguous share of a global batch of ``batch``."""
        if batch % self.size:
            raise ConfigError(
                f"train.batch_size ({batch}) must be divisible by the number of processes ({self.size}), "
                "because each rank takes an equal share of the global batch; choose another batch size or --nproc_per_node."
            )
        share = batch // self.size
        return slice(self.rank * share, (self.rank + 1) * share)

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean over the ranks of ``values`` (the same shape on every rank)."""
        out = values.detach().clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out / self.size

    def all_true(self, mask: torch.Tensor) -> torch.Tensor:
        """Elementwise: true where ``mask`` is true on every rank."""
        out = mask.to(torch.int32)
        dist.all_reduce(out, op=dist.ReduceOp.MIN)
        return out.bool()

    def any_rank(self, flag: bool, device: torch.device) -> bool:
        """Whether ``flag`` is true on any rank (a collective: every rank must ask)."""
        t = torch.tensor([int(flag)], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def broadcast(self, value: Any = None) -> Any:
        """Rank 0's ``value`` on every rank (a collective: every rank must call it)."""
        box = [value if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        dist.barrier()

    def same(self, value: torch.Tensor) -> bool:
        """Whether the scalar ``value`` is the same on every rank (a collective)."""
        both = torch.stack([value, -value]).to(torch.float64)
        dist.all_reduce(both, op=dist.ReduceOp.MAX)
        return bool(both[0] == -both[1])


def fingerprint(*modules: nn.Module) -> torch.Tensor:
    """A number that every rank computes alike when the modules' weights are equal. Buffers are left
    out: BatchNorm's running statistics follow each rank's own share until DDP's next forward
    broadcasts rank 0's (whose are the ones checkpoints, samples and evaluations use)."""
    total = torch.zeros((), dtype=torch.float64)
    for m in modules:
        for i, t in enumerate(m.parameters()):
            total = total + (i + 1) * t.detach().double().abs().sum().cpu() + t.detach().double().flatten()[:1].sum().cpu()
    return total


_WORLD: World | None = None


def current() -> World | None:
    """The world this process is a rank of, or None for a plain single-process run."""
    return _WORLD


def launched() -> bool:
    """Whether this process was started by torchrun (or another launcher) as one of several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device: str = "auto") -> World | None:
    """Join the process group torchrun set up (its RANK, WORLD_SIZE, MASTER_ADDR... variables), once:
    NCCL when the run is on CUDA, gloo on the CPU. None when this process runs alone."""
    global _WORLD
    if _WORLD is not None or not launched():
        return _WORLD
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        if not torch.cuda.is_available():
            raise ConfigError("train.device asks for CUDA but no CUDA device is available; use train.device=cpu.")
        torch.cuda.set_device(local_rank)
    backend = "nccl" if cuda else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    _WORLD = World(dist.get_rank(), dist.get_world_size(), local_rank, backend)
    return _WORLD


def close(synchronise: bool = False) -> None:
    """Leave the process group (at the end of ``ganhacks train`` under torchrun). With ``synchronise``
    (a run that ended normally on every rank) the ranks meet first, so that none tears its group down
    while another still talks to it: a rank that left early was seen to abort ("terminate called
    without an active exception") in a test of the doctor's stop. After an error they do not wait, as
    the other ranks may never arrive.

    The run's DistributedDataParallel wrappers hold the process group too, and the trainer that owns
    them sits in reference cycles, which only the garbage collector frees: collected at interpreter
    exit instead, gloo's threads would be torn down while Python is half gone, which can abort the
    process (SIGABRT) after a run that succeeded. So they are collected here, first."""
    global _WORLD
    if dist.is_initialized():
        gc.collect()
        if synchronise:
            dist.barrier()
        dist.destroy_process_group()
    _WORLD = None


def rank_device(device: torch.device, world: World) -> torch.device:
    """Each rank's own GPU under torchrun (``cuda`` means the rank's local GPU); the CPU as it is."""
    if device.type == "cuda":
        return torch.device("cuda", world.local_rank)
    return device


class Judge(nn.Module):
    """D's ``judge`` as a module's ``forward``: DistributedDataParallel syncs what goes through forward."""

    def __init__(self, D: nn.Module):
        super().__init__()
        self.D = D

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.D.judge(x, y)


def wrap(G: nn.Module, D: nn.Module, device: torch.device, sync_bn: bool) -> tuple[nn.Module, nn.Module]:
    """G and D's judge, each in DistributedDataParallel (which starts by giving every rank rank 0's
    weights and buffers); with ``sync_bn`` their BatchNorm layers become SyncBatchNorm first (in place,
    so the run's own modules and checkpoints see the same parameters)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    if sync_bn:
        if device.type != "cuda":
            raise ConfigError(
                "train.sync_bn needs CUDA devices (PyTorch's SyncBatchNorm runs on GPUs only); "
                "on the CPU leave it off, and each rank's BatchNorm normalises its own share of the batch."
            )
        # In place: the new layers take over the old ones' parameters and buffers.
        nn.SyncBatchNorm.convert_sync_batchnorm(G)
        nn.SyncBatchNorm.convert_sync_batchnorm(D)
    ids = [device.index] if device.type == "cuda" else None
    return DDP(G, device_ids=ids), DDP(Judge(D), device_ids=ids)


class DistD(SingleD):
    """D under DDP, as the step calls it: its judgement goes through DDP's forward (``ddp_judge``,
    a :class:`Judge` of D), except while the step freezes D (G's update), when D is called directly:
    its weights take no gradient then, and DDP would wait for one."""

    def __init__(self, D: nn.Module, ddp_judge: nn.Module):
        super().__init__(D)
        self.ddp = ddp_judge  # shares D's parameters, which parameters() lists once
        self.frozen = False

    def requires_grad_(self, requires_grad: bool = True) -> DistD:
        self.frozen = not requires_grad
        return super().requires_grad_(requires_grad)

    def _judge(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        return super()._judge(x, y) if self.frozen else self.ddp(x, y)


def average_grads(params: list[torch.Tensor], world: World) -> None:
    """Average the gradients of ``params`` over the ranks, for a backward outside DDP's forward (a
    trick's update phase of its own, such as lazy R1)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world.size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def reseed(seed: int, step: int, rank: int, tricks: Any = ()) -> None:
    """Give rank > 0 random streams of its own for what is not shared (the global RNG, and each trick's
    own: noise, augmentation), seeded from the run's seed, the step and the rank. Rank 0 keeps the
    streams a checkpoint holds; the other ranks' restart here at each start, resume and rollback."""
    if not rank:
        return
    from ganhacks.training.loop import seed_everything

    base = seed + 1_000_003 * rank + 7919 * step
    seed_everything(base)
    for i, trick in enumerate(tricks):
        if getattr(trick, "rng", None) is not None:
            trick.rng.manual_seed(base + 101 * (i + 1))
