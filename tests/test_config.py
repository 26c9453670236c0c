import pytest

from ganhacks.config import (
    RunConfig,
    build_config,
    dump_yaml,
    from_dict,
    parse_override,
    resolve,
    to_dict,
    valid_keys,
)
from ganhacks.errors import ConfigError

CONTRACT_KEYS = [
    "data.size",
    "data.channels",
    "train.steps",
    "train.batch_size",
    "train.seed",
    "train.precision",
    "model.z_dim",
    "optim.g.lr",
    "optim.d.lr",
    "optim.g.betas",
    "optim.d.betas",
    "checkpoint.every",
    "checkpoint.keep",
]


def test_contract_keys_exist():
    keys = valid_keys()
    for key in CONTRACT_KEYS:
        assert key in keys


def test_defaults_are_baseline():
    cfg = build_config()
    assert cfg.preset == "baseline"
    assert cfg.loss == "nonsaturating" and cfg.latent == "gaussian"
    assert cfg.train.precision == "fp32"


def test_overrides_are_typed():
    cfg = build_config(overrides=["optim.g.lr=1e-4", "train.steps=30", "optim.d.betas=[0.5, 0.99]", "data.name=ring8"])
    assert cfg.optim.g.lr == pytest.approx(1e-4) and isinstance(cfg.optim.g.lr, float)
    assert cfg.train.steps == 30
    assert cfg.optim.d.betas == (0.5, 0.99)
    assert cfg.data.name == "ring8"


def test_override_keeps_paths_as_strings():
    assert parse_override("data.name=folder:/tmp/x: y") == {"data": {"name": "folder:/tmp/x: y"}}


@pytest.mark.parametrize(
    "override, nearest",
    [("optim.g.lrr=1", "optim.g.lr"), ("train.stepz=3", "train.steps"), ("trian.seed=1", "train.seed"), ("lrr=1", "optim")],
)
def test_unknown_key_names_nearest(override, nearest):
    with pytest.raises(ConfigError) as e:
        build_config(overrides=[override])
    assert f"did you mean '{nearest}" in str(e.value)


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("train.steps=abc", "'train.steps' must be an integer"),
        ("train.steps=1.5", "'train.steps' must be an integer"),
        ("train.steps=0", "'train.steps' must be a positive number"),
        ("train.batch_size=-4", "'train.batch_size' must be a positive number"),
        ("optim.g.lr=fast", "'optim.g.lr' must be a number"),
        ("optim.g.betas=[0.5]", "'optim.g.betas' must be"),
        ("optim.g.betas=[0.5, 1.5]", "two numbers in [0, 1)"),
        ("train.precision=fp8", "'train.precision' must be one of"),
        ("data.channels=2", "1 (grayscale) or 3 (RGB)"),
        ("train.device=tpu", "'train.device' must be"),
        ("train.steps", "must look like key=value"),
    ],
)
def test_bad_values_get_one_clear_sentence(override, fragment):
    with pytest.raises(ConfigError) as e:
        build_config(overrides=[override])
    msg = str(e.value)
    assert fragment in msg
    assert "\n" not in msg


def test_unknown_preset():
    with pytest.raises(ConfigError, match="Unknown preset 'baselin'; did you mean 'baseline'"):
        build_config(preset="baselin")


def test_yaml_file_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  steps: 7\n  seed: 3\noptim:\n  d:\n    lr: 0.001\n")
    cfg = build_config(file=f, overrides=["train.seed=4"])
    assert (cfg.train.steps, cfg.train.seed, cfg.optim.d.lr) == (7, 4, 0.001)


def test_yaml_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        build_config(file=tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        build_config(file=bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="mapping"):
        build_config(file=scalar)
    section = tmp_path / "section.yaml"
    section.write_text("train: 5\n")
    with pytest.raises(ConfigError, match="'train' must be a mapping"):
        build_config(file=section)


def test_yaml_round_trip():
    import yaml

    cfg = build_config(overrides=["data.name=grid25", "optim.g.betas=[0.1, 0.2]"])
    again = from_dict(RunConfig, yaml.safe_load(dump_yaml(cfg)))
    assert again == cfg
    assert to_dict(again)["optim"]["g"]["betas"] == [0.1, 0.2]


def test_resolve_fills_protocol_defaults():
    two_d = resolve(build_config(), kind="2d", size=None, channels=None)
    assert two_d.model.arch == "mlp" and two_d.model.z_dim == 2 and two_d.train.batch_size == 100
    assert two_d.optim.g.lr == 1e-4 and two_d.optim.d.betas == (0.8, 0.999)
    img = resolve(build_config(), kind="image", size=28, channels=1)
    assert img.model.arch == "dcgan" and img.model.z_dim == 100 and img.train.batch_size == 64
    assert img.optim.g.lr == 2e-4 and img.optim.g.betas == (0.5, 0.999)
    assert (img.data.size, img.data.channels) == (28, 1)
    explicit = resolve(build_config(overrides=["optim.g.lr=0.01", "model.z_dim=8"]), kind="image", size=8, channels=1)
    assert explicit.optim.g.lr == 0.01 and explicit.model.z_dim == 8


def test_resolve_refuses_wrong_arch():
    with pytest.raises(ConfigError, match="2D data needs model.arch=mlp"):
        resolve(build_config(overrides=["model.arch=dcgan"]), kind="2d", size=None, channels=None)


def test_eval_at_takes_a_list_of_steps():
    from ganhacks.config import build_config, nest

    values = nest({"data.name": "ring8"})
    assert build_config(values=values, overrides=["eval.at=[2000,10000]"]).eval.at == (2000, 10000)
    assert build_config(values=values, overrides=["eval.at=500"]).eval.at == (500,)
    with pytest.raises(ConfigError, match=r"'eval.at' must be a list of integers or null, got \[5, 'x'\]"):
        build_config(values=values, overrides=["eval.at=[5,x]"])
    with pytest.raises(ConfigError, match="'eval.at' must be a positive number, got 0"):
        build_config(values=values, overrides=["eval.at=[0]"])
