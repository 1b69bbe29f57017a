"""Contrastive losses: pure functions of embeddings, one per module.

Every loss takes query embeddings q (B, H), positive document embeddings d (B, H) and optional
hard negatives (B, K, H) and returns a scalar. Nothing here knows about models or data.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from .gte import gte
from .infonce import infonce
from .symmetric import LogitScale, symmetric

LOSSES: dict[str, Callable[..., Tensor]] = {"gte": gte, "infonce": infonce, "symmetric": symmetric}


def get_loss(name: str) -> Callable[..., Tensor]:
    """The loss function called ``name``; an unknown name lists the valid ones."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; valid: {', '.join(LOSSES)}") from None


__all__ = ["LOSSES", "LogitScale", "get_loss", "gte", "infonce", "symmetric"]
