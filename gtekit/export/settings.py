"""The export's fixed choices and :class:`ExportSettings` (what ``gtekit export onnx`` is asked to do, for
``onnx_export.export_onnx``), importable without torch: the command line builds its help from them.

Depends on nothing else in gtekit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_OPSET = 17  # the first opset with a single LayerNormalization op
SUPPORTED_OPSETS = range(14, 21)  # scaled_dot_product_attention needs 14; the TorchScript exporter stops at 20
FP32_MIN_COSINE = 0.999
INT8_MIN_COSINE = 0.95  # all-MiniLM-L6-v2: 0.965 at worst of 2,000 STS-B sentences (per-tensor scales: 0.937 of 300)


@dataclass(frozen=True)
class ExportSettings:
    """Where an ONNX export goes and what it holds."""

    output_dir: str | os.PathLike  # must not exist or be empty, unless overwrite
    int8: bool = False  # also model_int8.onnx: int8 weights, activations quantised at run time
    opset: int = DEFAULT_OPSET
    optimize: bool = False  # onnxruntime's transformer optimizer (fused attention, LayerNorm, GELU)
    overwrite: bool = False  # replace output_dir whole if it is not empty

    def __post_init__(self) -> None:
        if self.opset not in SUPPORTED_OPSETS:
            raise ValueError(f"opset {self.opset} is not supported; "
                             f"valid: {SUPPORTED_OPSETS.start}..{SUPPORTED_OPSETS.stop - 1}")
