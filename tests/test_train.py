"""Training loop, run-directory contract, Python API and CLI end to end."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import ganhacks
from ganhacks.api import prepare
from ganhacks.config import build_config
from ganhacks.monitor.stats import Collector, collecting, report
from ganhacks.training import Trainer, load_checkpoint
from ganhacks.tricks import Trick

METRIC_KEYS = {"step", "loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "lr_d", "lr_g", "sec_per_step"}
SMALL_IMAGE = ["model.ngf=8", "model.ndf=8"]


def trainer(name, *overrides, tricks=()):
    cfg, data = prepare(build_config(overrides=[f"data.name={name}", *overrides]))
    return Trainer(cfg, data, tricks=tricks)


def test_collector_means_and_reset():
    c = Collector()
    with collecting(c):
        report("a", torch.tensor(1.0))
        report("a", torch.tensor([2.0, 4.0]))  # a tensor reports its mean
        report("b", 5.0)
    report("a", 100.0)  # outside the block: ignored
    assert c.collect() == {"a": 2.0, "b": 5.0}
    assert c.collect() == {}


def test_twenty_step_smoke_and_determinism():
    def losses(seed):
        t = trainer("ring8", "data.num_points=2000", f"train.seed={seed}", "train.steps=20")
        out = []
        with collecting(t.collector):
            for _ in range(20):
                t.train_step()
                out.append(t.collector.collect())
        return out

    a, b, c = losses(0), losses(0), losses(1)
    assert all(METRIC_KEYS - {"step", "lr_d", "lr_g", "sec_per_step"} <= row.keys() for row in a)
    assert all(np.isfinite(v) for row in a for v in row.values())
    assert a == b
    assert a != c


class Recorder(Trick):
    """A test trick: records hook calls and uses one-sided smoothing through d_targets."""

    key = "recorder"

    def __init__(self):
        self.calls, self.targets = [], []

    def build(self, G, D):
        self.calls.append("build")

    def real_for_d(self, real, ctx):
        self.calls.append("real_for_d")
        return real

    def fake_for_d(self, fake, ctx):
        self.calls.append("fake_for_d")
        assert not fake.requires_grad  # D's update must not reach G
        return fake

    def d_targets(self, real_t, fake_t, ctx):
        self.calls.append("d_targets")
        self.targets.append(real_t.clone())
        return real_t * 0.9, fake_t

    def extra_d_loss(self, ctx):
        self.calls.append("extra_d_loss")
        return torch.zeros(())

    def extra_g_loss(self, ctx):
        self.calls.append("extra_g_loss")

    def after_step(self, ctx):
        self.calls.append("after_step")

    def state_dict(self):
        return {"n": len(self.calls), "t": torch.ones(2)}


def test_trick_hooks_are_called_in_order_and_saved(tmp_path):
    rec = Recorder()
    t = trainer("digits", *SMALL_IMAGE, "train.steps=2", tricks=[rec])
    with collecting(t.collector):
        t.train_step()
    assert rec.calls == ["build", "real_for_d", "fake_for_d", "d_targets", "extra_d_loss", "extra_g_loss", "after_step"]
    assert torch.equal(rec.targets[0], torch.ones(64))
    state = t.state_dict()
    assert state["tricks"]["0:recorder"]["n"] == 7


def test_d_targets_change_the_d_loss():
    plain = trainer("ring8", "data.num_points=500")
    smooth = trainer("ring8", "data.num_points=500", tricks=[Recorder()])
    for tr in (plain, smooth):
        with collecting(tr.collector):
            tr.train_step()
    # same seed, same first batch: only the targets differ (1 vs 0.9 for real)
    assert plain.collector.collect()["loss_d"] != smooth.collector.collect()["loss_d"]


def test_python_api_train_sample_load(tmp_path):
    run = ganhacks.train({"data": {"name": "ring8", "num_points": 3000}, "train": {"steps": 12, "log_every": 5}}, out=tmp_path)
    assert run.step == 12 and run.path.parent == tmp_path
    pts = run.sample(300)
    assert pts.shape == (300, 2) and pts.dtype == torch.float32
    assert [r["step"] for r in run.metrics()] == [5, 10, 12]
    again = ganhacks.load_run(run.path)
    assert torch.allclose(again.sample(50, seed=3), run.sample(50, seed=3), atol=1e-6)
    run.save_samples(tmp_path / "s.png", n=100)
    assert Image.open(tmp_path / "s.png").size == (512, 512)


def test_python_api_keyword_overrides(tmp_path):
    run = ganhacks.train(data__name="digits", train__steps=3, model__ngf=8, model__ndf=8, out=tmp_path)
    assert run.config.model.ngf == 8 and run.sample(5).shape == (5, 1, 8, 8)


def check_run_dir(path: Path, steps: int, kind: str):
    cfg = yaml.safe_load((path / "config.yaml").read_text())
    assert cfg["train"]["steps"] == steps
    assert None not in (cfg["train"]["batch_size"], cfg["model"]["z_dim"], cfg["optim"]["g"]["lr"], cfg["optim"]["d"]["betas"])
    rows = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    assert rows and all(METRIC_KEYS <= row.keys() for row in rows)
    assert rows[-1]["step"] == steps
    samples = sorted((path / "samples").glob("step_*.png"))
    assert samples and samples[-1].name == f"step_{steps:07d}.png"
    img = Image.open(samples[-1])
    assert img.size[0] >= 256
    ckpts = sorted((path / "checkpoints").glob("step_*.json"))
    assert ckpts and ckpts[-1].name == f"step_{steps:07d}.json"
    assert ckpts[-1].with_suffix(".safetensors").exists()
    assert not list((path / "checkpoints").glob("*.pt"))
    state = load_checkpoint(ckpts[-1])
    assert state["step"] == steps and "G" in state and "opt_d" in state and "rng" in state
    info = json.loads((path / "run.json").read_text())
    assert info["data"]["kind"] == kind


def test_cli_ring8_run_directory_contract(cli, tmp_path):
    code, out, err = cli(
        "train", "--data", "ring8", "--steps", "20", "--out", str(tmp_path), "--quiet", "--set", "data.num_points=5000"
    )
    assert code == 0, err
    path = Path(out.strip().splitlines()[-1])
    assert path.name == "00000-ring8-baseline" and path.parent == tmp_path
    check_run_dir(path, 20, "2d")
    assert Image.open(path / "samples" / "step_0000020.png").size == (512, 512)
    # a second run gets a new folder and leaves the first alone
    before = (path / "metrics.jsonl").read_text()
    code, out2, _ = cli(
        "train", "--data", "ring8", "--steps", "3", "--out", str(tmp_path), "--quiet", "--set", "data.num_points=500"
    )
    assert Path(out2.strip()).name == "00001-ring8-baseline"
    assert (path / "metrics.jsonl").read_text() == before
    code, out3, _ = cli("sample", str(path), "--n", "500", "--out", str(tmp_path / "scatter.png"))
    assert code == 0 and Path(out3.strip()).exists()


def test_cli_digits_run_directory_contract(cli, tmp_path):
    code, out, err = cli(
        "train",
        "--data",
        "digits",
        "--steps",
        "20",
        "--batch-size",
        "32",
        "--seed",
        "5",
        "--out",
        str(tmp_path),
        "--set",
        "model.ngf=16",
        "--set",
        "train.log_every=4",
    )
    assert code == 0, err
    assert "samples:" in err and "step" in err  # progress and where to look go to stderr
    path = Path(out.strip().splitlines()[-1])
    check_run_dir(path, 20, "image")
    cfg = yaml.safe_load((path / "config.yaml").read_text())
    assert (cfg["train"]["batch_size"], cfg["train"]["seed"], cfg["model"]["ngf"]) == (32, 5, 16)
    assert (cfg["data"]["size"], cfg["data"]["channels"]) == (8, 1)
    code, out, _ = cli("sample", str(path), "--n", "16", "--out", str(tmp_path / "grid.png"))
    assert code == 0
    assert Image.open(tmp_path / "grid.png").size[0] >= 256


def test_cli_folder_and_npz_just_work(cli, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (20 + i, 30, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    code, out, err = cli(
        "train",
        "--data",
        f"folder:{folder}",
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--quiet",
        "--out",
        str(tmp_path / "runs"),
        "--set",
        "data.size=16",
        *[f"--set={s}" for s in SMALL_IMAGE],
    )
    assert code == 0, err
    assert Path(out.strip()).name == "00000-folder-imgs-baseline"
    np.savez(tmp_path / "d.npz", x=rng.integers(0, 255, (10, 32, 32), dtype=np.uint8))
    code, out, err = cli(
        "train",
        "--data",
        f"npz:{tmp_path / 'd.npz'}",
        "--steps",
        "2",
        "--batch-size",
        "5",
        "--quiet",
        "--out",
        str(tmp_path / "runs"),
        *[f"--set={s}" for s in SMALL_IMAGE],
    )
    assert code == 0, err


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--data", "nope"], "Unknown data set 'nope'"),
        (["--data", "folder:/definitely/missing"], "does not exist"),
        (["--data", "ring8", "--set", "optim.g.lrr=1"], "did you mean 'optim.g.lr'"),
        (["--data", "ring8", "--steps", "0"], "'train.steps' must be a positive number"),
        (["--data", "digits", "--set", "data.size=12"], "DCGAN supports image sizes"),
        (["--data", "digits", "--batch-size", "5000"], "larger than the data set"),
        (["--data", "ring8", "--preset", "fancy"], "Unknown preset 'fancy'"),
        (["--data", "ring8", "--config", "/no/such.yaml"], "does not exist"),
    ],
)
def test_cli_bad_input_one_sentence_no_run_dir(cli, tmp_path, args, fragment):
    code, out, err = cli("train", *args, "--out", str(tmp_path / "runs"), "--quiet")
    assert code == 2
    assert err.startswith("error: ") and fragment in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_cli_dry_run_prints_resolved_config(cli, tmp_path):
    code, out, _ = cli("train", "--data", "grid25", "--dry-run", "--out", str(tmp_path))
    cfg = yaml.safe_load(out)
    assert code == 0 and cfg["model"]["arch"] == "mlp" and cfg["optim"]["d"]["betas"] == [0.8, 0.999]
    assert not any(tmp_path.iterdir())


def test_cli_sample_errors(cli, tmp_path):
    code, _, err = cli("sample", str(tmp_path / "nope"), "--out", str(tmp_path / "x.png"))
    assert code == 2 and "does not exist" in err
    evil = tmp_path / "model.pt"
    evil.write_bytes(b"\x80\x04not loaded")
    assert "pickles" in str(pytest.raises(ganhacks.GanhacksError, load_checkpoint, evil).value)


def test_python_dash_m_entry_point(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ganhacks",
            "train",
            "--data",
            "ring8",
            "--steps",
            "2",
            "--quiet",
            "--out",
            str(tmp_path),
            "--set",
            "data.num_points=300",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip().splitlines()[-1]).is_dir()
    bad = subprocess.run(
        [sys.executable, "-m", "ganhacks", "train", "--data", "nope"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: Unknown data set")
