"""Weight-space interpolation of two fine-tunings of one model (WiSE-FT, Wortsman et al. 2022, Eq. 1):

    θ(λ) = (1 − λ) · θ_start + λ · θ_trained,   λ ∈ [0, 1]

With θ_start the model training started from and θ_trained the result, λ trades what training added
against what it made the model forget: WiSE-FT reports gains over both ends on distribution shifts
for λ in between. λ = 0 gives the start's weights and λ = 1 the trained ones, bit for bit.

Both models must have the same architecture (the same tensor names, shapes and dtypes) and tokenizer;
the merged folder takes the trained model's tokenizer and settings (pooling, prefixes, max length).
Floating-point tensors are interpolated in float64 and cast back; other tensors (integer buffers such
as position ids) must be equal and are copied. The folder is written under a temporary name and renamed
into place, with ``merge.json`` recording both models and λ and a model card (``README.md``: the start as
base model, the trained model's datasets, the merge).

Depends on torch, ``gtekit.io.atomic`` and this package's Embedder and model card.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..io.atomic import atomic_path
from .card_data import build_card
from .embedder import Embedder
from .model_card import read_front_matter, write_card


class MergeError(ValueError):
    """Two models that cannot be interpolated; the message names the first difference."""


@dataclass(frozen=True)
class MergeSettings:
    """``gtekit merge START TRAINED --weight λ -o DIR``."""

    start: str  # θ_start: the model training began from (folder, bundled or hub name)
    trained: str  # θ_trained
    weight: float  # λ: 0 = start, 1 = trained
    output_dir: str
    overwrite: bool = False  # replace a non-empty output_dir

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise MergeError(f"weight must be in [0, 1] (0: {self.start}, 1: {self.trained}), got {self.weight}")


def interpolate_state(start: dict[str, torch.Tensor], trained: dict[str, torch.Tensor],
                      weight: float) -> dict[str, torch.Tensor]:
    """θ(λ) tensor by tensor (see the module docstring); raises MergeError on any mismatch."""
    if start.keys() != trained.keys():
        only = sorted(start.keys() ^ trained.keys())
        raise MergeError(f"the models hold different tensors, e.g. {only[0]!r}; they are not one architecture")
    merged = {}
    for name, a in start.items():
        b = trained[name]
        if a.shape != b.shape or a.dtype != b.dtype:
            raise MergeError(f"tensor {name!r}: {tuple(a.shape)} {a.dtype} against {tuple(b.shape)} {b.dtype}")
        if not a.is_floating_point():
            if not torch.equal(a, b):
                raise MergeError(f"tensor {name!r} ({a.dtype}) differs between the models and cannot be interpolated")
            merged[name] = a.clone()
        elif weight == 0.0:
            merged[name] = a.clone()
        elif weight == 1.0:
            merged[name] = b.clone()
        else:
            merged[name] = ((1 - weight) * a.double() + weight * b.double()).to(a.dtype)
    return merged


def merge_models(settings: MergeSettings) -> Path:
    """Write θ(λ) of ``settings`` as a model folder and return it."""
    output = Path(settings.output_dir)
    if output.exists() and any(output.iterdir()) and not settings.overwrite:
        raise MergeError(f"{output} exists and is not empty; pass overwrite (--overwrite) to replace it")
    start, trained = Embedder.load(settings.start), Embedder.load(settings.trained)
    if start.tokenizer.get_vocab() != trained.tokenizer.get_vocab():
        raise MergeError(f"{settings.start} and {settings.trained} have different vocabularies")
    merged = interpolate_state(start.encoder.state_dict(), trained.encoder.state_dict(), settings.weight)
    trained.encoder.load_state_dict(merged)
    with atomic_path(output) as tmp:
        trained.save(tmp)
        (tmp / "merge.json").write_text(json.dumps({"method": "WiSE-FT weight interpolation",
                                                    **asdict(settings)}, indent=2) + "\n")
        write_card(tmp, build_card(tmp, name=output.resolve().name, merge=asdict(settings),
                                   inherited=read_front_matter(settings.trained)))
    return output
