"""K runs as one model: what the step calls for a stack, in one of two layouts.

Every run is first built exactly as a single run builds it (its seed, its init, its tricks' ``build``).
Then, for the step:

- *per run* (:class:`RunsG`, :class:`RunsD`; the default on the CPU, where batching gains little):
  each run keeps its own modules and optimiser, and the step calls them one by one, on copies of its
  slices in memory of their own. A run's numbers are then the same, to the bit, as alone, whatever K
  and whichever runs share its stack. (Batched kernels reorder float sums, and even the same kernel
  rounds differently on a view that starts mid-cache-line; Adam amplifies such last-bit differences
  into ~1e-3 of a loss within 100 steps.)
- *batched* (:func:`stack_networks` with ``batched=True``; the default on CUDA): the K runs' weights
  move into one tensor per layer, ``[K, ...]``, and each run's own module is left holding *views* of
  its slice. An MLP layer is one ``bmm`` over ``[K, N, C]``; a DCGAN layer one grouped convolution
  (``groups=K``) over ``[N, K*C, H, W]`` (run k's channels are the k-th block), where BatchNorm over
  K*C channels is per run by construction. Each run's own module always holds that run's current
  weights: sampling, the doctor's probe, evaluation and checkpoints use it as they use a single
  run's network, and loading a checkpoint into it writes straight into the stack.

At the networks' edges every tensor is ``[K, N, ...]`` either way.

A network with a layer the batched layout does not know (minibatch layers, class conditioning, a
VAE's encoder) cannot be stacked: :class:`NotStackable` says which layer, and such a run trains alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganhacks.models.mlp import Maxout


class NotStackable(Exception):
    """The networks hold a layer (or a trick) that stacked runs do not support."""


def _share(parent: nn.Module, name: str, stacked: torch.Tensor, k: int, buffer: bool = False) -> None:
    """Make ``parent.name`` a view of run k's slice of ``stacked`` (a Parameter, or a buffer)."""
    if buffer:
        setattr(parent, name, stacked[k])
    else:
        setattr(parent, name, nn.Parameter(stacked.data[k], requires_grad=getattr(parent, name).requires_grad))


def _stack_param(mods: list[nn.Module], name: str) -> nn.Parameter | None:
    first = getattr(mods[0], name)
    if first is None:
        return None
    p = nn.Parameter(torch.stack([getattr(m, name).detach() for m in mods]).contiguous())
    for k, m in enumerate(mods):
        _share(m, name, p, k)
    return p


def _stack_buffer(mods: list[nn.Module], name: str) -> torch.Tensor | None:
    if getattr(mods[0], name, None) is None:
        return None
    b = torch.stack([getattr(m, name).detach() for m in mods]).contiguous()
    for k, m in enumerate(mods):
        _share(m, name, b, k, buffer=True)
    return b


