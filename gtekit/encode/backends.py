"""What runs a padded batch: PyTorch (fp32, bf16 autocast, int8 dynamic quantisation) or ONNX Runtime.

Both take the same numpy features (input_ids, attention_mask, ...) of shape (rows, T) and return the
pooled, not yet normalised, embeddings (rows, H) as float32:

- ``torch``: an ``Embedder`` (a model folder, ``all-MiniLM-L6-v2``, a hub name), at ``--precision``
  fp32, bf16 or int8 (``quantize``), on any device;
- ``onnx``: a folder written by ``gtekit export onnx`` (``gtekit.export``), run by onnxruntime's CPU
  provider with its graph optimisations; fp32 runs ``model.onnx``, int8 ``model_int8.onnx``.

Depends on torch, ``gtekit.model.embedder`` and, for onnx only, ``gtekit.export.runtime`` (imported when used).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import torch

from ..model.embedder import Embedder
from ..model.model_files import EmbedderSettings
from .precision import autocast, prepare_model
from .settings import Backend, ComputePrecision


class BatchEncoder(Protocol):
    def __call__(self, features: dict[str, np.ndarray]) -> np.ndarray: ...


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to run: what the pipeline needs to tokenise (tokenizer, settings) and the batch encoder."""

    tokenizer: Any
    settings: EmbedderSettings
    dimension: int
    source: str
    encoder: BatchEncoder


class TorchBatchEncoder:
    """Padded batch -> pooled embeddings (rows, H) float32 with an ``Embedder`` at a ``ComputePrecision``."""

    def __init__(self, model: Embedder, precision: ComputePrecision, device: str | torch.device) -> None:
        self.device = torch.device(device)
        if precision is ComputePrecision.INT8 and self.device.type != "cpu":
            raise ValueError(f"precision int8 runs on CPU only, not on {self.device}")
        self.model = prepare_model(model.to(self.device).eval(), precision)
        self.precision = precision

    @torch.inference_mode()
    def __call__(self, features: dict[str, np.ndarray]) -> np.ndarray:
        tensors = {key: torch.from_numpy(value).to(self.device) for key, value in features.items()}
        with autocast(self.precision, self.device):
            embeddings = self.model(tensors)  # (rows, H)
        return embeddings.float().cpu().numpy()


class OnnxBatchEncoder:
    """Padded batch -> pooled embeddings (rows, H) float32 with an onnxruntime session of an export folder."""

    def __init__(self, onnx_model) -> None:
        from ..export.runtime import POOLED_OUTPUT

        self.session, self.output = onnx_model.session, POOLED_OUTPUT
        self.input_names = list(onnx_model.input_names)

    def __call__(self, features: dict[str, np.ndarray]) -> np.ndarray:
        feed = {name: features[name] if name in features else np.zeros_like(features["input_ids"])
                for name in self.input_names}  # a tokenizer without token_type_ids: zeros, the encoder's default
        return np.asarray(self.session.run([self.output], feed)[0], dtype=np.float32)


def load_model(model: str | Embedder, *, backend: Backend = Backend.TORCH,
               precision: ComputePrecision = ComputePrecision.FP32, device: str | torch.device = "cpu",
               max_seq_length: int | None = None, threads: int | None = None) -> LoadedModel:
    """Load ``model`` for ``backend`` at ``precision``. ``threads``: intra-op threads (None: the library's
    default; torch's is process-wide). An ``Embedder`` object is used as it is (not copied, not changed)."""
    backend, precision = Backend.parse(backend), ComputePrecision.parse(precision)
    if threads is not None and backend is Backend.TORCH:
        torch.set_num_threads(threads)
    if backend is Backend.ONNX:
        return _load_onnx(model, precision, device, max_seq_length, threads)
    loaded = Embedder.load(model) if isinstance(model, str) else copy.copy(model)  # shares weights; own settings
    if max_seq_length is not None:
        loaded.settings = replace(loaded.settings, max_seq_length=max_seq_length)
    return LoadedModel(loaded.tokenizer, loaded.settings, loaded.dimension, str(getattr(loaded, "source", model)),
                       TorchBatchEncoder(loaded, precision, device))


def _load_onnx(model: str | Embedder, precision: ComputePrecision, device: str | torch.device,
               max_seq_length: int | None, threads: int | None) -> LoadedModel:
    from ..export.runtime import OnnxEmbedder

    if not isinstance(model, str):
        raise ValueError("the onnx backend runs an export folder (`gtekit export onnx MODEL DIR`): give its path")
    if precision is ComputePrecision.BF16:
        raise ValueError("the onnx backend runs fp32 or int8 graphs; for bf16 use --backend torch")
    if torch.device(device).type != "cpu":
        raise ValueError(f"the onnx backend runs on CPU; got --device {device}")
    onnx_model = OnnxEmbedder.load(model, int8=precision is ComputePrecision.INT8, threads=threads)
    settings = onnx_model.settings
    if max_seq_length is not None:
        settings = replace(settings, max_seq_length=max_seq_length)
    return LoadedModel(onnx_model.tokenizer, settings, onnx_model.dimension, onnx_model.source,
                       OnnxBatchEncoder(onnx_model))
