"""Which device a model runs on: the one rule every stage uses to turn ``auto`` (or nothing) into a device.

``auto`` is the first CUDA GPU when PyTorch sees one, else the CPU; any other name (``cpu``, ``cuda``,
``cuda:1``, ``mps``) is taken as it is. Under torchrun, ``local_rank`` picks the process's own GPU when the
name does not.
"""

from __future__ import annotations

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
