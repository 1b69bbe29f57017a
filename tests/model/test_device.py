from __future__ import annotations

import pytest
import torch

from gtekit.model.device import resolve_device


@pytest.mark.parametrize("name", [None, "auto"])
def test_auto_is_cuda_when_available_else_cpu(name, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(name) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(name) == torch.device("cuda", 0)
    assert resolve_device(name, local_rank=3) == torch.device("cuda", 3)


def test_named_devices_are_taken_as_they_are():
    assert resolve_device("cpu", local_rank=1) == torch.device("cpu")
    assert resolve_device("cuda:2", local_rank=1) == torch.device("cuda", 2)
    assert resolve_device("cuda", local_rank=1) == torch.device("cuda", 1)
    with pytest.raises(RuntimeError):
        resolve_device("gpu")
