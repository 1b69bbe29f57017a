"""Numeric precision of inference: fp32, bf16 autocast, or int8 weights by dynamic quantisation.

- ``fp32``: the model as trained.
- ``bf16``: ``torch.autocast(dtype=torch.bfloat16)`` around the encoder (matmuls in bf16, reductions
  such as layer norm and softmax kept in fp32 by autocast); pooling and normalisation in fp32. Fast on
  GPUs and on CPUs with AVX512-BF16 or AMX; on other CPUs the bf16 matmuls have no native kernel and
  run several times slower than fp32.
- ``int8``: ``torch.ao.quantization.quantize_dynamic`` on every ``nn.Linear`` of the encoder: weights
  stored as int8 with one scale per output channel (``per_channel_dynamic_qconfig``; one scale per
  tensor lost about twice as much cosine to fp32 on all-MiniLM-L6-v2), activations quantised per
  batch at run time (y = s_x s_w (q_x q_w) + b), computed by fbgemm/oneDNN int8 kernels. CPU only;
  embeddings, attention softmax and layer norms stay fp32.

The measured quality cost of bf16 and int8 on all-MiniLM-L6-v2 is in docs/encoding.md
(``python -m benchmarks.quality``). Depends on torch and ``gtekit.model.embedder``; knows nothing of training.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from ..model.embedder import Embedder
from .settings import ComputePrecision


def quantize_int8(model: Embedder) -> Embedder:
    """A copy of ``model`` whose encoder's ``nn.Linear`` layers are dynamically quantised to int8 (CPU).

    The original model is left untouched. The embedding tables, layer norms and pooling stay fp32."""
    if model.device.type != "cpu":
        raise ValueError(f"int8 (dynamic quantisation) runs on CPU only; the model is on {model.device}")
    quantized = copy.deepcopy(model).eval()
    with warnings.catch_warnings():  # torch >= 2.10 flags torch.ao.quantization as deprecated in favour of torchao
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning, message=r".*(deprecat|quantize_per_tensor).*")
        qconfig = torch.ao.quantization.per_channel_dynamic_qconfig  # one scale per output row of each weight
        quantized.encoder = torch.ao.quantization.quantize_dynamic(quantized.encoder, {nn.Linear: qconfig},
                                                                   dtype=torch.qint8)
    return quantized


def quantized_linear_count(model: Embedder) -> int:
    """How many of the encoder's linear layers are int8 (0 for a model that was not quantised)."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

    return sum(isinstance(module, DynamicQuantizedLinear) for module in model.encoder.modules())


def prepare_model(model: Embedder, precision: ComputePrecision | str) -> Embedder:
    """The model to run at ``precision``: a quantised copy for int8, ``model`` itself otherwise
    (bf16 is autocast at run time, see :func:`autocast`)."""
    precision = ComputePrecision.parse(precision)
    return quantize_int8(model) if precision is ComputePrecision.INT8 else model


def autocast(precision: ComputePrecision, device: torch.device):
    """The autocast context of ``precision`` on ``device`` (a no-op unless bf16)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision is ComputePrecision.BF16)
