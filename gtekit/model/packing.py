"""Packed batches: several texts side by side in one row of tokens, so no FLOP goes to padding.

A padded batch (B, T) runs the encoder over B·T positions for Σ_i n_i tokens of text. Packing places the
texts, longest first, into rows of at most ``capacity`` tokens (first-fit decreasing; the capacity is the
batch's own T, so no row is longer than the padded batch's and attention's per-token cost does not grow),
with position ids restarting at 0 for every text and padding tokens at position 0 each. Given position
ids and no 2D mask, transformers reads each restart as a sequence boundary and masks attention
block-diagonally (``transformers.masking_utils.find_packed_sequence_indices``), for every attention
implementation: each text attends to its own tokens only and has the hidden states it has alone, padding
included as one-token sequences that nothing attends to. Pooling then runs per text over its own tokens.

Whether an encoder honours this is checked once per encoder by :func:`packing_works` (two texts packed
into one row against each alone); an encoder that does not is run padded. Depends only on torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

PACKED_TEXT_INDEX = "packed_text_index"  # (R, L): the text each position belongs to, -1 for padding


def pack_rows(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """First-fit decreasing: the indices of texts of ``lengths`` tokens grouped into rows of at most
    ``capacity`` tokens (a text longer than ``capacity`` gets a row of its own)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    rows: list[list[int]] = []
    room: list[int] = []
    for index in order:
        length = lengths[index]
        for row, free in enumerate(room):
            if length <= free:
                rows[row].append(index)
                room[row] -= length
                break
        else:
            rows.append([index])
            room.append(capacity - length)
    return rows


def pack(features: dict[str, Tensor]) -> dict[str, Tensor]:
    """Padded tokenizer output, each (B, T) with an ``attention_mask`` -> packed features, each (R, L), R ≤ B,
    L ≤ T: ``input_ids``, ``position_ids`` (restarting per text), ``token_type_ids`` when given, and
    ``packed_text_index`` (the text of each position, -1 for padding). Right padding is assumed (texts'
    tokens first in their rows), as BERT-style tokenizers pad."""
    mask = features["attention_mask"].bool()  # (B, T)
    lengths = mask.sum(dim=1).tolist()  # (B,)
    capacity = features["input_ids"].size(1)
    rows = pack_rows(lengths, capacity)
    width = max(sum(lengths[i] for i in row) for row in rows)
    source_row, source_col, target_row, target_col = [], [], [], []
    positions = []
    for row_number, row in enumerate(rows):
        offset = 0
        for index in row:
            n = lengths[index]
            source_row.extend([index] * n)
            source_col.extend(range(n))
            target_row.extend([row_number] * n)
            target_col.extend(range(offset, offset + n))
            positions.extend(range(n))
            offset += n
    device = features["input_ids"].device
    src = (torch.tensor(source_row, device=device), torch.tensor(source_col, device=device))
    dst = (torch.tensor(target_row, device=device), torch.tensor(target_col, device=device))
    packed: dict[str, Tensor] = {}
    for key in ("input_ids", "token_type_ids"):
        if key in features:
            values = features[key]
            out = torch.zeros(len(rows), width, dtype=values.dtype, device=device)  # padding: id 0, position 0
            out[dst] = values[src]
            packed[key] = out
    position_ids = torch.zeros(len(rows), width, dtype=torch.long, device=device)
    position_ids[dst] = torch.tensor(positions, device=device)
    text_index = torch.full((len(rows), width), -1, dtype=torch.long, device=device)
    text_index[dst] = src[0]  # each token's text is the padded row it came from
    packed["position_ids"] = position_ids
    packed[PACKED_TEXT_INDEX] = text_index
    return packed


def pool_packed(hidden: Tensor, text_index: Tensor, position_ids: Tensor, count: int, pooling: str) -> Tensor:
    """Hidden states of packed rows (R, L, H) -> one vector per text (count, H), as the padded pooling gives:
    ``mean`` (GTE Eq. 2, x = (1/n) Σ_i h_i over the text's tokens), ``cls`` (its first token) or ``last``."""
    flat = hidden.reshape(-1, hidden.size(-1))  # (R·L, H)
    index = text_index.reshape(-1)  # (R·L,)
    real = index >= 0
    if pooling == "mean":
        summed = torch.zeros(count, flat.size(-1), dtype=flat.dtype, device=flat.device)
        summed = summed.index_add(0, index[real], flat[real])  # (count, H)
        tokens = torch.bincount(index[real], minlength=count).clamp(min=1).unsqueeze(-1)  # (count, 1)
        return summed / tokens.to(flat.dtype)
    positions = position_ids.reshape(-1)
    if pooling == "cls":
        chosen = real & (positions == 0)
    elif pooling == "last":
        lengths = torch.bincount(index[real], minlength=count)  # (count,)
        chosen = real & (positions == lengths[index.clamp(min=0)] - 1)
    else:
        raise ValueError(f"packing has no pooling {pooling!r}; valid: mean, cls, last")
    out = torch.zeros(count, flat.size(-1), dtype=flat.dtype, device=flat.device)
    return out.index_copy(0, index[chosen], flat[chosen])


@torch.no_grad()
def packing_works(encoder: nn.Module, tolerance: float = 1e-4) -> bool:
    """Whether ``encoder`` (a transformers model) keeps packed texts apart: two short texts packed into one
    row must have the hidden states each has alone."""
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    try:
        first = torch.tensor([[1, 2, 3]], device=device)
        second = torch.tensor([[3, 1]], device=device)
        alone = [encoder(input_ids=ids).last_hidden_state[0] for ids in (first, second)]
        packed = encoder(input_ids=torch.cat([first, second], dim=1),
                         position_ids=torch.tensor([[0, 1, 2, 0, 1]], device=device)).last_hidden_state[0]
        together = [packed[:3], packed[3:]]
    except (TypeError, ValueError, RuntimeError):  # an encoder without position ids
        return False
    finally:
        encoder.train(was_training)
    return all(torch.allclose(a.float(), b.float(), atol=tolerance, rtol=0)
               for a, b in zip(alone, together, strict=True))
