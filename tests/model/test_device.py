from __future__ import annotations

import pytest
import torch

from gtekit.model import device as device_module
from gtekit.model.device import cpu_flags, has_bf16_matrix_units, resolve_device, uses_bf16


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


AVX2_ONLY = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu sse2 avx avx2 fma\n"
SAPPHIRE_RAPIDS = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    (tmp_path / "avx2").write_text(AVX2_ONLY)
    (tmp_path / "amx").write_text(SAPPHIRE_RAPIDS)
    assert cpu_flags(tmp_path / "avx2") == {"fpu", "sse2", "avx", "avx2", "fma"}
    assert {"avx512_bf16", "amx_bf16"} <= cpu_flags(tmp_path / "amx")
    assert cpu_flags(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize(("cpuinfo", "native"), [(AVX2_ONLY, False), (SAPPHIRE_RAPIDS, True)])
def test_auto_precision_is_bf16_only_on_cpus_with_bf16_matrix_units(cpuinfo, native, tmp_path, monkeypatch):
    (tmp_path / "cpuinfo").write_text(cpuinfo)
    monkeypatch.setattr(device_module, "BF16_CPU_FLAGS", frozenset({"avx512_bf16", "amx_bf16"}))  # the real set
    monkeypatch.setattr(device_module, "cpu_flags", lambda: cpu_flags(tmp_path / "cpuinfo"))
    cpu = torch.device("cpu")
    assert has_bf16_matrix_units(cpu) is native
    assert uses_bf16("auto", cpu) is native
    assert uses_bf16("bf16", cpu) and not uses_bf16("fp32", cpu)
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        uses_bf16("fp16", cpu)


def test_auto_precision_on_cuda_follows_native_bf16_support(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for native in (False, True):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True, n=native: n)
        assert uses_bf16("auto", torch.device("cuda", 0)) is native
