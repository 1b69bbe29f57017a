"""Activations recomputed in backward instead of kept: all of them (``full``) or all but matmul outputs (``selective``).

A transformer layer's backward needs far more than its matrix products' outputs. Where attention runs
torch's math kernel (on CPU, in training, with dropout), each layer keeps the attention probabilities,
their dropout mask and the dropped-out probabilities, each (B, heads, T, T), besides the GELU's input
and output, the LayerNorm inputs and the hidden dropout masks. For all-MiniLM-L6-v2 on a batch of 64
pairs at 128 tokens that is 4.4 GB, two thirds of it element-wise results.

``selective`` (Korthikanti et al. 2022, arXiv:2205.05198, section 5) runs each encoder layer under a
non-reentrant ``torch.utils.checkpoint`` with a selective policy: the outputs of ``mm`` and ``addmm``
(the layer's linear projections) and of the fused attention kernels are kept; in backward the rest of
the layer (the attention's ``bmm``\\ s, softmax, dropout with its random state replayed, GELU, LayerNorm)
runs again from them. A recomputed op sees the same inputs in the same shapes as in the forward, so it
gives the same values bit for bit: losses and weights are those of training without recomputation.
It repeats the layer's element-wise work and its two small attention ``bmm``\\ s (a few percent of a step
on CPU) and keeps about a third of the activations.

``full`` keeps only each layer's input and runs the whole layer again in backward (about a third more
compute). Both go through the encoder's transformers activation checkpointing, so they apply in
training mode only. Depends on torch only.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn
from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts

_aten = torch.ops.aten
KEPT_OPS = frozenset(
    getattr(_aten, name).default
    for name in ("mm", "addmm", "_scaled_dot_product_flash_attention", "_scaled_dot_product_flash_attention_for_cpu",
                 "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention")
    if hasattr(_aten, name))


def keep_matmul_outputs(ctx, op, *args, **kwargs) -> CheckpointPolicy:
    """The selective policy: keep what ``KEPT_OPS`` compute, recompute every other op."""
    return CheckpointPolicy.MUST_SAVE if op in KEPT_OPS else CheckpointPolicy.PREFER_RECOMPUTE


def enable_recompute(encoder: nn.Module, selective: bool = False) -> None:
    """Recompute ``encoder``'s activations layer by layer in backward: all of them, or with ``selective`` all
    but the matmul outputs."""
    kwargs = {"use_reentrant": False}
    if selective:
        kwargs["context_fn"] = partial(create_selective_checkpoint_contexts, keep_matmul_outputs)
    if hasattr(encoder, "activation_checkpointing_enable"):  # transformers >= 5.x
        encoder.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
