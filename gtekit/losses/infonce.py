"""InfoNCE with in-batch and optional hard negatives, GTE Eq. 3 (van den Oord et al., 2018)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._similarity import Temperature, all_documents, cosine_matrix, logits_of
from .false_negatives import NOTHING_EXCLUDED, ExcludedLogits, without


def infonce(q: Tensor, d: Tensor, negatives: Tensor | None = None, temperature: Temperature = 0.05,
            rows: slice | None = None, excluded: ExcludedLogits | None = None) -> Tensor:
    """L_cl = -(1/B) Σ_i log( e^{s(q_i,d_i)/τ} / Σ_j e^{s(q_i,d_j)/τ} ),  GTE Eq. 3.

    The sum over j runs over every document in the batch: all B positives (in-batch negatives)
    and all B·K hard negatives. s is cosine similarity (Eq. 7).

    Args:
        q: query embeddings (B, H).
        d: positive document embeddings (B, H); d_i is q_i's positive.
        negatives: hard negatives (B, K, H) or None.
        temperature: τ (0.05 is sentence-transformers' scale 20), a float or a trainable ``LogitScale``.
        rows: only the terms i of these rows, still divided by the full B (see ``gte``).
        excluded: candidates left out of row i's sum over j (in-batch false negatives, ``false_negatives``):
            its ``query_to_doc`` mask, (R, B(1+K)), one row per row of ``rows``.
    """
    documents = all_documents(q, d, negatives)  # (B(1+K), H)
    labels = torch.arange(q.size(0), device=q.device)[rows if rows is not None else slice(None)]  # (R,)
    logits = logits_of(temperature, torch.promote_types(q.dtype, torch.float32))(
        cosine_matrix(q[labels], documents))  # (R, B(1+K)): s/τ
    logits = without(logits, (excluded or NOTHING_EXCLUDED).query_to_doc)  # excluded candidates: −∞
    return F.cross_entropy(logits, labels, reduction="sum") / q.size(0)
