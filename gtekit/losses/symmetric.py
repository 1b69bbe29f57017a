"""cpt-text's symmetric in-batch loss with a trainable temperature (Neelakantan et al. 2022, §2.2)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._similarity import cosine_matrix

MAX_LOGIT_SCALE = 100.0


def symmetric(q: Tensor, d: Tensor, logit_scale: Tensor | float, rows: slice | None = None) -> Tensor:
    """loss = (CE_rows(logits) + CE_columns(logits)) / 2,  logits_ij = s(q_i, d_j) · exp(τ).

    The M×M logit matrix holds every query against every positive document; the diagonal holds
    the positives. τ (``logit_scale``) is trainable; exp(τ) is clamped to ≤ 100 so the logits
    stay finite (as CLIP does).

    Args:
        q: query embeddings (M, H).
        d: positive document embeddings (M, H).
        logit_scale: τ, a scalar tensor (e.g. ``LogitScale().value``) or float.
        rows: only rows i and columns i of these indices, still divided by the full M (see ``gte``).
    """
    if q.dim() != 2 or q.shape != d.shape:
        raise ValueError(f"q and d must both be (M, H), got {tuple(q.shape)} and {tuple(d.shape)}")
    scale = torch.as_tensor(logit_scale, device=q.device).double().exp().clamp(max=MAX_LOGIT_SCALE)
    scale = scale.to(torch.promote_types(q.dtype, torch.float32))
    labels = torch.arange(q.size(0), device=q.device)[rows if rows is not None else slice(None)]  # (R,)
    row_logits = cosine_matrix(q[labels], d) * scale  # (R, M): rows i of the logit matrix
    column_logits = cosine_matrix(d[labels], q) * scale  # (R, M): columns i, transposed
    total = F.cross_entropy(row_logits, labels, reduction="sum") + F.cross_entropy(column_logits, labels,
                                                                                   reduction="sum")
    return total / (2 * q.size(0))


class LogitScale(nn.Module):
    """The trainable τ of cpt-text, stored as log-scale; starts at exp(τ) = 1 / initial_temperature."""

    def __init__(self, initial_temperature: float = 0.05) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.tensor(math.log(1.0 / initial_temperature)))

    def temperature(self) -> float:
        return 1.0 / min(math.exp(self.value.item()), MAX_LOGIT_SCALE)
