"""Optimisers for K runs at once: Adam and SGD whose every update is masked per run, on the device.

A stacked parameter has a leading run dimension ``[K, ...]`` (a single run's parameter is read as
``[1, ...]``). Adam and SGD are elementwise, so one optimiser over the stacked parameters gives each
run its own update, as long as three things stay per run, which :class:`RunAdam` and :class:`RunSGD`
keep so:

- the step count (Adam's bias correction): ``state["step"]`` is a ``[K]`` tensor;
- the learning rate: a float for a single run, a ``[K]`` device tensor for a stack;
- whether the update happens at all: ``step(mask)`` takes a ``[K]`` bool tensor (the non-finite guard,
  and runs the doctor stopped), and a masked run's weights, moments and step count stay as they were.

Nothing here reads a number back from the device, so a step never waits on the host. The state of one
run (:class:`RunSlice`) is exactly ``torch.optim.Adam``'s (or ``SGD``'s) ``state_dict()`` format, so a
run trained in a stack writes the same checkpoints as a run trained alone.
"""

from __future__ import annotations

from typing import Any

import torch


def _k_view(t: torch.Tensor, k: int) -> torch.Tensor:
    """``t`` as ``[K, -1]``, sharing its storage (parameters and their state are contiguous)."""
    return t.view(k, -1)


def _per_run(value: float | torch.Tensor, k: int) -> float | torch.Tensor:
    """A hyper-parameter as something that broadcasts against ``[K, -1]``: a float, or ``[K, 1]``."""
    return value.view(k, 1) if isinstance(value, torch.Tensor) else value


class _Masked:
    """What both optimisers share: the run count, per-run learning rates, and a step that hands each
    parameter's ``[K, -1]`` view, its gradient (zero where masked, weight decay added) and the mask as
    a ``[K, 1]`` weight to the subclass's :meth:`_update`."""

    runs: int = 1
    run_lrs: list[float] | None = None
    flat: tuple[torch.Tensor, list[tuple[torch.Tensor, int, int]]] | None = None
    param_groups: list[dict[str, Any]]
    state: Any

    def _runs(self, lr: float | list[float], runs: int) -> None:
        """A stack's learning rates (``lr`` a list): a [K] device tensor for the math, and the exact
        values (``run_lrs``), which a run's checkpoint and log rows report: float32 would turn 1e-4
        into 9.99e-5."""
        self.runs = runs
        if isinstance(lr, list):
            self.run_lrs = [float(x) for x in lr]
            device = self.param_groups[0]["params"][0].device
            for group in self.param_groups:
                group["lr"] = torch.tensor(self.run_lrs, dtype=torch.float32, device=device)

    def attach_flat(self, flat: torch.Tensor, spans: list[tuple[torch.Tensor, int, int]]) -> None:
        """Update ``flat`` ([K, P], every parameter's storage: ``spans`` gives each parameter's columns)
        as one tensor: a handful of operations a step instead of a dozen per parameter. Each
        parameter's state is a view of the flat state, so :class:`RunSlice` reads and writes it as usual."""
        self.flat = (flat, spans)
        whole = self._new_state(flat)
        self.state[flat] = whole
        for p, a, b in spans:
            self.state[p] = {n: v if n == "step" else v[:, a:b].view(p.shape) for n, v in whole.items()}

    def _new_state(self, like: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Any = None, mask: torch.Tensor | None = None) -> None:
        """One update of every run where ``mask`` (``[K]`` bool, default all) is true."""
        k = self.runs
        for group in self.param_groups:
            lr = _per_run(group["lr"], k)
            if self.flat is not None:
                flat, spans = self.flat
                grads = [p.grad.reshape(k, -1) if p.grad is not None else flat.new_zeros(k, b - a) for p, a, b in spans]
                self._masked_update(flat, flat, torch.cat(grads, dim=1), mask, group, lr)
                continue
            for p in group["params"]:
                if p.grad is None:
                    continue
                self._masked_update(p, _k_view(p, k), _k_view(p.grad, k), mask, group, lr)

    def _masked_update(
        self, p: torch.Tensor, x: torch.Tensor, g: torch.Tensor, mask: torch.Tensor | None, group: dict, lr: Any
    ) -> None:
        """Update ``x`` (``p``'s [K, -1] view) from its gradient ``g`` where ``mask`` allows."""
        w = None if mask is None else mask.to(device=x.device, dtype=x.dtype).view(self.runs, 1)
        if w is not None:  # a masked run's NaN gradient must not reach its state
            g = torch.where(w > 0, g, torch.zeros_like(g))
        if group["weight_decay"]:
            g = g.add(x, alpha=group["weight_decay"])
        update = self._update(p, g, w, group, lr)
        x.sub_(update if w is None else update * w)

    def _update(self, p: torch.Tensor, g: torch.Tensor, w: torch.Tensor | None, group: dict, lr: Any) -> torch.Tensor:
        raise NotImplementedError


