"""Contrastive losses: pure functions of embeddings, one per module, all called the same way.

Every loss is ``loss(q, d, negatives=None, temperature=τ, rows=None, excluded=None)``: query embeddings
q (B, H), positive document embeddings d (B, H), optional hard negatives (B, K, H), and τ, a float or a
trainable :class:`LogitScale` (``temperature_for`` gives each loss its kind); it returns a scalar.
``excluded`` (:class:`ExcludedLogits`, ``false_negatives``) masks in-batch false negatives out of its
denominators, in the blocks ``DIRECTIONS`` lists for it. ``matryoshka`` and ``with_distillation`` wrap a
loss into another called the same way.
Every loss is a mean over rows i of per-row terms ℓ_i, and takes ``rows=slice(a, b)`` to return
(1/B) Σ_{a ≤ i < b} ℓ_i instead: the losses of the blocks of :func:`row_blocks` sum to the whole
loss, while only a (b - a)-row slice of the similarity matrices exists at a time. Nothing here
knows about models or data.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from ._similarity import LogitScale, Temperature, trainable
from .bidirectional import bidirectional
from .false_negatives import Direction, ExcludedLogits, guided, same_text, with_exclusions
from .gte import gte
from .infonce import infonce
from .matryoshka import matryoshka
from .symmetric import symmetric

LOSSES: dict[str, Callable[..., Tensor]] = {"gte": gte, "infonce": infonce, "symmetric": symmetric,
                                            "bidirectional": bidirectional}
LEARNED_TEMPERATURE = frozenset({"symmetric"})  # losses whose τ is trained with the model (cpt-text)
ROWS_AND_COLUMNS = (Direction.QUERY_TO_DOC, Direction.DOC_TO_QUERY)
DIRECTIONS: dict[str, tuple[Direction, ...]] = {  # the blocks of similarities each loss's denominators hold
    "gte": tuple(Direction), "infonce": (Direction.QUERY_TO_DOC,), "symmetric": ROWS_AND_COLUMNS,
    "bidirectional": ROWS_AND_COLUMNS}


def get_loss(name: str) -> Callable[..., Tensor]:
    """The loss function called ``name``; an unknown name lists the valid ones."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; valid: {', '.join(LOSSES)}") from None


def temperature_for(name: str, temperature: float) -> Temperature:
    """The τ loss ``name`` trains with: ``temperature`` itself, or, for a loss in ``LEARNED_TEMPERATURE``,
    a :class:`LogitScale` that starts at it."""
    get_loss(name)
    return LogitScale(temperature) if name in LEARNED_TEMPERATURE else temperature


def row_blocks(rows: int | range, block_size: int = 0) -> list[slice]:
    """Consecutive slices of at most ``block_size`` rows covering ``rows`` (all of them at once when 0)."""
    rows = range(rows) if isinstance(rows, int) else rows
    if block_size < 0:
        raise ValueError(f"block_size must be >= 0, got {block_size}")
    step = block_size or max(len(rows), 1)
    return [slice(start, min(start + step, rows.stop)) for start in range(rows.start, rows.stop, step)]


__all__ = ["DIRECTIONS", "LEARNED_TEMPERATURE", "LOSSES", "Direction", "ExcludedLogits", "LogitScale", "Temperature",
           "bidirectional", "get_loss", "gte", "guided", "infonce", "matryoshka", "row_blocks", "same_text",
           "symmetric", "temperature_for", "trainable", "with_exclusions"]
