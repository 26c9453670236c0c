"""The step's math, for K runs at once: draw, D's update, G's update and the trick hooks.

Per step (ganhacks tricks 2 and 4 are the defaults here):

1. each run draws a real batch by indexing the on-device data tensor, and its own z ~ N(0, I);
2. D update: real and fake go through D as *separate* batches; loss = BCE(real, 1) + BCE(fake, 0);
3. G update on the same fakes with D frozen: the non-saturating loss -log D(G(z)).

Those are the default objective; the config's ``loss`` picks D's and G's losses from
:data:`~ganhacks.losses.OBJECTIVES`. A trick may add an update of D's own after D's (``d_phase``:
lazy R1).

Every tensor here has a leading run dimension ``[K, N, ...]`` and every loss is ``[K]``; the runs'
losses are summed before ``backward``, which gives each run exactly its own gradient because no layer
mixes runs. A single run is K = 1 (:class:`~ganhacks.training.stack.SingleG` wraps its own networks);
a stack is K > 1 (:func:`~ganhacks.training.stack.stack_networks`). Nothing else here knows which.

What stays per run: the random streams (each run's sampler, z and label generators and its tricks'
RNGs, seeded as a single run seeds them), and the tricks, whose hooks see that run's ``[N, ...]``
slice and its own :class:`~ganhacks.tricks.StepContext`, exactly as in a single run. So a trick works
stacked without knowing it is.

The step never reads a number back from the device: the non-finite guard is a ``[K]`` mask that the
optimisers apply, and statistics go through :func:`~ganhacks.monitor.stats.report` as ``[K]`` tensors.
Logging, the doctor, samples and checkpoints are the business of the code around the step
(:class:`~ganhacks.training.loop.Trainer`, :class:`~ganhacks.training.stacked.StackTrainer`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

from ganhacks import losses
from ganhacks.monitor.stats import Collector, collecting, report
from ganhacks.sampling import draw_latents
from ganhacks.training.stack import StepNets
from ganhacks.tricks import StepContext, TrickStack

# However a trick answers repeat_d / repeat_g, a step never makes more than this many extra updates.
MAX_EXTRA_UPDATES = 100


class RunParts(Protocol):
    """What the step reads from each run (a :class:`~ganhacks.training.loop.Trainer` is one)."""

    cfg: Any
    step: int
    sampler: Any
    z_gen: torch.Generator
    label_gen: torch.Generator
    tricks: TrickStack
    collector: Collector
    G: torch.nn.Module
    D: torch.nn.Module
    opt_g: Any
    opt_d: Any
    num_classes: int | None


class Step:
    """One training step of K runs. ``runs`` are the K runs' parts, ``G`` and ``D`` the networks the
    step calls (see :mod:`ganhacks.training.stack`), ``opt_g`` and ``opt_d`` the optimisers over their
    parameters (:mod:`ganhacks.training.optim`)."""

    def __init__(
        self,
        runs: Sequence[RunParts],
        G: StepNets,
        D: StepNets,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        device: torch.device,
        autocast: contextlib.AbstractContextManager[Any] | None = None,
        world: Any = None,
    ):
        """``world`` (a :class:`~ganhacks.training.distributed.World`) makes this one rank's step of a
        run on several processes: it takes its share of each global batch and agrees with the other
        ranks on which updates to skip."""
        self.runs, self.G, self.D, self.opt_g, self.opt_d = list(runs), G, D, opt_g, opt_d
        self.K = len(self.runs)
        self.device = device
        self.autocast = autocast or contextlib.nullcontext()
        cfg = self.runs[0].cfg
        self.batch_size, self.d_steps, self.mixed = cfg.train.batch_size, cfg.train.d_steps, cfg.train.d_batches == "mixed"
        self.world = world
        # Every rank draws the global batch's indices and latents from the same streams and keeps its share.
        self.shard = world.shard(self.batch_size) if world is not None else slice(None)
        # With each run's own networks, its losses are computed on its own tensors too (see StepNets.per_run).
        self.per_run = G.per_run and self.K > 1
        # Each run's D and G losses (the config's `loss`; the runs of one stack may differ in it).
        self.objectives = [losses.OBJECTIVES[r.cfg.loss] for r in self.runs]
        self.objective = self.objectives[0] if len({r.cfg.loss for r in self.runs}) == 1 else None
        self.g_needs_real = any(o.g_needs_real for o in self.objectives)
        self.hooks = True  # whether any run has a trick, as of the step under way
        # Runs the doctor stopped (or that finished before the others) keep their weights: a [K] mask,
        # changed in place (a CUDA graph of the step reads this very tensor).
        self.active = torch.ones(self.K, dtype=torch.bool, device=device)
        # Where the real batches' indices come from when not from each run's sampler: [K, N] (see
        # ganhacks.training.graph.DeviceOrders).
        self.indices: Callable[[], torch.Tensor] | None = None

    # ------------------------------------------------------------------ per-run helpers

    def _tricks_on(self) -> bool:
        return any(r.tricks.tricks for r in self.runs)

    def _each(self, fn: Callable[[int, RunParts], torch.Tensor]) -> torch.Tensor:
        """``fn`` for every run (its own hooks, its own collector for what they report), stacked."""
        out = []
        for k, r in enumerate(self.runs):
            with collecting(r.collector):
                out.append(fn(k, r))
        return torch.stack(out)

    def _fold(self, x: torch.Tensor, hook: str, ctxs: list[StepContext]) -> torch.Tensor:
        """Pass each run's slice of ``x`` [K, N, ...] through its tricks' ``hook``."""
        if not self.hooks:
            return x
        return self._each(lambda k, r: getattr(r.tricks, hook)(x[k], ctxs[k]))

    def draw_z(self) -> torch.Tensor:
        """Each run's next latents from its own generator: [K, N, z_dim]."""
        return torch.stack([
            draw_latents(self.batch_size, r.cfg.model.z_dim, r.cfg.latent, r.z_gen, self.device)[self.shard] for r in self.runs
        ])  # fmt: skip

    def draw_labels(self) -> torch.Tensor | None:
        """Uniform class labels for each run's fake batch [K, N]; None when the data has no labels."""
        n = self.runs[0].num_classes
        if not n:
            return None
        return torch.stack([
            torch.randint(n, (self.batch_size,), generator=r.label_gen, device=self.device)[self.shard] for r in self.runs
        ])  # fmt: skip

    def draw_real(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Each run's next real batch, from its own data order: [K, N, ...] (and labels [K, N])."""
        samplers = [r.sampler for r in self.runs]
        first = samplers[0]
        if any(s.x is not first.x for s in samplers):  # runs of one data set share its tensor: one gather
            batches = [s.next() for s in samplers]
            y = torch.stack([b[1] for b in batches]) if batches[0][1] is not None else None
            return torch.stack([b[0] for b in batches]), y
        if self.indices is not None:  # a graphed step gathers from the runs' orders held on the device
            idx = self.indices()
        else:
            idx = torch.stack([s.next_indices()[self.shard] for s in samplers])  # [K, N]
        return first.x[idx], (first.y[idx] if first.y is not None else None)

    def _loss(self, pick: Callable[[losses.Objective], Callable[..., torch.Tensor]], *args: torch.Tensor | None) -> torch.Tensor:
        """Each run's ``pick(objective)`` over [K, N] logits and targets: [K] losses, in one call when the
        runs share one objective and one set of tensors, else each on its run's own copy."""
        if self.objective is not None and not self.per_run:
            return pick(self.objective)(*args)
        return torch.stack([
            pick(o)(*(a[k].clone() if a is not None else None for a in args)) for k, o in enumerate(self.objectives)
        ])  # fmt: skip

    def _scores(self, logits: torch.Tensor) -> torch.Tensor | None:
        """D(x) as the logs read it (:attr:`~ganhacks.losses.Objective.score`), averaged per run: [K];
        None for a critic without one (a stack never mixes the two: see stack_key)."""
        score = self.objectives[0].score
        if score is None:
            return None
        if self.objective is not None:
            return score(logits).mean(dim=1)
        return torch.stack([o.score(logits[k]).mean() for k, o in enumerate(self.objectives)])

    # ------------------------------------------------------------------ the step

    def __call__(self) -> None:
        """``train.d_steps`` D updates, then one G update; a trick may ask for more of either."""
        # Without a trick in any run, nobody reads a StepContext: a large stack then skips building K
        # of them and slicing every tensor into them (on a GPU that Python is most of a small step).
        self.hooks = self._tricks_on()
        ctxs = [self._context(r) for r in self.runs] if self.hooks else []
        for i in range(self.d_steps):
            # Only the last D update's fakes feed G's update, so only they keep G's graph.
            fake, fake_labels, real, labels = self._d_round(ctxs, keep_graph=i == self.d_steps - 1)
        for _ in range(MAX_EXTRA_UPDATES):
            if not self._asks(ctxs, "repeat_d"):
                break
            self._d_round(ctxs, keep_graph=False)
        if self.hooks:
            self.d_phase(ctxs)
        self._set(ctxs, fake=fake, fake_labels=fake_labels)
        self.g_update(fake, fake_labels, ctxs, real, labels)
        for _ in range(MAX_EXTRA_UPDATES):
            if not self._asks(ctxs, "repeat_g"):
                break
            fake_labels = self.draw_labels()
            with self.autocast:
                fake = self.G.generate(self.draw_z(), fake_labels)
            self._set(ctxs, fake=fake, fake_labels=fake_labels)
            self.g_update(fake, fake_labels, ctxs, real, labels)
        for k, ctx in enumerate(ctxs):
            with collecting(self.runs[k].collector):
                self.runs[k].tricks.after_step(ctx)

    def _context(self, r: RunParts) -> StepContext:
        ctx = StepContext(
            step=r.step, total_steps=r.cfg.train.steps, device=self.device, G=r.G, D=r.D, opt_g=r.opt_g, opt_d=r.opt_d
        )
        ctx.d_judge = lambda x, y=None: r.D.judge(r.tricks.d_input(x, ctx), y)
        return ctx

    def d_phase(self, ctxs: list[StepContext]) -> None:
        """The tricks' extra D update of its own (lazy regularisation), for the runs that ask for one."""
        terms = []
        for k, r in enumerate(self.runs):
            with collecting(r.collector):
                terms.append(r.tricks.d_phase(ctxs[k]))
        if all(t is None for t in terms):
            return
        zero = torch.zeros((), device=self.device)
        asked = torch.tensor([t is not None for t in terms], device=self.device)
        self._update("d", self.opt_d, torch.stack([zero if t is None else t for t in terms]), tag="d_reg", asked=asked)

    def _asks(self, ctxs: list[StepContext], hook: str) -> bool:
        # Only single runs get here with a trick that repeats updates (such tricks do not stack).
        return any([getattr(self.runs[k].tricks, hook)(ctx) for k, ctx in enumerate(ctxs)])

    @staticmethod
    def _set(ctxs: list[StepContext], **values: torch.Tensor | None) -> None:
        for k, ctx in enumerate(ctxs):
            for name, value in values.items():
                setattr(ctx, name, value[k] if value is not None else None)

    def _d_round(self, ctxs: list[StepContext], keep_graph: bool) -> tuple[torch.Tensor, ...]:
        """A fresh real batch and fresh fakes, then one D update; returns the fakes and their labels, and
        the real batch (as the tricks passed it to D) and its labels."""
        real, labels = self.draw_real()
        self._set(ctxs, real=real, labels=labels)
        real = self._fold(real, "real_for_d", ctxs)
        self._set(ctxs, real=real)
        fake_labels = self.draw_labels()
        self._set(ctxs, fake_labels=fake_labels)
        with torch.set_grad_enabled(keep_graph), self.autocast:
            fake = self.G.generate(self.draw_z(), fake_labels)
        self.d_update(real, labels, fake.detach(), fake_labels, ctxs)
        return fake, fake_labels, real, labels

    def d_update(
        self,
        real: torch.Tensor,
        labels: torch.Tensor | None,
        fake: torch.Tensor,
        fake_labels: torch.Tensor | None,
        ctxs: list[StepContext],
    ) -> None:
        """One D update of every run: real and fake as separate batches (trick 4), with the tricks'
        inputs and targets."""
        self._set(ctxs, d_fake_labels=fake_labels)
        fake = self._fold(fake, "fake_for_d", ctxs)
        self._set(ctxs, fake=fake)
        if self.hooks and fake_labels is not None:  # a trick that swaps fakes swaps their labels too
            fake_labels = torch.stack([c.d_fake_labels for c in ctxs])
        with self.autocast:
            if self.mixed:
                # One batch of real then fake: BatchNorm statistics mix the two (what trick 4 warns against).
                both = torch.cat([labels, fake_labels], dim=1) if labels is not None else None
                logits, features = self.D.judge(self._fold(torch.cat([real, fake], dim=1), "d_input", ctxs), both)
                real_logits, fake_logits = logits.float().chunk(2, dim=1)
                real_features, fake_features = features.chunk(2, dim=1)
            else:
                real_logits, real_features = self.D.judge(self._fold(real, "d_input", ctxs), labels)
                fake_logits, fake_features = self.D.judge(self._fold(fake, "d_input", ctxs), fake_labels)
                real_logits, fake_logits = real_logits.float(), fake_logits.float()
        self._set(
            ctxs, real_logits=real_logits, fake_logits=fake_logits, real_features=real_features, fake_features=fake_features
        )
        real_t, fake_t = torch.ones_like(real_logits), torch.zeros_like(fake_logits)
        if self.hooks:
            targets = [r.tricks.d_targets(real_t[k], fake_t[k], ctxs[k]) for k, r in enumerate(self.runs)]
            real_t, fake_t = torch.stack([t[0] for t in targets]), torch.stack([t[1] for t in targets])
        loss_d = self._loss(lambda o: o.d_loss, real_logits, fake_logits, real_t, fake_t)  # [K]
        if self.hooks:
            loss_d = self._each(lambda k, r: r.tricks.add_d_loss(loss_d[k], ctxs[k]))
        self._update("d", self.opt_d, loss_d)
        report("loss_d", loss_d)
        self._set(ctxs, loss_d=loss_d.detach())
        for name, logits in (("d_real", real_logits), ("d_fake", fake_logits)):
            if (score := self._scores(logits.detach())) is not None:
                report(name, score)

    def g_update(
        self,
        fake: torch.Tensor,
        fake_labels: torch.Tensor | None,
        ctxs: list[StepContext],
        real: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> None:
        """One G update of every run through its current D, whose own weights need no gradient here.
        ``real`` (and its ``labels``) is the last real batch, which a relativistic G loss reads."""
        self.D.requires_grad_(False)
        with self.autocast:
            g_logits, g_features = self.D.judge(self._fold(fake, "d_input", ctxs), fake_labels)
            g_logits = g_logits.float()
            real_logits = None
            if self.g_needs_real:  # the relativistic loss compares the fakes with the current D's view of real data
                real_logits = self.D.judge(self._fold(real, "d_input", ctxs), labels)[0].float()
        self._set(ctxs, g_features=g_features)
        loss_g = self._loss(lambda o: o.g_loss, g_logits, real_logits)  # [K]
        if self.hooks:
            loss_g = self._each(lambda k, r: r.tricks.add_g_loss(loss_g[k], ctxs[k]))
        try:
            self._update("g", self.opt_g, loss_g)
        finally:
            self.D.requires_grad_(True)
        report("loss_g", loss_g)
        self._set(ctxs, loss_g=loss_g.detach())

    def _update(
        self, name: str, opt: torch.optim.Optimizer, loss: torch.Tensor, tag: str | None = None,
        asked: torch.Tensor | None = None,
    ) -> None:  # fmt: skip
        """Backward, then the update of every run whose loss and gradients are finite and that is still
        training. A skipped update counts in the logged row as ``skipped_{name}``; its non-finite loss or
        gradient norm in the same row tells the doctor. One bad batch never writes NaN or Inf into a
        run's weights (or, later, a checkpoint), and the check stays on the device. ``tag`` names the
        statistics of an extra phase (``d_reg``); ``asked`` [K] limits it to the runs that asked for it."""
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        nets = self.G if name == "g" else self.D
        if self.world is not None and tag is not None:
            # An update phase of a trick's own calls D around DDP, which therefore did not average it.
            from ganhacks.training.distributed import average_grads

            average_grads(list(nets.parameters()), self.world)
        total, layer = nets.grad_norms()
        tag = tag or name
        report(f"grad_norm_{tag}", total)
        report(f"grad_norm_{tag}_layer", layer)
        finite = torch.isfinite(loss.detach()) & torch.isfinite(total)
        if self.world is not None:  # one rank's bad batch skips the update on every rank, or they part ways
            finite = self.world.all_true(finite)
        report(f"skipped_{tag}", (~finite).float())
        mask = finite & self.active
        opt.step(mask=mask if asked is None else mask & asked)
