"""gtekit: train, evaluate and serve general-purpose text embedding models (GTE recipe)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model.embedder import Embedder

__all__ = ["Embedder"]
__version__ = "0.1.0"


def __getattr__(name: str):
    """``gtekit.Embedder`` imports torch and transformers on first use, so ``gtekit --help`` starts fast."""
    if name == "Embedder":
        from .model.embedder import Embedder

        return Embedder
    raise AttributeError(f"module 'gtekit' has no attribute {name!r}")
