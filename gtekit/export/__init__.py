"""ONNX export of embedding models (``onnx_export``) and ONNX Runtime inference on the export (``runtime``).

``gtekit export onnx MODEL DIR`` (``export_onnx(MODEL, ExportSettings(DIR))``) writes DIR;
``OnnxEmbedder.load(DIR).encode(texts)`` embeds with it.
onnx and onnxruntime are optional (``pip install 'gtekit[onnx]'``) and imported only when used; torch is
imported on first use of a name below, so that ``gtekit.export.settings`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .settings import ExportSettings

if TYPE_CHECKING:
    from .onnx_export import ExportResult, ExportVerificationError, export_onnx
    from .runtime import OnnxEmbedder, OptionalDependencyError, Precision

__all__ = ["ExportResult", "ExportSettings", "ExportVerificationError", "OnnxEmbedder", "OptionalDependencyError",
           "Precision", "export_onnx"]
_MODULE_OF = {"ExportResult": "onnx_export", "ExportVerificationError": "onnx_export", "export_onnx": "onnx_export",
              "OnnxEmbedder": "runtime", "OptionalDependencyError": "runtime", "Precision": "runtime"}


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'gtekit.export' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
