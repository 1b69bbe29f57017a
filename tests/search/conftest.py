"""Random clustered unit vectors, as real embeddings are clustered: a corpus and queries near its documents."""

from __future__ import annotations

import numpy as np


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n_docs: int, n_queries: int, dim: int, seed: int = 0, clusters: int = 30,
              spread: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """(documents (n_docs, dim), queries (n_queries, dim)), float32 unit rows; each query is a noisy copy of a
    random document."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(clusters, dim)))
    docs = unit(centres[rng.integers(0, clusters, n_docs)] + spread * rng.normal(size=(n_docs, dim)) / np.sqrt(dim))
    queries = unit(docs[rng.integers(0, n_docs, n_queries)] + 0.5 * rng.normal(size=(n_queries, dim)) / np.sqrt(dim))
    return docs, queries


def brute_force(queries: np.ndarray, docs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """numpy's exact top-k: (scores (q, k), ids (q, k)), best first."""
    scores = queries @ docs.T  # (q, n)
    ids = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, ids, axis=1), ids
