"""Top-k helpers shared by every faiss search in gtekit: exact ground truth, rescoring, recall.

- :func:`exact_top_k`: exact inner-product top-k of queries against an array, in corpus blocks
  (faiss's exhaustive kernel, merged by ``faiss.ResultHeap``), the reference approximate searches
  are measured against;
- :func:`rescore_top_k`: exact scores of candidate rows proposed by a compact index, then the best k;
- :func:`recall_at_k`: |found ∩ exact| / k, averaged over queries;
- :func:`ivf_lists`: faiss's guideline for the number of inverted lists.

Results are arrays: scores (Q, k) float32 descending and row ids (Q, k) int64, with id -1 and score
-inf where fewer than k results exist. Depends on numpy and faiss only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

TRAIN_ROWS_PER_LIST = 64  # IVF k-means: training rows per inverted list (faiss warns below 39)
RESCORE_QUERIES = 1024  # queries whose candidates are gathered at once when rescoring, at most
RESCORE_FLOATS = 1 << 22  # ... and at most this many gathered floats (16 MiB), so the block stays in cache
EXACT_BLOCK_ROWS = 262_144  # corpus rows scored at once by exact_top_k


def ivf_lists(corpus_size: int) -> int:
    """Inverted lists for an IVF index of ``corpus_size`` rows: about 4·sqrt(N) (faiss's guideline),
    at most N / TRAIN_ROWS_PER_LIST so that k-means has enough rows per list."""
    return max(1, min(int(4 * math.sqrt(corpus_size)), corpus_size // TRAIN_ROWS_PER_LIST or 1))


def padded(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """faiss marks missing results with id -1 and score -FLT_MAX (or a large distance); make that score -inf."""
    scores = np.where(ids >= 0, scores, -np.inf).astype(np.float32)
    return scores, ids.astype(np.int64)


def exact_top_k(queries: np.ndarray, corpus: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact inner-product top-k of ``queries`` (Q, d) against ``corpus`` (N, d) (a memory map is fine:
    it is read one block of EXACT_BLOCK_ROWS rows at a time)."""
    import faiss

    queries = np.ascontiguousarray(queries, dtype=np.float32)
    heap = faiss.ResultHeap(len(queries), k, keep_max=True)
    for offset in range(0, len(corpus), EXACT_BLOCK_ROWS):
        block = np.ascontiguousarray(corpus[offset:offset + EXACT_BLOCK_ROWS], dtype=np.float32)
        scores, ids = faiss.knn(queries, block, min(k, len(block)), metric=faiss.METRIC_INNER_PRODUCT)  # (Q, k)
        heap.add_result(scores, np.where(ids >= 0, ids + offset, -1))
    heap.finalize()
    return padded(heap.D, heap.I)


def rescore_top_k(queries: np.ndarray, ids: np.ndarray, vectors_of: Callable[[np.ndarray], np.ndarray],
                  k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores q·x of candidate ``ids`` (Q, C) (-1: none) for ``queries`` (Q, d): the best k, descending.

    ``vectors_of(rows)`` maps a (B, C) array of row ids to their vectors (B, C, d)."""
    n = len(queries)
    scores_out = np.full((n, k), -np.inf, dtype=np.float32)
    ids_out = np.full((n, k), -1, dtype=np.int64)
    step = max(1, min(RESCORE_QUERIES, RESCORE_FLOATS // max(1, ids.shape[1] * queries.shape[1])))
    for a in range(0, n, step):
        block = ids[a:a + step]  # (B, C)
        valid = block >= 0
        vectors = vectors_of(np.where(valid, block, 0))  # (B, C, d)
        scores = np.einsum("bh,bch->bc", queries[a:a + step], vectors).astype(np.float32)  # (B, C)
        scores[~valid] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # (B, min(C, k))
        width = order.shape[1]
        scores_out[a:a + len(block), :width] = np.take_along_axis(scores, order, axis=1)
        ids_out[a:a + len(block), :width] = np.where(np.isfinite(scores_out[a:a + len(block), :width]),
                                                      np.take_along_axis(block, order, axis=1), -1)
    return scores_out, ids_out


def recall_at_k(found: np.ndarray, exact: np.ndarray, k: int | None = None) -> float:
    """Mean over queries of |found[:k] ∩ exact[:k]| / |exact[:k]| (ids -1 ignored): how much of the exact
    top-k an approximate search returns."""
    k = k or exact.shape[1]
    total = 0.0
    for got, truth in zip(found[:, :k], exact[:, :k], strict=True):
        truth = set(truth[truth >= 0].tolist())
        total += len(truth & set(got[got >= 0].tolist())) / max(1, len(truth))
    return total / max(1, len(exact))
