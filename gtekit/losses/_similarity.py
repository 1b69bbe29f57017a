"""Cosine similarity (GTE Eq. 7) and the batch layout every loss shares."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def cosine_matrix(a: Tensor, b: Tensor) -> Tensor:
    """s(a_i, b_j) = a_i·b_j / (‖a_i‖‖b_j‖), GTE Eq. 7: (N, H), (M, H) -> (N, M), at least float32."""
    dtype = torch.promote_types(a.dtype, torch.float32)  # bf16 embeddings -> float32 logits
    return F.normalize(a.to(dtype), dim=-1) @ F.normalize(b.to(dtype), dim=-1).T


def all_documents(q: Tensor, d: Tensor, negatives: Tensor | None) -> Tensor:
    """Every document of the batch, (B + B·K, H): the B positives, then the hard negatives.

    Row i + B·k is query i's k-th hard negative, so query i's own documents are rows
    i, i + B, ..., i + B·K.
    """
    if q.dim() != 2 or q.shape != d.shape:
        raise ValueError(f"q and d must both be (B, H), got {tuple(q.shape)} and {tuple(d.shape)}")
    if negatives is None:
        return d
    if negatives.dim() != 3 or negatives.size(0) != d.size(0) or negatives.size(2) != d.size(1):
        raise ValueError(f"negatives must be (B, K, H) = ({d.size(0)}, K, {d.size(1)}), "
                         f"got {tuple(negatives.shape)}")
    return torch.cat([d, negatives.transpose(0, 1).reshape(-1, d.size(1))], dim=0)