class _Stacked(nn.Module):
    """A stacked layer: ``_runs`` keeps the K runs' own modules (for their forward hooks)."""

    def __init__(self, mods: list[nn.Module], conv: bool):
        super().__init__()
        self.K = len(mods)
        self.conv = conv  # activations in the grouped-channel layout [N, K*C, H, W]
        self._runs = mods  # a plain list: not submodules, so their views are not the stack's parameters
        # A trick (g_noise) may hook a run's activations in its build, before the stack is made; the
        # stack calls each run's hooks on its slice.
        self._hooked = [(k, m) for k, m in enumerate(mods) if m._forward_hooks]

    def reshare(self) -> None:
        """Point each run's own parameters at its slice of the stack's again (after they moved)."""
        for name, p in self.named_parameters(recurse=False):
            for k, m in enumerate(self._runs):
                getattr(m, name).data = p.data[k]

    def slice(self, x: torch.Tensor, k: int) -> torch.Tensor:
        if self.conv:
            c = x.shape[1] // self.K
            return x[:, k * c : (k + 1) * c]
        return x[k]

    def join(self, parts: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(parts, dim=1) if self.conv else torch.stack(parts)

    def hooked(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if not self._hooked:
            return out
        parts = [self.slice(out, k) for k in range(self.K)]
        for k, m in self._hooked:
            for hook in m._forward_hooks.values():
                result = hook(m, (self.slice(x, k),), parts[k])
                if result is not None:
                    parts[k] = result
        return self.join(parts)


class StackedLinear(_Stacked):
    """K Linear layers as one batched matmul: [K, N, in] -> [K, N, out]."""

    def __init__(self, mods: list[nn.Linear]):
        super().__init__(mods, conv=False)
        self.weight = _stack_param(mods, "weight")  # [K, out, in]
        self.bias = _stack_param(mods, "bias")  # [K, out]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.transpose(1, 2)
        if self.bias is None:
            return torch.bmm(x, w)
        return torch.baddbmm(self.bias.unsqueeze(1), x, w)


class StackedMaxout(_Stacked):
    def __init__(self, mods: list[Maxout]):
        super().__init__(mods, conv=False)
        self.out_features, self.pieces = mods[0].out_features, mods[0].pieces
        self.linear = StackedLinear([m.linear for m in mods])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, n = x.shape[:2]
        return self.linear(x).view(k, n, self.out_features, self.pieces).amax(dim=-1)


class _StackedBatchNorm(_Stacked):
    """Per-run BatchNorm by torch's own batch_norm over K*C channels: each run's own batch statistics
    and running averages (views of the stack's, updated in place)."""

    def __init__(self, mods: list[nn.Module], conv: bool):
        super().__init__(mods, conv)
        m = mods[0]
        self.eps, self.momentum = m.eps, m.momentum
        self.weight, self.bias = _stack_param(mods, "weight"), _stack_param(mods, "bias")
        self.running_mean = _stack_buffer(mods, "running_mean")
        self.running_var = _stack_buffer(mods, "running_var")
        self.num_batches_tracked = _stack_buffer(mods, "num_batches_tracked")

    def norm(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [N, K*C, ...] normalised per channel, as each run's own BatchNorm would in training."""
        if not self.training:
            raise NotStackable("stacked networks only train; each run's own module samples in eval mode")
        if self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        return F.batch_norm(
            x, _flat(self.running_mean), _flat(self.running_var), _flat(self.weight), _flat(self.bias), True, self.momentum,
            self.eps,
        )  # fmt: skip


class StackedBatchNorm1d(_StackedBatchNorm):
    """K BatchNorm1d over [K, N, C], computed over [N, K*C]."""

    def __init__(self, mods: list[nn.BatchNorm1d]):
        super().__init__(mods, conv=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, n, c = x.shape
        return self.norm(x.transpose(0, 1).reshape(n, k * c)).view(n, k, c).transpose(0, 1)


class StackedBatchNorm2d(_StackedBatchNorm):
    """K BatchNorm2d as one over K*C channels: per run and channel, which is per run by construction."""

    def __init__(self, mods: list[nn.BatchNorm2d]):
        super().__init__(mods, conv=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


class StackedLayerNorm(_Stacked):
    def __init__(self, mods: list[nn.LayerNorm]):
        super().__init__(mods, conv=False)
        self.shape, self.eps = mods[0].normalized_shape, mods[0].eps
        self.weight, self.bias = _stack_param(mods, "weight"), _stack_param(mods, "bias")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x, self.shape, eps=self.eps)
        return y * self.weight.unsqueeze(1) + self.bias.unsqueeze(1) if self.weight is not None else y


class StackedConv(_Stacked):
    """K Conv2d (or ConvTranspose2d) layers as one grouped convolution over [N, K*C, H, W]."""

    def __init__(self, mods: list[nn.Conv2d] | list[nn.ConvTranspose2d]):
        super().__init__(mods, conv=True)
        m = mods[0]
        self.transposed = isinstance(m, nn.ConvTranspose2d)
        self.stride, self.padding, self.dilation = m.stride, m.padding, m.dilation
        self.output_padding = getattr(m, "output_padding", 0)
        self.weight = _stack_param(mods, "weight")  # [K, out, in, kh, kw] (transposed: [K, in, out, kh, kw])
        self.bias = _stack_param(mods, "bias")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.weight.reshape(-1, *self.weight.shape[2:]), _flat(self.bias)
        if self.transposed:
            return F.conv_transpose2d(x, w, b, self.stride, self.padding, self.output_padding, self.K, self.dilation)
        return F.conv2d(x, w, b, self.stride, self.padding, self.dilation, self.K)


class StackedInstanceNorm2d(_Stacked):
    def __init__(self, mods: list[nn.InstanceNorm2d]):
        super().__init__(mods, conv=True)
        self.eps = mods[0].eps
        self.weight, self.bias = _stack_param(mods, "weight"), _stack_param(mods, "bias")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, weight=_flat(self.weight), bias=_flat(self.bias), eps=self.eps)


class StackedGroupNorm(_Stacked):
    """GroupNorm(G, C) of each run as GroupNorm(K*G, K*C): groups never straddle two runs."""

    def __init__(self, mods: list[nn.GroupNorm]):
        super().__init__(mods, conv=True)
        self.groups, self.eps = mods[0].num_groups, mods[0].eps
        self.weight, self.bias = _stack_param(mods, "weight"), _stack_param(mods, "bias")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, self.K * self.groups, _flat(self.weight), _flat(self.bias), self.eps)


class StackedElementwise(_Stacked):
    """An activation, pooling or resampling layer that treats runs alike: applied to the whole stack,
    then each run's forward hooks (if a trick added any) on its own slice."""

    def __init__(self, mods: list[nn.Module], conv: bool):
        super().__init__(mods, conv)
        self.fn = _functional(mods[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hooked(x, self.fn(x))


def _flat(t: torch.Tensor | None) -> torch.Tensor | None:
    """A stacked [K, C] parameter or buffer as the [K*C] channels of the grouped layout (a view)."""
    return t.reshape(-1) if t is not None else None


def _functional(m: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The layer's function, never in place (a run's hooks may still need its input)."""
    if isinstance(m, nn.LeakyReLU):
        slope = m.negative_slope
        return lambda x: F.leaky_relu(x, slope)
    if isinstance(m, nn.ReLU):
        return F.relu
    if isinstance(m, nn.Tanh):
        return torch.tanh
    if isinstance(m, nn.Identity):
        return lambda x: x
    if isinstance(m, (nn.Upsample, nn.PixelShuffle, nn.AvgPool2d, nn.MaxPool2d)):
        return m.forward  # per channel, and PixelShuffle's blocks of r^2 channels never straddle two runs
    raise NotStackable(f"layer {type(m).__name__}")


_ELEMENTWISE = (nn.LeakyReLU, nn.ReLU, nn.Tanh, nn.Identity, nn.Upsample, nn.PixelShuffle, nn.AvgPool2d, nn.MaxPool2d)


_BUILDERS: dict[type, tuple[bool | None, Callable[..., nn.Module]]] = {
    # layer type: (True: convolutional stacks only, False: MLP stacks only, None: both), its stacked form
    nn.Linear: (False, StackedLinear),
    Maxout: (False, StackedMaxout),
    nn.BatchNorm1d: (False, StackedBatchNorm1d),
    nn.LayerNorm: (False, StackedLayerNorm),
    nn.Conv2d: (True, StackedConv),
    nn.ConvTranspose2d: (True, StackedConv),
    nn.BatchNorm2d: (True, StackedBatchNorm2d),
    nn.InstanceNorm2d: (True, StackedInstanceNorm2d),
    nn.GroupNorm: (True, StackedGroupNorm),
}


def stack_layer(mods: list[nn.Module], conv: bool, build: bool = True) -> nn.Module | None:
    """One stacked layer (or Sequential) from the same layer of K runs; with ``build=False`` only check
    that it can be stacked (raising :class:`NotStackable` if not) and change nothing."""
    m = mods[0]
    if any(type(x) is not type(m) for x in mods):
        raise NotStackable(f"runs differ in a layer ({', '.join(sorted({type(x).__name__ for x in mods}))})")
    if m._forward_pre_hooks or (not isinstance(m, _ELEMENTWISE) and m._forward_hooks):
        raise NotStackable(f"a hook on layer {type(m).__name__}")
    if type(m) is nn.Sequential:
        layers = [stack_layer([x[i] for x in mods], conv, build) for i in range(len(m))]
        return nn.Sequential(*layers) if build else None
    if type(m) in _BUILDERS:
        where, builder = _BUILDERS[type(m)]
        if where is not None and where != conv:
            raise NotStackable(f"layer {type(m).__name__} in a {'convolutional' if conv else 'fully connected'} network")
        if type(m) in (nn.Conv2d, nn.ConvTranspose2d) and (m.groups != 1 or m.padding_mode != "zeros"):
            raise NotStackable(f"a {type(m).__name__} with groups or padding modes of its own")
        if type(m) is nn.InstanceNorm2d and m.track_running_stats:
            raise NotStackable("an InstanceNorm2d that tracks running statistics")
        return builder(mods) if build else None
    if isinstance(m, _ELEMENTWISE):
        _functional(m)
        return StackedElementwise(mods, conv) if build else None
    raise NotStackable(f"layer {type(m).__name__}")


# --------------------------------------------------------------------------- the networks the step sees


class StepNets(nn.Module):
    """What the step calls: G on ``[K, N, z_dim]`` latents, D's judge on ``[K, N, ...]`` batches."""

    K: int
    per_run = True
    """Whether each run computes on its own tensors (the step then computes losses per run too:
    vectorised exp and log round an element differently depending on where it falls in the vector
    loop, so a run's loss over [K, N] is not, to the bit, its loss over [N])."""

    def grad_norms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per run: (global L2 norm, largest per-tensor norm) of the gradients, ``[K]`` each, on the device."""
        return grad_norms(list(self.parameters()), self.K)

    def generate(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def judge(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class SingleG(StepNets):
    """One run's own G, seen by the step as a stack of one. ``G`` may be wrapped (in
    DistributedDataParallel, under torchrun): the step calls it like G itself."""

    def __init__(self, G: nn.Module):
        super().__init__()
        self.K, self.net = 1, G

    def generate(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.net(z[0], y[0] if y is not None else None).unsqueeze(0)


class SingleD(StepNets):
    def __init__(self, D: nn.Module):
        super().__init__()
        self.K, self.net = 1, D

    def judge(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        logits, features = self._judge(x[0], y[0] if y is not None else None)
        return logits.unsqueeze(0), features.unsqueeze(0)

    def _judge(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """D's judgement of one batch [N, ...]."""
        return self.net.judge(x, y)


class _Aligned(torch.autograd.Function):
    """torch.stack whose backward hands each run a fresh copy of its gradient slice, so a run's own
    modules never compute on a view that starts mid-cache-line (where kernels may round differently)."""

    @staticmethod
    def forward(ctx: Any, *parts: torch.Tensor) -> torch.Tensor:
        return torch.stack(parts)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(g.clone() for g in grad.unbind(0))


def _own(x: torch.Tensor | None, k: int) -> torch.Tensor | None:
    """Run k's slice of ``x``, in memory of its own (see :class:`_Aligned`)."""
    return x[k].clone() if x is not None else None


class RunsG(StepNets):
    """K runs' own generators, called one by one: each run computes exactly as it would alone."""

    def __init__(self, Gs: list[nn.Module]):
        super().__init__()
        self.K, self.nets = len(Gs), nn.ModuleList(Gs)

    def generate(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return _Aligned.apply(*[G(_own(z, k), _own(y, k)) for k, G in enumerate(self.nets)])

    def grad_norms(self) -> tuple[torch.Tensor, torch.Tensor]:
        norms = [grad_norms(list(G.parameters()), 1) for G in self.nets]
        return torch.cat([n[0] for n in norms]), torch.cat([n[1] for n in norms])


class RunsD(RunsG):
    """K runs' own discriminators, called one by one."""

    def judge(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        out = [D.judge(_own(x, k), _own(y, k)) for k, D in enumerate(self.nets)]
        return _Aligned.apply(*[o[0] for o in out]), _Aligned.apply(*[o[1] for o in out])


def grad_norms(params: list[torch.Tensor], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per run: (global L2 norm, largest per-tensor norm) of the gradients of stacked ``params``
    ([K, ...] each, or a single run's own), ``[K]`` each, on the device."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        zero = torch.zeros(k, device=params[0].device if params else "cpu")
        return zero, zero
    norms = torch.stack([torch.linalg.vector_norm(g.float().view(k, -1), dim=1) for g in grads])  # [P, K]
    return torch.linalg.vector_norm(norms, dim=0), norms.amax(dim=0)


def _unconditioned(nets: list[nn.Module]) -> None:
    if any(getattr(n, "condition", None) is not None for n in nets):
        raise NotStackable("class conditioning (tricks.conditional, tricks.acgan)")
    extra = {name for n in nets for name, _ in n.named_children()} - {"net", "features", "head"}
    if extra:
        raise NotStackable(f"a module a trick added ({', '.join(sorted(extra))})")


class StackedG(StepNets):
    """K generators as one: the MLP on [K, N, z], DCGAN on [N, K*z, 1, 1] through grouped convs."""

    per_run = False

    def __init__(self, Gs: list[nn.Module], conv: bool):
        super().__init__()
        self.K, self.conv = len(Gs), conv
        self.net = stack_layer([g.net for g in Gs], conv)

    def generate(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if not self.conv:
            return self.net(z)
        k, n = z.shape[:2]
        out = self.net(z.transpose(0, 1).reshape(n, -1, 1, 1))  # [N, K*C, H, W]
        return out.view(n, k, -1, *out.shape[2:]).transpose(0, 1)  # [K, N, C, H, W]


class StackedD(StepNets):
    per_run = False

    def __init__(self, Ds: list[nn.Module], conv: bool):
        super().__init__()
        self.K, self.conv = len(Ds), conv
        self.features = stack_layer([d.features for d in Ds], conv)
        self.head = stack_layer([d.head for d in Ds], conv)

    def judge(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        k, n = x.shape[:2]
        if not self.conv:
            h = self.features(x)  # [K, N, C]
            return self.head(h).reshape(k, n), h
        h = self.features(x.transpose(0, 1).reshape(n, -1, *x.shape[3:]))  # [N, K*C, H, W]
        logits = self.head(h).reshape(n, k).t()
        return logits, h.view(n, k, -1, *h.shape[2:]).transpose(0, 1)


def flatten_weights(net: nn.Module, k: int) -> tuple[torch.Tensor, list[tuple[torch.Tensor, int, int]]]:
    """Move every stacked parameter of ``net`` into one ``[K, P]`` tensor (each becomes a view of its
    columns, and each run's own module a view of its row), so an optimiser can update them all at
    once. Returns the flat tensor and each parameter's columns."""
    params = list(net.parameters())
    flat = torch.cat([p.detach().reshape(k, -1) for p in params], dim=1).contiguous()
    spans, a = [], 0
    for p in params:
        b = a + p[0].numel()
        p.data = flat[:, a:b].view(p.shape)
        spans.append((p, a, b))
        a = b
    for m in net.modules():
        if isinstance(m, _Stacked):
            m.reshare()
    return flat, spans


def stack_networks(Gs: list[nn.Module], Ds: list[nn.Module], batched: bool = False) -> tuple[StepNets, StepNets]:
    """(G, D) for the step: a run's own networks when K = 1, the K runs' own networks one by one
    unless ``batched``, else the K runs stacked into batched layers (see the module docstring).
    Raises :class:`NotStackable` before changing anything when they cannot be stacked."""
    if len(Gs) == 1:
        return SingleG(Gs[0]), SingleD(Ds[0])
    if not batched:
        return RunsG(Gs), RunsD(Ds)
    conv = check_stackable(Gs, Ds)
    return StackedG(Gs, conv), StackedD(Ds, conv)


def check_stackable(Gs: list[nn.Module], Ds: list[nn.Module]) -> bool:
    """Raise :class:`NotStackable` naming the first layer that cannot be stacked; change nothing.
    Returns whether the networks are convolutional."""
    conv = any(isinstance(m, nn.Conv2d) for m in Ds[0].modules())
    _unconditioned([*Gs, *Ds])
    stack_layer([g.net for g in Gs], conv, build=False)
    stack_layer([d.features for d in Ds], conv, build=False)
    stack_layer([d.head for d in Ds], conv, build=False)
    return conv
