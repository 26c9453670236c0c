"""ganhacks: train GANs that don't fall over.

>>> import ganhacks
>>> run = ganhacks.train({"data": {"name": "ring8"}, "train": {"steps": 200}})  # doctest: +SKIP
>>> run.sample(2500).shape                                                     # doctest: +SKIP
torch.Size([2500, 2])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "GanhacksError", "Run", "RunConfig", "__version__", "build_config", "diagnose", "load_run", "resume", "train",
    "train_stacked",
]  # fmt: skip

from ganhacks.errors import GanhacksError

if TYPE_CHECKING:
    from ganhacks.api import Run, diagnose, load_run, resume, train, train_stacked
    from ganhacks.config import RunConfig, build_config


def __getattr__(name: str) -> Any:
    # Lazy: `import ganhacks` stays cheap (torch loads only when training or sampling is used).
    if name in ("Run", "diagnose", "load_run", "resume", "train", "train_stacked"):
        from ganhacks import api

        return getattr(api, name)
    if name in ("RunConfig", "build_config"):
        from ganhacks import config

        return getattr(config, name)
    raise AttributeError(f"module 'ganhacks' has no attribute {name!r}")
