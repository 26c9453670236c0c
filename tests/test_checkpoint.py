import json

import pytest
import torch

from ganhacks.errors import GanhacksError
from ganhacks.training.checkpoint import join_state, list_checkpoints, load_checkpoint, save_checkpoint, split_state


def test_split_join_round_trip_keeps_types():
    opt = torch.optim.Adam(torch.nn.Linear(2, 2).parameters(), betas=(0.5, 0.9))
    opt.zero_grad()
    sum(p.sum() for p in opt.param_groups[0]["params"]).backward()
    opt.step()
    state = {"step": 3, "opt": opt.state_dict(), "rng": torch.get_rng_state(), "none": None, "list": [1, "a", 2.5]}
    structure, tensors = split_state(state)
    json.dumps(structure)  # must be plain JSON
    back = join_state(json.loads(json.dumps(structure)), tensors)
    assert back["step"] == 3 and back["none"] is None and back["list"] == [1, "a", 2.5]
    assert set(back["opt"]["state"]) == {0, 1}  # int parameter ids survive JSON
    assert torch.equal(back["rng"], state["rng"])
    fresh = torch.optim.Adam(torch.nn.Linear(2, 2).parameters())
    fresh.load_state_dict(back["opt"])
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_split_refuses_unknown_objects():
    with pytest.raises(TypeError, match="cannot store object"):
        split_state({"x": object()})


def test_save_load_and_keep(tmp_path):
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step, {"w": torch.full((2,), float(step)), "note": "hi"}, keep=2)
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == ["step_0000003.json", "step_0000004.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "step_0000003.json",
        "step_0000003.safetensors",
        "step_0000004.json",
        "step_0000004.safetensors",
    ]
    latest = load_checkpoint(tmp_path)
    assert latest["step"] == 4 and latest["w"].tolist() == [4.0, 4.0] and latest["note"] == "hi"
    assert load_checkpoint(tmp_path / "step_0000003.safetensors")["step"] == 3


def test_pickle_files_refused_without_loading(tmp_path, evil_pickle):
    evil = evil_pickle(tmp_path / "model.pt")
    with pytest.raises(GanhacksError, match="pickles that can run arbitrary code"):
        load_checkpoint(evil)
    assert not evil_pickle.marker.exists()


def test_damaged_checkpoints_get_clear_errors(tmp_path):
    path = save_checkpoint(tmp_path, 1, {"w": torch.ones(1000)})
    tensors = path.with_suffix(".safetensors")
    tensors.write_bytes(tensors.read_bytes()[:100])
    with pytest.raises(GanhacksError, match="missing or damaged"):
        load_checkpoint(path)
    path.write_text("{not json")
    with pytest.raises(GanhacksError, match="is damaged"):
        load_checkpoint(path)
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(GanhacksError, match="not a ganhacks checkpoint"):
        load_checkpoint(other)
    with pytest.raises(GanhacksError, match="No checkpoint found"):
        (tmp_path / "empty").mkdir() or load_checkpoint(tmp_path / "empty")


def test_atomic_write_gives_an_ordinary_file_mode(tmp_path):
    import os

    from ganhacks.fileio import atomic_write

    mask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "report.html", b"<p>x</p>")
    finally:
        os.umask(mask)
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o644  # readable by a web server, not 0600
