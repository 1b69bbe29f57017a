"""cpt-text's symmetric in-batch loss with a trainable temperature (Neelakantan et al. 2022, §2.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._similarity import Temperature, cosine_matrix, logits_of
from .false_negatives import NOTHING_EXCLUDED, ExcludedLogits, without


def symmetric(q: Tensor, d: Tensor, negatives: Tensor | None = None, temperature: Temperature = 0.05,
              rows: slice | None = None, excluded: ExcludedLogits | None = None) -> Tensor:
    """loss = (CE_rows(logits) + CE_columns(logits)) / 2,  logits_ij = s(q_i, d_j) / τ.

    The M×M logit matrix holds every query against every positive document; the diagonal holds
    the positives. In cpt-text τ is trainable: pass a ``LogitScale``, whose logits are
    s(q_i, d_j) · exp(value) with exp(value) clamped to ≤ 100 so they stay finite (as CLIP does);
    ``gtekit.losses.temperature_for`` gives one to this loss.

    Args:
        q: query embeddings (M, H).
        d: positive document embeddings (M, H).
        negatives: must be None: the loss compares the queries with the batch's positives only, so hard
            negatives are refused rather than embedded for nothing.
        temperature: τ, a trainable ``LogitScale`` or a float.
        rows: only rows i and columns i of these indices, still divided by the full M (see ``gte``).
        excluded: logits left out (in-batch false negatives, ``false_negatives``): ``query_to_doc`` of the
            rows, ``doc_to_query`` of the columns, each (R, M), one row per row of ``rows``.
    """
    if q.dim() != 2 or q.shape != d.shape:
        raise ValueError(f"q and d must both be (M, H), got {tuple(q.shape)} and {tuple(d.shape)}")
    if negatives is not None:
        raise ValueError(f"the symmetric loss takes no hard negatives (got {tuple(negatives.shape)}): it compares "
                         "each query with the batch's positives only; set data.negatives_per_query=0")
    logits = logits_of(temperature, torch.promote_types(q.dtype, torch.float32))  # s -> s/τ
    labels = torch.arange(q.size(0), device=q.device)[rows if rows is not None else slice(None)]  # (R,)
    excluded = excluded or NOTHING_EXCLUDED
    row_logits = without(logits(cosine_matrix(q[labels], d)), excluded.query_to_doc)  # (R, M): rows i of the logits
    column_logits = without(logits(cosine_matrix(d[labels], q)), excluded.doc_to_query)  # (R, M): columns i, transposed
    total = F.cross_entropy(row_logits, labels, reduction="sum") + F.cross_entropy(column_logits, labels,
                                                                                   reduction="sum")
    return total / (2 * q.size(0))
