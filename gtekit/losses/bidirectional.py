"""Two-direction in-batch loss at a fixed temperature: q→d and d→q of GTE Eq. 5, for the Table 11 ablation."""

from __future__ import annotations

from torch import Tensor

from ._similarity import Temperature
from .false_negatives import ExcludedLogits
from .symmetric import symmetric


def bidirectional(q: Tensor, d: Tensor, negatives: Tensor | None = None, temperature: Temperature = 0.05,
                  rows: slice | None = None, excluded: ExcludedLogits | None = None) -> Tensor:
    """loss = (1/2M) Σ_i [ -log e^{s_ii/τ} / Σ_j e^{s(q_i,d_j)/τ}  -  log e^{s_ii/τ} / Σ_j e^{s(q_j,d_i)/τ} ].

    s_ii = s(q_i, d_i), cosine similarity (GTE Eq. 7).

    GTE Eq. 5 keeps two of its four sums of the partition function: q→d (Eq. 3, ``infonce``) and d→q.
    Adding q→q and d→d gives the improved loss (``gte``). The same function as cpt-text's ``symmetric``,
    but τ stays fixed: GTE fixes τ (section 3.1), so the three rows of the loss ablation differ in the
    negatives only. In-batch negatives only, as ``symmetric``.

    Args:
        q: query embeddings (M, H).
        d: positive document embeddings (M, H).
        negatives: must be None.
        temperature: τ, a float (a ``LogitScale`` works too).
        rows: only rows i and columns i of these indices, still divided by the full M (see ``gte``).
        excluded: logits left out (in-batch false negatives), as for ``symmetric``.
    """
    return symmetric(q, d, negatives, temperature, rows, excluded)
