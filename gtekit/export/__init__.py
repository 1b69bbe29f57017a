"""ONNX export of embedding models (``onnx_export``) and ONNX Runtime inference on the export (``runtime``).

``gtekit export onnx MODEL DIR`` writes DIR; ``OnnxEmbedder.load(DIR).encode(texts)`` embeds with it.
onnx and onnxruntime are optional (``pip install 'gtekit[onnx]'``) and imported only when used.
"""

from .onnx_export import ExportResult, ExportVerificationError, export_onnx
from .runtime import OnnxEmbedder, OptionalDependencyError, Precision

__all__ = ["ExportResult", "ExportVerificationError", "OnnxEmbedder", "OptionalDependencyError", "Precision",
           "export_onnx"]
