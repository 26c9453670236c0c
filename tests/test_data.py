import logging
import math

import numpy as np
import pytest
import torch
from PIL import Image

from ganhacks.config import DataConfig
from ganhacks.data import BatchSampler, load_data, short_name
from ganhacks.data.toy2d import grid25_means, ring8_means
from ganhacks.errors import DataError


def data(name, **kw):
    return load_data(DataConfig(name=name, **kw))


# ---------------------------------------------------------------- 2D mixtures


def test_ring8_constants():
    m = ring8_means()
    assert m.shape == (8, 2)
    for k in range(8):
        assert m[k].tolist() == pytest.approx([math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)])
    ds = data("ring8")
    assert ds.kind == "2d" and ds.x.shape == (100_000, 2) and ds.x.dtype == torch.float32
    assert ds.x.abs().max() <= 1.0
    pts = ds.to_data_space(ds.x).double()
    nearest = torch.cdist(pts, m).argmin(1)
    resid = pts - m[nearest]
    assert resid.std().item() == pytest.approx(0.01, rel=0.02)
    assert torch.bincount(nearest, minlength=8).min() > 11_000  # equal weights


def test_grid25_constants():
    m = grid25_means()
    assert sorted(set(m[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0] and m.shape == (25, 2)
    ds = data("grid25")
    assert ds.x.abs().max() <= 1.0
    pts = ds.to_data_space(ds.x).double()
    resid = pts - m[torch.cdist(pts, m).argmin(1)]
    assert resid.std().item() == pytest.approx(0.05, rel=0.02)
    assert ds.modes.shape == (25, 2) and ds.mode_std == 0.05


def test_mixture_fixed_by_data_seed():
    a, b, c = data("ring8", num_points=500), data("ring8", num_points=500), data("ring8", num_points=500, seed=1)
    assert torch.equal(a.x, b.x)
    assert not torch.equal(a.x, c.x)


# ---------------------------------------------------------------- bundled images


def test_mnist5k():
    ds = data("mnist5k")
    assert ds.x.shape == (5000, 1, 28, 28) and ds.x.dtype == torch.float32
    assert ds.x.min() == -1.0 and ds.x.max() == 1.0
    assert ds.y.shape == (5000,) and ds.num_classes == 10


def test_digits_and_resize():
    ds = data("digits")
    assert ds.x.shape == (1797, 1, 8, 8) and ds.x.min() == -1.0 and ds.x.max() == 1.0
    assert ds.num_classes == 10
    big = data("digits", size=16, channels=3)
    assert big.x.shape == (1797, 3, 16, 16) and big.x.abs().max() <= 1.0


def test_unknown_data_name():
    with pytest.raises(DataError, match="Unknown data set 'mnist'; did you mean 'mnist5k'"):
        data("mnist")
    with pytest.raises(DataError, match="No data set was given"):
        data("")


# ---------------------------------------------------------------- folders


def _png(path, size=(20, 12), mode="RGB", colour=(255, 0, 0)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour if mode != "L" else 128).save(path)


def test_folder_recursive_resize_crop(tmp_path):
    _png(tmp_path / "a.png", (40, 20))
    _png(tmp_path / "sub" / "deeper" / "b.jpg", (10, 30), colour=(0, 0, 255))
    _png(tmp_path / "sub" / "c.bmp", (16, 16), mode="L")
    Image.new("RGBA", (9, 9), (0, 255, 0, 255)).save(tmp_path / "d.webp")
    (tmp_path / "notes.txt").write_text("not an image")
    ds = data(f"folder:{tmp_path}", size=16)
    assert ds.x.shape == (4, 3, 16, 16)
    assert ds.x.min() >= -1.0 and ds.x.max() <= 1.0
    red = ds.x[0]
    assert red[0].mean() > 0.95 and red[1].mean() < -0.95  # a.png is pure red
    gray = data(f"folder:{tmp_path}", size=8, channels=1)
    assert gray.x.shape == (4, 1, 8, 8)


def test_folder_default_size_is_64(tmp_path):
    _png(tmp_path / "a.png", (100, 80))
    assert data(f"folder:{tmp_path}").x.shape == (1, 3, 64, 64)


def test_folder_skips_unreadable_with_one_warning(tmp_path, caplog):
    _png(tmp_path / "good.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "fake.jpg").write_text("this is text with an image extension")
    good = tmp_path / "truncated.png"
    _png(good, (64, 64))
    good.write_bytes(good.read_bytes()[:40])
    with caplog.at_level(logging.WARNING, logger="ganhacks"):
        ds = data(f"folder:{tmp_path}", size=8)
    assert ds.x.shape[0] == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "skipped 3 of 4 files" in warnings[0].getMessage()


@pytest.mark.parametrize(
    "setup, fragment",
    [
        (lambda p: p / "nope", "does not exist"),
        (lambda p: p, "holds no image files"),
        (lambda p: (p / "x.txt").write_text("hi") and p, "holds no image files"),
        (lambda p: (p / "bad.png").write_bytes(b"\x89PNG garbage") and p, "None of the 1 image files"),
        (lambda p: (p / "f.npz").write_bytes(b"x") and p / "f.npz", "is a file, not a folder"),
    ],
)
def test_folder_bad_input(tmp_path, setup, fragment):
    path = setup(tmp_path)
    with pytest.raises(DataError) as e:
        data(f"folder:{path}")
    assert fragment in str(e.value) and "\n" not in str(e.value)


# ---------------------------------------------------------------- npz


def _npz(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return f"npz:{path}"


def test_npz_uint8_nchw_and_labels(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (10, 3, 16, 16), dtype=np.uint8)
    x[0, 0, 0, 0], x[0, 0, 0, 1] = 0, 255
    ds = data(_npz(tmp_path, x=x, y=np.arange(10) % 3))
    assert ds.x.shape == (10, 3, 16, 16) and ds.x.min() == -1.0 and ds.x.max() == 1.0
    assert torch.allclose(ds.x, torch.from_numpy(x).float() / 127.5 - 1)
    assert ds.num_classes == 3


def test_npz_nhw_float(tmp_path):
    x = np.linspace(-1, 1, 5 * 8 * 8, dtype=np.float32).reshape(5, 8, 8)
    ds = data(_npz(tmp_path, x=x))
    assert ds.x.shape == (5, 1, 8, 8) and ds.y is None
    assert torch.allclose(ds.x[:, 0], torch.from_numpy(x))


@pytest.mark.parametrize(
    "arrays, fragment",
    [
        ({"images": np.zeros((2, 8, 8), np.uint8)}, "has no array named 'x'"),
        ({"x": np.zeros((2, 8, 8), np.int64)}, "dtype int64"),
        ({"x": np.full((2, 8, 8), 3.0)}, "must lie in [-1, 1]"),
        ({"x": np.full((2, 8, 8), np.nan)}, "NaN or Inf"),
        ({"x": np.zeros((8, 8), np.uint8)}, "must be [N, C, H, W] or [N, H, W]"),
        ({"x": np.zeros((2, 8, 8, 3), np.uint8)}, "channels-last"),
        ({"x": np.zeros((0, 8, 8), np.uint8)}, "is empty"),
        ({"x": np.zeros((2, 8, 8), np.uint8), "y": np.array([0.5, 1.0])}, "Array y"),
        ({"x": np.zeros((2, 8, 8), np.uint8), "y": np.array([0, 1, 2])}, "Array y"),
    ],
)
def test_npz_bad_arrays(tmp_path, arrays, fragment):
    with pytest.raises(DataError) as e:
        data(_npz(tmp_path, **arrays))
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_npz_object_array_refused_without_unpickling(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="object arrays"):
        data(f"npz:{path}")


def test_npz_missing_and_corrupt(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data(f"npz:{tmp_path / 'none.npz'}")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="could not be read"):
        data(f"npz:{bad}")


# ---------------------------------------------------------------- sampler


def test_sampler_epochs_cover_data_and_repeat_by_seed():
    x = torch.arange(10).float().unsqueeze(1)
    s = BatchSampler(x, batch_size=3, seed=0)
    seen = torch.cat([s.next()[0] for _ in range(3)]).flatten()
    assert len(set(seen.tolist())) == 9  # one epoch of whole batches, no repeats
    again = BatchSampler(x, batch_size=3, seed=0)
    assert torch.equal(torch.cat([again.next()[0] for _ in range(3)]).flatten(), seen)
    state = s.state_dict()
    a = [s.next()[0] for _ in range(4)]
    s.load_state_dict(state)
    assert all(torch.equal(u, s.next()[0]) for u in a)


def test_sampler_rejects_batch_larger_than_data():
    from ganhacks.errors import ConfigError

    with pytest.raises(ConfigError, match="larger than the data set"):
        BatchSampler(torch.zeros(5, 2), batch_size=6, seed=0)


def test_short_name():
    assert short_name("folder:/home/me/my faces/") == "folder-my_faces"
    assert short_name("npz:../d/cats.npz") == "npz-cats"
    assert short_name("ring8") == "ring8"


def test_raw_coordinates_keep_the_protocols_grid():
    """data.coords=raw trains the grid in PacGAN's own coordinates (±4), unit in [-1, 1]; metrics see
    the protocol's coordinates either way."""
    from ganhacks.config import DataConfig

    unit = load_data(DataConfig(name="grid25", num_points=2000))
    raw = load_data(DataConfig(name="grid25", num_points=2000, coords="raw"))
    assert float(unit.x.abs().max()) == pytest.approx(1.0) and unit.scale > 4.0
    assert raw.scale == 1.0 and 4.0 < float(raw.x.abs().max()) < 4.5
    assert torch.allclose(unit.to_data_space(unit.x), raw.x, atol=1e-5)  # the same points
    with pytest.raises(DataError, match="data.coords=raw is for the 2D sets"):
        load_data(DataConfig(name="digits", coords="raw"))
