"""Precomputed embeddings for the mining tests: a table model for gtekit, the same table for sentence-transformers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


class TableEmbedder:
    """A gtekit model stand-in: each text's embedding is looked up in a table; every call is recorded."""

    def __init__(self, table: dict[str, np.ndarray], name: str = "table") -> None:
        self.table, self.name, self.calls = table, name, []

    def fingerprint(self) -> str:
        return self.name

    def encode(self, texts, kind=None, batch_size=64):
        self.calls.append((kind, len(texts)))
        return np.stack([self.table[text] for text in texts])


class TableSentenceTransformer:
    """What ``sentence_transformers.util.mine_hard_negatives`` calls on its model, answered from the same table;
    similarities are sentence-transformers' own functions."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        import torch

        self.table, self.device = table, torch.device("cpu")

    def _encode(self, texts, **kwargs):
        import torch
        from sentence_transformers.util import normalize_embeddings

        return normalize_embeddings(torch.from_numpy(np.stack([self.table[t] for t in texts]))).numpy()

    encode_query = encode_document = _encode

    def get_embedding_dimension(self) -> int:
        return len(next(iter(self.table.values())))

    def similarity(self, a, b):
        from sentence_transformers.util import cos_sim

        return cos_sim(a, b)

    def similarity_pairwise(self, a, b):
        from sentence_transformers.util import pairwise_cos_sim

        return pairwise_cos_sim(a, b)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def write_pairs(path: Path, pairs) -> Path:
    path.write_text("".join(json.dumps({"query": q, "positive": p}) + "\n" for q, p in pairs), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def retrieval_data():
    """40 queries, each near its positive; 8 of them repeated with a second positive; 120 more documents,
    some close to positives (near the relative-margin boundary), and two of the queries' own texts, in 24 dimensions.
    Returns (pairs, extra corpus texts, table)."""
    rng = np.random.default_rng(0)
    dim, n_queries, n_extra = 24, 40, 120
    table: dict[str, np.ndarray] = {}
    pairs = []
    positives = unit(rng.normal(size=(n_queries + 8, dim)))
    for i in range(n_queries):
        table[f"query {i}"] = unit(positives[i] + 0.7 * rng.normal(size=dim) / np.sqrt(dim) * 3)
        table[f"positive {i}"] = positives[i]
        pairs.append((f"query {i}", f"positive {i}"))
    for j in range(8):  # a second positive for the first 8 queries
        table[f"positive {n_queries + j}"] = unit(positives[j] + 0.5 * rng.normal(size=dim) / np.sqrt(dim) * 3)
        pairs.append((f"query {j}", f"positive {n_queries + j}"))
    extra = []
    for k in range(n_extra):
        near = positives[k % n_queries]
        table[f"document {k}"] = unit(near * rng.uniform(0, 2.5) + rng.normal(size=dim) / np.sqrt(dim) * 1.5)
        extra.append(f"document {k}")
    extra += ["positive 3", "document 5"]  # duplicates of a positive and of a document
    extra += ["query 7", "query 12"]  # queries' own texts: never their negatives
    return pairs, extra, table
