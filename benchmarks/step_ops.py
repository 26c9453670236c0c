"""How many aten operations one stacked step dispatches, for K = 1, 16 and 128 runs (batched layout).

Usage:  .venv/bin/python benchmarks/step_ops.py

On a GPU nearly every one of them is a kernel launch (views are not), so this count, times the
launch overhead, bounds the step's time before CUDA graphs. Counted on the CPU with a
TorchDispatchMode, on tiny grid25 MLPs (the count does not depend on the layer widths).
"""

from __future__ import annotations

import collections
import sys

from torch.utils._python_dispatch import TorchDispatchMode

from ganhacks.api import prepare
from ganhacks.config import build_config
from ganhacks.monitor.stats import collecting
from ganhacks.training.stacked import StackTrainer, build_stack


class Count(TorchDispatchMode):
    """Counts every aten operation dispatched inside the block, by name."""

    def __init__(self) -> None:
        super().__init__()
        self.n: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


def main() -> None:
    print("command: python " + " ".join(sys.argv))
    for k in (1, 16, 128):
        cfgs, data = [], None
        for seed in range(k):
            overrides = ["data.name=grid25", "model.mlp_g_hidden=8", "model.mlp_d_hidden=8", f"train.seed={seed}"]
            cfg, data = prepare(build_config(overrides=overrides), data)
            cfgs.append(cfg)
        stack = StackTrainer(build_stack(cfgs, data), batched=True)
        with collecting(stack.collector):
            stack.engine()  # the first step draws the epoch's data order
            count = Count()
            with count:
                stack.engine()
        views = sum(n for name, n in count.n.items() if name in ("aten.view", "aten.t", "aten.transpose", "aten.slice",
                                                                 "aten.select", "aten.unsqueeze", "aten.expand", "aten.detach"))  # fmt: skip
        total = sum(count.n.values())
        print(f"K={k}: {total} aten ops per step, {total - views} of them not views; most: {count.n.most_common(5)}")


if __name__ == "__main__":
    main()
