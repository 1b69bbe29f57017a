"""Which device a model runs on: the one rule every stage uses to turn ``auto`` (or nothing) into a device.

``auto`` is the first CUDA GPU when PyTorch sees one, else the CPU; any other name (``cpu``, ``cuda``,
``cuda:1``, ``mps``) is taken as it is. Under torchrun, ``local_rank`` picks the process's own GPU when the
name does not.

Where bf16 pays: :func:`has_bf16_matrix_units` says whether a device multiplies bf16 matrices natively (a
CUDA GPU of compute capability 8 or more; a CPU with AVX512-BF16 or AMX, read from ``/proc/cpuinfo``), and
:func:`uses_bf16` turns ``train.precision`` (auto | fp32 | bf16) into the choice for one device.
"""

from __future__ import annotations

from pathlib import Path

import torch

AUTO = "auto"


def resolve_device(name: str | None = AUTO, local_rank: int | None = None) -> torch.device:
    """The device ``name`` stands for (``None`` and ``"auto"``: CUDA when available, else CPU)."""
    if name is None or name == AUTO:
        return torch.device("cuda", local_rank or 0) if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and device.index is None and local_rank is not None:
        return torch.device("cuda", local_rank)
    return device


BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})  # /proc/cpuinfo's names for bf16 matrix instructions


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (the first ``flags`` line); empty where there is no such file."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def has_bf16_matrix_units(device: torch.device) -> bool:
    """Whether ``device`` multiplies bf16 matrices natively, so bf16 autocast is faster than fp32 there."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return bool(cpu_flags() & BF16_CPU_FLAGS)
    return False


def uses_bf16(precision: str, device: torch.device) -> bool:
    """``train.precision`` on ``device``: ``bf16`` and ``fp32`` as named; ``auto`` bf16 only where the device has
    bf16 matrix units (:func:`has_bf16_matrix_units`)."""
    if precision == "auto":
        return has_bf16_matrix_units(device)
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"unknown precision {precision!r}; valid: auto, fp32, bf16")
    return precision == "bf16"
