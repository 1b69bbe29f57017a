"""Matryoshka representation learning: one loss on nested prefixes of the embeddings (Kusupati et al. 2022).

    L = Σ_{m ∈ M} w_m · L_base( q^(m), d^(m), n^(m) ),   x^(m) = x_{1:m} / ‖x_{1:m}‖

Kusupati et al. 2022, "Matryoshka Representation Learning", arXiv:2205.13147, §3, Eq. 1: the loss of the
first m dimensions for every m of a set M of nested sizes, weighted by their importance c_m (here w_m,
default 1). L_base is any loss of ``gtekit.losses`` (with a distillation term, the student's prefixes
enter it: ``with_distillation``), at the same temperature for every m; each prefix is re-normalised, as
sentence-transformers' ``MatryoshkaLoss`` does (its ``shrink``), so that a truncated embedding is used
as it is trained. The prefixes are slices of the embeddings inside the loss, so the gradient reaching the
full embeddings is that of the total L: the gradient cache, the row blocks and the gather across
processes take it like any loss. Nothing here knows about models or data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ._similarity import Temperature


def check_dims(dims: Sequence[int], weights: Sequence[float] = ()) -> list[float]:
    """The weights of ``dims`` (all 1 when ``weights`` is empty); raises a ValueError for no dims, a dim
    below 1, a dim given twice, weights of another length or a negative weight. Any order is fine."""
    if not dims:
        raise ValueError("matryoshka dims: give at least one dimension, e.g. [384, 256, 128, 64]")
    if any(not isinstance(m, int) or m < 1 for m in dims) or len(set(dims)) != len(dims):
        raise ValueError(f"matryoshka dims must be distinct whole numbers >= 1, got {list(dims)}")
    weights = list(weights) if weights else [1.0] * len(dims)
    if len(weights) != len(dims) or any(w < 0 for w in weights):
        raise ValueError(f"matryoshka weights must be one number >= 0 per dimension ({len(dims)}: {list(dims)}), "
                         f"got {weights}")
    return weights


def prefix(x: Tensor, dim: int) -> Tensor:
    """x^(m): the first ``dim`` features of each embedding (..., H) -> (..., m), re-normalised, at least float32."""
    if dim > x.size(-1):
        raise ValueError(f"matryoshka dimension {dim} is more than the embeddings' {x.size(-1)}")
    return F.normalize(x[..., :dim].to(torch.promote_types(x.dtype, torch.float32)), dim=-1)


def matryoshka(loss: Callable[..., Tensor], dims: Sequence[int], weights: Sequence[float] = ()
               ) -> Callable[..., Tensor]:
    """``Σ_m w_m · loss(q^(m), d^(m), n^(m), ...)``, called as every loss is (``rows`` included: the row
    blocks of each term sum to the term)."""
    weights = check_dims(dims, weights)
    sizes = list(zip(dims, weights, strict=True))

    def nested(q: Tensor, d: Tensor, negatives: Tensor | None = None, temperature: Temperature = 0.01,
               rows: slice | None = None) -> Tensor:
        terms = [weight * loss(prefix(q, m), prefix(d, m), None if negatives is None else prefix(negatives, m),
                               temperature=temperature, rows=rows) for m, weight in sizes]
        return torch.stack(terms).sum()

    return nested
