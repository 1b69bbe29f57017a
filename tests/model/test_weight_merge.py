"""WiSE-FT weight interpolation: exact ends, the midpoint against a naive loop, mismatches named, atomic output."""

from __future__ import annotations

import json

import pytest
import torch

from gtekit import Embedder
from gtekit.model.weight_merge import MergeError, MergeSettings, interpolate_state, merge_models
from tests.helpers import write_start_and_trained


@pytest.fixture
def two_models(tmp_path):
    return write_start_and_trained(tmp_path)


def weights(folder) -> dict[str, torch.Tensor]:
    return Embedder.load(folder).encoder.state_dict()


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_ends_are_the_two_models_exactly(two_models, tmp_path, weight) -> None:
    start, trained = two_models
    merged = merge_models(MergeSettings(str(start), str(trained), weight, str(tmp_path / "merged")))
    expected = weights(start if weight == 0.0 else trained)
    got = weights(merged)
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[name], expected[name]) for name in got)
    record = json.loads((merged / "merge.json").read_text())
    assert record["weight"] == weight and record["start"] == str(start)


def test_midpoint_matches_a_naive_loop(two_models, tmp_path) -> None:
    start, trained = two_models
    merged = weights(merge_models(MergeSettings(str(start), str(trained), 0.3, str(tmp_path / "merged"))))
    a, b = weights(start), weights(trained)
    for name, tensor in merged.items():
        if tensor.is_floating_point():
            flat_a, flat_b = a[name].reshape(-1).tolist(), b[name].reshape(-1).tolist()
            naive = torch.tensor([0.7 * x + 0.3 * y for x, y in zip(flat_a, flat_b, strict=True)]).view_as(tensor)
            torch.testing.assert_close(tensor, naive.to(tensor.dtype), rtol=0, atol=1e-7)
        else:
            assert torch.equal(tensor, a[name])


def test_mismatches_are_named() -> None:
    a = {"w": torch.zeros(2, 3), "ids": torch.arange(3)}
    with pytest.raises(MergeError, match=r"different tensors, e\.g\. 'extra'"):
        interpolate_state(a, {**a, "extra": torch.zeros(1)}, 0.5)
    with pytest.raises(MergeError, match=r"tensor 'w': \(2, 3\) torch.float32 against \(3, 2\)"):
        interpolate_state(a, {**a, "w": torch.zeros(3, 2)}, 0.5)
    with pytest.raises(MergeError, match=r"tensor 'ids' .* differs"):
        interpolate_state(a, {**a, "ids": torch.arange(1, 4)}, 0.5)
    with pytest.raises(MergeError, match=r"weight must be in \[0, 1\]"):
        MergeSettings("a", "b", 1.5, "out")
