"""A window of texts -> token ids -> length-sorted, padded batches for the encoder.

A window is tokenised once without padding (so every text's length is known), its texts are sorted
by token count, longest first, and cut into batches of at most ``batch_size`` texts and, when
``max_batch_tokens`` is set, at most that many padded tokens (rows x longest): long texts go in small
batches, short ones in large batches, and a batch pads only to its own longest text. Each batch is
padded here, in numpy, to exactly what the tokenizer's own ``padding=True`` gives.

Depends on numpy and ``gtekit.model.embedder``'s text preparation; no torch, no model weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..model.embedder import TextKind, prepare_texts
from ..model.model_files import EmbedderSettings


@dataclass(frozen=True)
class TokenizedWindow:
    """The token ids of a window's texts (one list per text, truncated, special tokens added)."""

    ids: list[list[int]]
    extra: dict[str, list[list[int]]]  # other per-token inputs the tokenizer makes, e.g. token_type_ids

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.ids), dtype=np.int64, count=len(self.ids))


@dataclass(frozen=True)
class Batch:
    """Rows ``index`` of a window, padded: ``features`` maps input names to int64 arrays (rows, T)."""

    index: np.ndarray
    features: dict[str, np.ndarray]

    @property
    def padded_tokens(self) -> int:
        rows, width = self.features["input_ids"].shape
        return rows * width


def tokenize_window(tokenizer, settings: EmbedderSettings, texts: Sequence[str], kind: TextKind = None,
                    max_length: int | None = None) -> TokenizedWindow:
    """Prefix (``kind``), tokenise and truncate ``texts`` without padding."""
    encoded = tokenizer(prepare_texts(settings, texts, kind), padding=False, truncation=True,
                        max_length=max_length or settings.max_seq_length, return_attention_mask=False)
    extra = {key: value for key, value in encoded.items() if key != "input_ids"}
    return TokenizedWindow(encoded["input_ids"], extra)


def plan_batches(lengths: np.ndarray, batch_size: int, max_batch_tokens: int | None = None) -> list[np.ndarray]:
    """Row indices of each batch: longest first (stable for equal lengths), at most ``batch_size`` rows
    and at most ``max_batch_tokens`` padded tokens per batch (a single text longer than that gets a
    batch of its own)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_batch_tokens is not None and max_batch_tokens < 1:
        raise ValueError(f"max_batch_tokens must be >= 1, got {max_batch_tokens}")
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches, start = [], 0
    while start < len(order):
        longest = int(lengths[order[start]])  # sorted longest first: the batch pads to its first text
        rows = batch_size if max_batch_tokens is None else max(1, min(batch_size, max_batch_tokens // max(longest, 1)))
        batches.append(order[start:start + rows])
        start += rows
    return batches


def pad_batch(window: TokenizedWindow, index: np.ndarray, *, pad_token_id: int, pad_token_type_id: int = 0,
              padding_side: str = "right") -> Batch:
    """Rows ``index`` of ``window`` padded to their longest: input_ids, attention_mask and any extra inputs."""
    rows = [window.ids[i] for i in index]
    width = max(len(ids) for ids in rows)
    input_ids = np.full((len(rows), width), pad_token_id, dtype=np.int64)
    attention_mask = np.zeros((len(rows), width), dtype=np.int64)
    extras = {key: np.full((len(rows), width), pad_token_type_id if key == "token_type_ids" else 0, dtype=np.int64)
              for key in window.extra}
    for row, (i, ids) in enumerate(zip(index, rows, strict=True)):
        span = slice(width - len(ids), width) if padding_side == "left" else slice(0, len(ids))
        input_ids[row, span] = ids
        attention_mask[row, span] = 1
        for key, values in window.extra.items():
            extras[key][row, span] = values[i]
    return Batch(np.asarray(index), {"input_ids": input_ids, "attention_mask": attention_mask, **extras})


def window_batches(tokenizer, settings: EmbedderSettings, texts: Sequence[str], *, kind: TextKind = None,
                   batch_size: int = 64, max_batch_tokens: int | None = None,
                   max_length: int | None = None) -> list[Batch]:
    """``texts`` -> its padded batches, in the order they should run (longest first)."""
    window = tokenize_window(tokenizer, settings, texts, kind, max_length)
    return [pad_batch(window, index, pad_token_id=tokenizer.pad_token_id or 0,
                      pad_token_type_id=getattr(tokenizer, "pad_token_type_id", 0) or 0,
                      padding_side=tokenizer.padding_side)
            for index in plan_batches(window.lengths, batch_size, max_batch_tokens)]
