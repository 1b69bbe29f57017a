"""What every loss shares: cosine similarity (GTE Eq. 7), the temperature τ and the batch layout."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MAX_LOGIT_SCALE = 100.0


class LogitScale(nn.Module):
    """A trainable τ (cpt-text), stored as log-scale; starts at exp(value) = 1 / initial_temperature.

    The logits are s · exp(value), with exp(value) clamped to ≤ 100 so they stay finite (as CLIP does).
    """

    def __init__(self, initial_temperature: float = 0.05) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.tensor(math.log(1.0 / initial_temperature)))

    def scale(self, dtype: torch.dtype) -> Tensor:
        """exp(value), clamped to ≤ 100, as ``dtype`` (computed in float64)."""
        return self.value.double().exp().clamp(max=MAX_LOGIT_SCALE).to(dtype)

    def temperature(self) -> float:
        return 1.0 / min(math.exp(self.value.item()), MAX_LOGIT_SCALE)


Temperature = float | LogitScale  # τ: fixed, or trained


def logits_of(temperature: Temperature, dtype: torch.dtype) -> Callable[[Tensor], Tensor]:
    """s ↦ s / τ for a fixed τ, s ↦ s · exp(value) for a :class:`LogitScale` (one scale per loss call)."""
    if isinstance(temperature, LogitScale):
        scale = temperature.scale(dtype)
        return lambda similarities: similarities * scale
    return lambda similarities: similarities / temperature


def trainable(temperature: Temperature) -> list[nn.Parameter]:
    """The parameters of a trained τ; none for a fixed one."""
    return list(temperature.parameters()) if isinstance(temperature, nn.Module) else []


def cosine_matrix(a: Tensor, b: Tensor) -> Tensor:
    """s(a_i, b_j) = a_i·b_j / (‖a_i‖‖b_j‖), GTE Eq. 7: (N, H), (M, H) -> (N, M), at least float32."""
    dtype = torch.promote_types(a.dtype, torch.float32)  # bf16 embeddings -> float32 logits
    return F.normalize(a.to(dtype), dim=-1) @ F.normalize(b.to(dtype), dim=-1).T


def all_documents(q: Tensor, d: Tensor, negatives: Tensor | None) -> Tensor:
    """Every document of the batch, (B + B·K, H): the B positives, then the hard negatives.

    Row i + B·k is query i's k-th hard negative, so query i's own documents are rows
    i, i + B, ..., i + B·K.
    """
    if q.dim() != 2 or q.shape != d.shape:
        raise ValueError(f"q and d must both be (B, H), got {tuple(q.shape)} and {tuple(d.shape)}")
    if negatives is None:
        return d
    if negatives.dim() != 3 or negatives.size(0) != d.size(0) or negatives.size(2) != d.size(1):
        raise ValueError(f"negatives must be (B, K, H) = ({d.size(0)}, K, {d.size(1)}), "
                         f"got {tuple(negatives.shape)}")
    return torch.cat([d, negatives.transpose(0, 1).reshape(-1, d.size(1))], dim=0)
