"""EncodeSettings' checks, made before any model loads, and the device an encoding runs on."""

from __future__ import annotations

import pytest
import torch

from gtekit.encode.engine import EncodeOptions
from gtekit.encode.settings import Backend, ComputePrecision, EncodeSettings
from gtekit.model.device import resolve_device


def test_strings_become_enum_members_and_npy_outputs_are_arrays():
    settings = EncodeSettings(model="m", inputs=["a.txt"], output="out.npy", precision="int8", backend="onnx")
    assert settings.precision is ComputePrecision.INT8 and settings.backend is Backend.ONNX
    assert settings.writes_array and not EncodeSettings(output="shards").writes_array


@pytest.mark.parametrize(("values", "message"), [
    ({"batch_size": 0}, r"batch_size \(--batch-size\) must be >= 1, got 0"),
    ({"processes": 0}, r"processes \(--processes\) must be >= 1, got 0"),
    ({"shard_size": 0}, r"shard_size \(--shard-size\) must be >= 1, got 0"),
    ({"max_batch_tokens": -1}, r"max_batch_tokens \(--max-batch-tokens\) must be >= 0, got -1"),
    ({"skip_invalid": True, "output": "x.npy"}, "a .npy array has no ids"),
    ({"precision": "fp16"}, "unknown precision 'fp16'; valid: fp32, bf16, int8"),
])
def test_bad_settings_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        EncodeSettings(**{"model": "m", "inputs": ["a.txt"], "output": "out", **values})


def test_the_torch_backend_takes_the_auto_device_and_onnx_the_cpu():
    assert EncodeOptions().resolved_device() == resolve_device(None)
    assert EncodeOptions(backend="onnx").resolved_device() == torch.device("cpu")
    assert EncodeOptions(device="cpu").resolved_device() == torch.device("cpu")
    assert EncodeOptions(device="cuda:1", backend="onnx").resolved_device() == torch.device("cuda", 1)  # refused later
