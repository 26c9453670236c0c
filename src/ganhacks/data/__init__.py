"""Data sets, loaded once into one tensor in [-1, 1].

``load_data(cfg.data)`` understands: ring8, grid25, mnist5k, digits, folder:PATH, npz:PATH.
"""

from __future__ import annotations

import difflib

import torch

from ganhacks.config import DataConfig
from ganhacks.data.base import BatchSampler, Dataset
from ganhacks.data.images import finish_images, load_digits, load_folder, load_mnist5k, load_npz
from ganhacks.data.stacked import NUM_MODES, load_stacked_mnist
from ganhacks.data.toy2d import MIXTURES, sample_mixture
from ganhacks.errors import DataError

__all__ = ["BatchSampler", "Dataset", "DATA_NAMES", "load_data", "short_name"]

DATA_NAMES = ("ring8", "grid25", "mnist5k", "digits", "stacked-mnist", "folder:PATH", "npz:PATH")
DEFAULT_FOLDER_SIZE = 64


def short_name(name: str) -> str:
    """A file-name-safe label for a data name: 'folder:/a/faces' -> 'folder-faces'."""
    import re
    from pathlib import Path

    if ":" in name:
        prefix, path = name.split(":", 1)
        stem = Path(path.rstrip("/\\")).stem or "data"
        name = f"{prefix}-{stem}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._-")[:40] or "data"


def _mixture(name: str, cfg: DataConfig) -> Dataset:
    means_fn, std = MIXTURES[name]
    means = means_fn()
    raw, mode = sample_mixture(means, std, cfg.num_points, cfg.seed)
    # Divide by the largest coordinate so the training set lies in [-1, 1] (trick 1), unless the
    # protocol's raw coordinates are asked for; samples are mapped back with Dataset.to_data_space
    # before any metric or plot.
    scale = float(raw.abs().max()) if cfg.coords == "unit" else 1.0
    return Dataset(
        name=name, kind="2d", x=(raw / scale).float(), y=mode, num_classes=len(means),
        scale=scale, modes=means.float(), mode_std=std,
    )  # fmt: skip


def load_data(cfg: DataConfig) -> Dataset:
    """Load the data set named by ``cfg.name``; raise DataError with one clear sentence if it cannot be used."""
    name = cfg.name.strip()
    if not name:
        raise DataError("No data set was given; pass --data with one of: " + ", ".join(DATA_NAMES) + ".")
    if name in MIXTURES:
        return _mixture(name, cfg)
    if cfg.coords != "unit":
        raise DataError(f"data.coords={cfg.coords} is for the 2D sets (ring8, grid25); remove it for '{name}'.")
    if name == "stacked-mnist":
        if cfg.size not in (None, 28) or cfg.channels not in (None, 3):
            raise DataError("stacked-mnist is fixed at 28x28 with 3 channels; remove the data.size and data.channels settings.")
        x, modes = load_stacked_mnist(cfg.seed)
        return Dataset(name=name, kind="image", x=x, y=modes, num_classes=NUM_MODES)
    y = None
    if name == "mnist5k":
        x, y = load_mnist5k()
    elif name == "digits":
        x, y = load_digits()
    elif name.startswith("folder:"):
        x = load_folder(name[len("folder:") :], cfg.size or DEFAULT_FOLDER_SIZE, cfg.channels or 3)
    elif name.startswith("npz:"):
        x, y = load_npz(name[len("npz:") :])
    else:
        fixed_names = [n for n in DATA_NAMES if ":" not in n]
        near = difflib.get_close_matches(name, fixed_names, n=1, cutoff=0.6)
        hint = f"did you mean '{near[0]}'?" if near else "use one of: " + ", ".join(DATA_NAMES) + "."
        raise DataError(f"Unknown data set '{name}'; {hint}")
    images = finish_images(x, cfg.size, cfg.channels)
    labels = torch.from_numpy(y) if y is not None else None
    return Dataset(
        name=name,
        kind="image",
        x=images,
        y=labels,
        num_classes=int(labels.max()) + 1 if labels is not None else None,
    )
