"""Pooling: token embeddings (B, T, H) and attention mask (B, T) -> one vector per text (B, H).

Each pooling is a small pure function. Depends only on torch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def mean_pooling(hidden: Tensor, mask: Tensor) -> Tensor:
    """Mean over non-padding tokens, GTE Eq. 2: x = (1/n) Σ_i h_i."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    summed = (hidden * weights).sum(dim=1)  # (B, H)
    counts = weights.sum(dim=1).clamp(min=1e-9)  # (B, 1)
    return summed / counts


def cls_pooling(hidden: Tensor, mask: Tensor) -> Tensor:
    """The first token's hidden state ([CLS]), as Arctic-Embed uses."""
    return hidden[:, 0]


def last_token_pooling(hidden: Tensor, mask: Tensor) -> Tensor:
    """The hidden state of the last non-padding token ([EOS] in cpt-text), for left or right padding."""
    positions = torch.arange(mask.size(1), device=mask.device).expand_as(mask)  # (B, T)
    last = (positions * mask.long()).argmax(dim=1)  # (B,)
    return hidden[torch.arange(hidden.size(0), device=hidden.device), last]


POOLINGS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mean": mean_pooling,
    "cls": cls_pooling,
    "last": last_token_pooling,
}


def get_pooling(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The pooling function called ``name``; an unknown name lists the valid ones."""
    try:
        return POOLINGS[name]
    except KeyError:
        raise ValueError(f"unknown pooling {name!r}; valid: {', '.join(POOLINGS)}") from None