class RunAdam(_Masked, torch.optim.Adam):
    """``torch.optim.Adam`` (no AMSGrad) for ``runs`` stacked runs, with a per-run mask and step count."""

    def __init__(
        self, params: Any, lr: float | list[float], betas: tuple[float, float], weight_decay: float = 0.0, runs: int = 1
    ):
        super().__init__(params, lr=1.0 if isinstance(lr, list) else lr, betas=betas, weight_decay=weight_decay)
        self._runs(lr, runs)

    def _new_state(self, like: torch.Tensor) -> dict[str, torch.Tensor]:
        zeros = torch.zeros(self.runs if self.runs > 1 else (), device=like.device)
        return {"step": zeros, "exp_avg": torch.zeros_like(like), "exp_avg_sq": torch.zeros_like(like)}

    def _update(self, p: torch.Tensor, g: torch.Tensor, w: torch.Tensor | None, group: dict, lr: Any) -> torch.Tensor:
        k, (b1, b2) = self.runs, group["betas"]
        st = self.state[p]
        if not st:
            st.update(self._new_state(p))
        if st["step"].device != p.device:  # a checkpoint keeps it on the CPU, as torch's Adam does
            st["step"] = st["step"].to(p.device)
        m, v, s = _k_view(st["exp_avg"], k), _k_view(st["exp_avg_sq"], k), st["step"].view(k)
        if w is None:
            s.add_(1)
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
        else:
            s.add_(w.view(k))
            m.lerp_(g, (1 - b1) * w)
            v.mul_(1 - (1 - b2) * w).addcmul_(g, g * w, value=1 - b2)
        steps = s.clamp(min=1).view(k, 1)  # a run masked since its start has no update to correct
        # reciprocal-then-multiply whether lr is a float (one run) or a [K, 1] tensor (a stack):
        # the same rounding either way, so a run's numbers do not depend on its stack.
        step_size = (1 - b1**steps).reciprocal() * lr
        denom = (v.sqrt() / (1 - b2**steps).sqrt()).add_(group["eps"])
        return m / denom * step_size


class RunSGD(_Masked, torch.optim.SGD):
    """``torch.optim.SGD`` (no dampening, no Nesterov) for ``runs`` stacked runs, with a per-run mask."""

    def __init__(self, params: Any, lr: float | list[float], momentum: float = 0.0, weight_decay: float = 0.0, runs: int = 1):
        super().__init__(params, lr=1.0 if isinstance(lr, list) else lr, momentum=momentum, weight_decay=weight_decay)
        self._runs(lr, runs)

    def _new_state(self, like: torch.Tensor) -> dict[str, torch.Tensor]:
        # torch starts the buffer at the first gradient: the same as 0 * momentum + g
        return {"momentum_buffer": torch.zeros_like(like)} if self.param_groups[0]["momentum"] else {}

    def _update(self, p: torch.Tensor, g: torch.Tensor, w: torch.Tensor | None, group: dict, lr: Any) -> torch.Tensor:
        momentum = group["momentum"]
        if momentum:
            st = self.state[p]
            if st.get("momentum_buffer") is None:
                st.update(self._new_state(p))
            buf = _k_view(st["momentum_buffer"], self.runs)
            # a masked run's buffer: buf * 1 + 0, as it was
            buf.mul_(momentum if w is None else 1 - (1 - momentum) * w).add_(g)
            g = buf
        return g * lr


def make_optimizer(params: Any, cfg: Any, runs: int = 1, lr: list[float] | None = None) -> torch.optim.Optimizer:
    """Adam with the configured lr and betas (ganhacks trick 9), or SGD; for a stack, ``lr`` holds
    each run's learning rate."""
    rate: float | list[float] = cfg.lr if lr is None else lr
    if cfg.name == "sgd":
        return RunSGD(params, lr=rate, momentum=cfg.momentum, weight_decay=cfg.weight_decay, runs=runs)
    return RunAdam(params, lr=rate, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay, runs=runs)


