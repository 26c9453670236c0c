"""Sample pictures with Pillow alone: image grids and 2D scatter plots (no matplotlib needed)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Images [N, C, H, W] in [-1, 1] -> uint8 [N, H, W, C] with C in {1, 3}."""
    x = x.detach().float().cpu()
    if x.shape[1] >= 3:
        x = x[:, :3]  # show the first three channels of multi-channel data as RGB
    elif x.shape[1] == 2:
        x = x[:, :1]
    arr = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return arr.permute(0, 2, 3, 1).numpy()


def image_grid(x: torch.Tensor, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile images [N, C, H, W] in [-1, 1] into one uint8 array [H', W', C] with ``pad`` pixel gaps."""
    imgs = to_uint8(x)
    n, h, w, c = imgs.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    ncol = math.ceil(n / nrow)
    grid = np.full((pad + ncol * (h + pad), pad + nrow * (w + pad), c), 0, dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + q * (w + pad)
        grid[top : top + h, left : left + w] = imgs[i]
    return grid


def save_image_grid(x: torch.Tensor, path: str | Path, nrow: int | None = None, min_side: int = 256) -> None:
    """Write a PNG grid of images; small grids are upscaled (nearest) to at least ``min_side`` pixels."""
    from PIL import Image

    grid = image_grid(x, nrow)
    img = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    factor = max(1, math.ceil(min_side / max(img.size)))
    if factor > 1:
        img = img.resize((img.width * factor, img.height * factor), Image.Resampling.NEAREST)
    img.save(path)


def save_scatter(
    fake: torch.Tensor,
    path: str | Path,
    real: torch.Tensor | None = None,
    modes: torch.Tensor | None = None,
    side: int = 512,
    title: str = "",
) -> None:
    """Write a PNG scatter of 2D points: real in grey, generated in red, mode means as blue rings."""
    from PIL import Image, ImageDraw

    fake = fake.detach().float().cpu()
    ref = [t.detach().float().cpu() for t in (real, modes) if t is not None]
    pts = torch.cat([fake, *ref]) if ref else fake
    finite = pts[torch.isfinite(pts).all(dim=1)]
    # The view is framed on the data (real points and modes) when given, so a diverged
    # generator shows up as points leaving the frame instead of shrinking the data to a dot.
    frame = torch.cat(ref) if ref else finite
    if len(frame) == 0:
        frame = torch.zeros(1, 2)
    lo, hi = frame.min(0).values, frame.max(0).values
    centre, half = (lo + hi) / 2, float((hi - lo).max()) / 2 * 1.15 + 1e-3
    img = Image.new("RGB", (side, side), "white")
    draw = ImageDraw.Draw(img)

    def px(p: torch.Tensor) -> np.ndarray:
        uv = (p - centre) / half  # [-1, 1] inside the frame
        return torch.stack([(uv[:, 0] + 1) * side / 2, (1 - uv[:, 1]) * side / 2], dim=1).numpy()

    def dots(p: torch.Tensor, colour: str, r: float) -> None:
        for x, y in px(p[torch.isfinite(p).all(dim=1)]):
            if -r <= x <= side + r and -r <= y <= side + r:
                draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)

    if real is not None:
        dots(real.detach().float().cpu(), "#b0b0b0", 1.5)
    dots(fake, "#d62728", 1.5)
    if modes is not None:
        for x, y in px(modes.detach().float().cpu()):
            draw.ellipse((x - 5, y - 5, x + 5, y + 5), outline="#1f77b4", width=2)
    if title:
        draw.text((6, 6), title, fill="black")
    img.save(path)
