"""The doctor's probe: its k-NN precision, recall and coverage, in each data kind's feature space."""

import torch

from ganhacks.config import DataConfig
from ganhacks.data import Dataset, load_data
from ganhacks.monitor.probe import Probe, feature_space, random_embedding


def _other_real(data: Dataset, n: int = 256) -> torch.Tensor:
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(1))[:n]
    return data.x[idx]


def _collapsed(data: Dataset, n: int = 256) -> torch.Tensor:
    """n near-copies of one real sample: every fake fine on its own, no variety."""
    one = data.x[:1].repeat(n, *[1] * (data.x.dim() - 1))
    return (one + 0.01 * torch.randn(one.shape, generator=torch.Generator().manual_seed(2))).clamp(-1, 1)


def _check(data: Dataset, space: str) -> None:
    probe = Probe(data, 2, "gaussian", 256)
    real = probe.manifold(_other_real(data))
    assert probe.feature_space == space
    assert set(real) == {"doctor/precision", "doctor/recall", "doctor/coverage"}
    assert real["doctor/recall"] > 0.8 and real["doctor/coverage"] > 0.8 and real["doctor/precision"] > 0.8
    collapsed = probe.manifold(_collapsed(data))
    assert collapsed["doctor/recall"] < 0.25 and collapsed["doctor/coverage"] < 0.25  # a collapse is seen
    assert collapsed["doctor/precision"] > 0.5  # ... and told apart from garbage: what it makes looks real


def test_probe_measures_recall_on_2d_points():
    _check(load_data(DataConfig(name="ring8", num_points=5000)), "points")


def test_probe_measures_recall_in_the_classifier_space_with_labels():
    _check(load_data(DataConfig(name="digits")), "classifier")


def test_probe_measures_recall_in_a_random_embedding_without_labels():
    data = load_data(DataConfig(name="digits"))
    _check(Dataset(name="unlabelled", kind="image", x=data.x, y=None, num_classes=None), "random_conv")


def test_random_embedding_is_fixed_and_leaves_the_rng_alone():
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a = random_embedding(3)
    after = torch.rand(1)
    assert torch.equal(before, after)  # building it drew nothing from the caller's stream
    b = random_embedding(3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    name, embed = feature_space(Dataset(name="u", kind="image", x=torch.zeros(4, 3, 32, 32), y=None, num_classes=None))
    assert name == "random_conv" and embed(torch.zeros(4, 3, 32, 32)).shape == (4, 256)
