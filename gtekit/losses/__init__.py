"""Contrastive losses: pure functions of embeddings, one per module.

Every loss takes query embeddings q (B, H), positive document embeddings d (B, H) and optional
hard negatives (B, K, H) and returns a scalar. Every loss is a mean over rows i of per-row terms
ℓ_i, and takes ``rows=slice(a, b)`` to return (1/B) Σ_{a ≤ i < b} ℓ_i instead: the losses of the
blocks of :func:`row_blocks` sum to the whole loss, while only a (b - a)-row slice of the similarity
matrices exists at a time. Nothing here knows about models or data.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from .gte import gte
from .infonce import infonce
from .symmetric import LogitScale, symmetric

LOSSES: dict[str, Callable[..., Tensor]] = {"gte": gte, "infonce": infonce, "symmetric": symmetric}


def row_blocks(rows: int | range, block_size: int = 0) -> list[slice]:
    """Consecutive slices of at most ``block_size`` rows covering ``rows`` (all of them at once when 0)."""
    rows = range(rows) if isinstance(rows, int) else rows
    if block_size < 0:
        raise ValueError(f"block_size must be >= 0, got {block_size}")
    step = block_size or max(len(rows), 1)
    return [slice(start, min(start + step, rows.stop)) for start in range(rows.start, rows.stop, step)]


def get_loss(name: str) -> Callable[..., Tensor]:
    """The loss function called ``name``; an unknown name lists the valid ones."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; valid: {', '.join(LOSSES)}") from None


__all__ = ["LOSSES", "LogitScale", "get_loss", "gte", "infonce", "row_blocks", "symmetric"]
