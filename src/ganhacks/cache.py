"""The user cache folder: trained feature classifiers, real-data features, parsed bundled data."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch

from ganhacks.fileio import atomic_write

log = logging.getLogger("ganhacks")


def cache_dir() -> Path:
    """``$GANHACKS_CACHE``, else ``$XDG_CACHE_HOME/ganhacks``, else ``~/.cache/ganhacks``."""
    root = os.environ.get("GANHACKS_CACHE")
    if root:
        return Path(root).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "ganhacks"


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Write tensors to a safetensors file atomically, creating its folder."""
    from safetensors.torch import save

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, save({k: v.contiguous() for k, v in tensors.items()}))


def cached_tensors(
    path: Path,
    compute: Callable[[], dict[str, torch.Tensor]],
    what: str,
    valid: Callable[[dict[str, torch.Tensor]], bool] | None = None,
) -> dict[str, torch.Tensor]:
    """The tensors cached at ``path``, or ``compute()``'s, saved there first; a damaged or invalid copy is recomputed."""
    from safetensors.torch import load_file

    if path.exists():
        try:
            tensors = load_file(str(path))
            if valid is None or valid(tensors):
                return tensors
        except Exception as e:  # noqa: BLE001 - a damaged cache entry is recomputed, not fatal
            log.warning("recomputing %s: cached copy %s could not be read (%s)", what, path, e)
    tensors = compute()
    save_tensors(path, tensors)
    return tensors
