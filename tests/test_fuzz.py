"""Property-based tests: whatever a user feeds the config parser, the npz loader or the image-folder
loader, the answer is a valid result or the library's own error (GanhacksError), never another
exception. Each property checks what a valid result means, too."""

from __future__ import annotations

import io
import math
import os
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ganhacks.config import DataConfig, RunConfig, build_config, dump_yaml, from_dict, nest
from ganhacks.data import load_data
from ganhacks.errors import GanhacksError

# How many examples: the "ci" profile by default (60), "deep" for a long local campaign:
# HYPOTHESIS_PROFILE=deep .venv/bin/python -m pytest tests/test_fuzz.py
settings.register_profile("ci", max_examples=60)
settings.register_profile("deep", max_examples=3000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------- config

# Real keys make the fuzzer reach the validators rather than stop at "unknown key" every time.
KEYS = [
    "train.steps", "train.batch_size", "train.d_steps", "train.seed", "train.precision", "train.d_batches",
    "train.log_every", "optim.g.lr", "optim.d.betas", "optim.d.name", "optim.g.momentum", "model.arch",
    "model.z_dim", "model.ngf", "model.g_norm", "model.d_act", "loss", "latent", "data.name", "data.size",
    "data.channels", "checkpoint.every", "checkpoint.keep", "doctor.action", "doctor.remedy", "doctor.window",
    "tricks.replay", "tricks.replay.p", "tricks.pack.m", "tricks.label_smoothing.mode", "tricks.instance_noise.sigma",
    "tricks.instance_noise.until", "tricks.conditional", "tricks.acgan", "tricks.vae.weight", "eval.every", "preset",
]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["auto", "adam", "sgd", "one_sided", "two_sided_random", "minimax", "bf16", "[0.5, 0.9]", "{}", "[]"]),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=20))


def _config_or_own_error(**kwargs) -> RunConfig | None:
    try:
        cfg = build_config(**kwargs)
    except GanhacksError as e:
        assert str(e) and "\n" not in str(e), "an error is one sentence"
        return None
    assert isinstance(cfg, RunConfig)
    # A config that validated survives its own YAML round trip (what a run folder stores).
    assert from_dict(RunConfig, yaml.safe_load(dump_yaml(cfg))) == cfg
    return cfg


@FUZZ
@given(st.lists(st.tuples(keys, st.text(max_size=24)), max_size=4))
def test_fuzz_cli_overrides(pairs):
    _config_or_own_error(overrides=[f"{k}={v}" for k, v in pairs])


@FUZZ
@given(st.dictionaries(keys, values, max_size=5))
def test_fuzz_nested_values(flat):
    try:
        nested = nest(flat)
    except GanhacksError:  # keys that clash ('train' and 'train.steps'): the library's own error
        return
    _config_or_own_error(values=nested)


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_fuzz_yaml_files(content):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_bytes(content)
        _config_or_own_error(file=path)


# ---------------------------------------------------------------------------- npz

DTYPES = ["uint8", "int8", "int64", "uint16", "float16", "float32", "float64", "bool", "complex64", "<U3", "object"]


@st.composite
def arrays(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=5)))
    n = int(np.prod(shape)) if shape else 1
    if dtype == "object":
        return np.array([None] * n, dtype=object).reshape(shape)
    if dtype == "<U3":
        return np.full(shape, "abc")
    raw = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=n, max_size=n))
    with np.errstate(all="ignore"):
        return np.nan_to_num(np.array(raw, dtype=np.float64), nan=0, posinf=0, neginf=0).astype(dtype).reshape(shape) if dtype in (
            "uint8", "int8", "int64", "uint16", "bool"
        ) else np.array(raw, dtype=np.float64).astype(dtype).reshape(shape)  # fmt: skip


def _data_or_own_error(name: str):
    try:
        ds = load_data(DataConfig(name=name))
    except GanhacksError as e:
        assert str(e) and "\n" not in str(e)
        return None
    x = ds.x
    assert x.dtype == torch.float32 and x.dim() == 4 and x.shape[0] >= 1 and x.shape[-1] == x.shape[-2]
    assert x.shape[1] in (1, 2, 3, 4) and torch.isfinite(x).all() and x.min() >= -1 and x.max() <= 1
    if ds.y is not None:
        assert ds.y.shape == (len(x),) and ds.y.min() >= 0
    return ds


@FUZZ
@given(arrays(), st.one_of(st.none(), arrays()), st.sampled_from(["x", "images"]))
def test_fuzz_npz_arrays(x, y, name):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.npz"
        np.savez(path, **{name: x}, **({"y": y} if y is not None else {}))
        _data_or_own_error(f"npz:{path}")


@FUZZ
@given(st.binary(max_size=300), st.booleans())
def test_fuzz_npz_bytes(content, zip_header):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.npz"
        path.write_bytes((b"PK\x03\x04" if zip_header else b"") + content)
        _data_or_own_error(f"npz:{path}")


# ---------------------------------------------------------------------------- image folders


@st.composite
def image_files(draw):
    """An image of a random mode and size, saved in a random format, maybe damaged; or random bytes."""
    ext = draw(st.sampled_from([".png", ".jpg", ".bmp", ".webp"]))
    if draw(st.integers(0, 4)) == 0:
        return ext, draw(st.binary(max_size=64))
    mode = draw(st.sampled_from(["L", "RGB", "RGBA", "P", "LA", "1", "I;16" if ext == ".png" else "L"]))
    if ext in (".jpg",) and mode not in ("L", "RGB"):
        mode = "RGB"
    if ext == ".bmp" and mode in ("LA", "I;16"):
        mode = "RGB"
    size = (draw(st.integers(1, 40)), draw(st.integers(1, 40)))
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format={".jpg": "JPEG"}.get(ext, ext[1:].upper()))
    data = buffer.getvalue()
    cut = draw(st.sampled_from([None, None, len(data) // 2, 8, 0]))
    if cut is not None:
        data = data[:cut]
    flip = draw(st.integers(0, max(0, len(data) - 1))) if data and draw(st.booleans()) else None
    if flip is not None:
        data = data[:flip] + bytes([data[flip] ^ 0xFF]) + data[flip + 1 :]
    return ext, data


@FUZZ
@given(st.lists(image_files(), min_size=1, max_size=5), st.sampled_from([None, 8, 16]), st.sampled_from([None, 1, 3]))
def test_fuzz_image_folders(files, size, channels):
    with tempfile.TemporaryDirectory() as tmp:
        for i, (ext, data) in enumerate(files):
            (Path(tmp) / f"{i}{ext}").write_bytes(data)
        try:
            ds = load_data(DataConfig(name=f"folder:{tmp}", size=size, channels=channels))
        except GanhacksError as e:
            assert str(e) and "\n" not in str(e)
            return
        assert ds.x.shape[1:] == (channels or 3, size or 64, size or 64) and 1 <= len(ds) <= len(files)
        assert torch.isfinite(ds.x).all()


# ---------------------------------------------------------------------------- decompression bombs


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels: the header only, no pixel data worth decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])  # 8-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [10_000, 60_000])  # 100 M pixels (over our cap) and 3.6 G (a bomb)
def test_huge_images_are_refused_before_decoding(tmp_path, caplog, side):
    (tmp_path / "bomb.png").write_bytes(_png_header(side, side))
    Image.new("RGB", (8, 8)).save(tmp_path / "fine.png")
    ds = load_data(DataConfig(name=f"folder:{tmp_path}", size=8))
    assert len(ds) == 1
    assert "skipped 1 of 2 files" in caplog.text and "bomb.png" in caplog.text
    assert math.isfinite(float(ds.x.sum()))
