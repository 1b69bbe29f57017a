"""The choices of an inference run, importable without torch (the command line builds its help from them).

Depends on nothing else in gtekit.
"""

from __future__ import annotations

from enum import Enum

DEFAULT_WINDOW_SIZE = 4096  # texts tokenised and length-sorted together
DEFAULT_BATCH_SIZE = 128  # texts per forward pass at most
DEFAULT_MAX_BATCH_TOKENS = 4096  # padded tokens per forward pass at most (fastest of 2048-8192 on MiniLM, CPU)


class Backend(Enum):
    TORCH = "torch"
    ONNX = "onnx"

    @classmethod
    def parse(cls, value: str | Backend) -> Backend:
        if isinstance(value, Backend):
            return value
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown backend {value!r}; valid: {', '.join(b.value for b in cls)}") from None


class ComputePrecision(Enum):
    FP32 = "fp32"
    BF16 = "bf16"
    INT8 = "int8"

    @classmethod
    def parse(cls, value: str | ComputePrecision) -> ComputePrecision:
        if isinstance(value, ComputePrecision):
            return value
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown precision {value!r}; valid: {', '.join(p.value for p in cls)}") from None
