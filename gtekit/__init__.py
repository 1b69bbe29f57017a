"""gtekit: train, evaluate and serve general-purpose text embedding models (GTE recipe)."""

from .embedder import Embedder

__all__ = ["Embedder"]
__version__ = "0.1.0"