class PerRun:
    """K runs' own optimisers as one: what the step calls when a stack keeps each run's own networks
    (:class:`~ganhacks.training.stack.RunsG`). Each run's update is its optimiser's, masked by its
    entry of ``mask``."""

    def __init__(self, opts: list[torch.optim.Optimizer]):
        self.opts = opts

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.opts:
            opt.zero_grad(set_to_none=set_to_none)

    def step(self, mask: torch.Tensor | None = None) -> None:
        for k, opt in enumerate(self.opts):
            opt.step(mask=None if mask is None else mask[k : k + 1])  # type: ignore[call-arg]


# --------------------------------------------------------------------------- one run of a stack


class RunSlice:
    """Run ``k``'s share of a stacked optimiser (one with :meth:`~_Masked.attach_flat`), seen as a
    single run's optimiser: what a run's checkpoint, the doctor's remedies and ``--resume`` read and
    write. Its ``state_dict()`` is ``torch.optim``'s format for that run alone."""

    def __init__(self, opt: torch.optim.Optimizer, k: int):
        self.opt, self.k = opt, k

    @property
    def lr(self) -> float:
        return float(self.opt.run_lrs[self.k])  # type: ignore[attr-defined]

    def set_lr(self, value: float) -> None:
        self.opt.run_lrs[self.k] = float(value)  # type: ignore[attr-defined]
        for group in self.opt.param_groups:
            group["lr"][self.k] = value

    def state_dict(self) -> dict[str, Any]:
        opt, k, runs = self.opt, self.k, self.opt.runs  # type: ignore[attr-defined]
        state: dict[int, dict[str, Any]] = {}
        groups = []
        index = 0
        for group in opt.param_groups:
            ids = []
            for p in group["params"]:
                st = opt.state.get(p, {})
                if st:
                    entry: dict[str, Any] = {}
                    for name, value in st.items():
                        if name == "step":
                            entry[name] = value.view(runs)[k].detach().cpu().clone()
                        elif isinstance(value, torch.Tensor):
                            entry[name] = value[k].detach().clone()
                        else:
                            entry[name] = value
                    state[index] = entry
                ids.append(index)
                index += 1
            hyper = {key: value for key, value in group.items() if key != "params"}
            hyper["lr"] = self.lr
            groups.append({**hyper, "params": ids})
        return {"state": state, "param_groups": groups}

    @torch.no_grad()
    def load_state_dict(self, sd: dict[str, Any]) -> None:
        opt, k, runs = self.opt, self.k, self.opt.runs  # type: ignore[attr-defined]
        params = [p for group in opt.param_groups for p in group["params"]]
        saved = sd["state"]
        if len(params) != sum(len(g["params"]) for g in sd["param_groups"]):
            raise ValueError("loaded state dict has a different number of parameters than the optimizer")
        for i, p in enumerate(params):
            st = opt.state[p]  # views of the flat state, made by attach_flat
            for name, value in (saved.get(i) or {}).items():
                if not isinstance(value, torch.Tensor):
                    continue
                if name not in st:
                    raise ValueError(f"loaded optimizer state has '{name}', which this optimizer does not keep")
                if name == "step":
                    st["step"].view(runs)[k] = value.to(st["step"].device, st["step"].dtype).reshape(())
                    continue
                if st[name][k].shape != value.shape:
                    raise ValueError(f"optimizer state {name} has shape {tuple(value.shape)}, not {tuple(st[name][k].shape)}")
                st[name][k].copy_(value)
        self.set_lr(float(sd["param_groups"][0]["lr"]))


def get_lr(opt: Any) -> float:
    """A single run's learning rate (of a torch optimiser or of a run's :class:`RunSlice`)."""
    return opt.lr if isinstance(opt, RunSlice) else float(opt.param_groups[0]["lr"])


def scale_lr(opt: Any, factor: float) -> None:
    """Multiply a single run's learning rate by ``factor``."""
    if isinstance(opt, RunSlice):
        opt.set_lr(opt.lr * factor)
        return
    for group in opt.param_groups:
        group["lr"] *= factor


def set_hyperparameters(opt: Any, cfg: Any) -> None:
    """Make a single run's optimiser take ``cfg``'s lr (and, alone, its other settings): a resumed run
    whose config change was allowed, after the optimiser state brought back the old ones."""
    if isinstance(opt, RunSlice):
        opt.set_lr(cfg.lr)
        return
    for group in opt.param_groups:
        group["lr"] = cfg.lr
        group["weight_decay"] = cfg.weight_decay
        if "betas" in group:
            group["betas"] = tuple(cfg.betas)
        if "momentum" in group:
            group["momentum"] = cfg.momentum
