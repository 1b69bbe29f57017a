"""Top-k search helpers shared by gtekit: the one exact top-k, rescoring, recall.

- :func:`exact_top_k`: exact inner-product top-k of queries against a corpus (an array, a memory map,
  or a store's blocks), chunked over queries and corpus so memory stays bounded. Evaluation's retrieval
  (``gtekit.evaluation.metrics.retrieval.search_top_k``), mining's exact candidate search
  (``gtekit.negatives.candidate_search``) and the reference that approximate indexes are measured
  against all call it;
- :func:`rescore_top_k`: exact scores of candidate rows proposed by a compact index, then the best k;
- :func:`recall_at_k`: |found ∩ exact| / k, averaged over queries;
- :func:`ivf_lists`: faiss's guideline for the number of inverted lists.

:class:`ExactKernel` picks how :func:`exact_top_k` scores and breaks ties:

- ``faiss`` (mining, search): float32 scores from faiss's exhaustive inner-product kernel (BLAS,
  multi-threaded), each corpus block's top-k merged by ``faiss.ResultHeap``; tied scores come in
  the heap's order, which depends on the blocks;
- ``numpy`` (evaluation): scores from numpy's matrix product in the inputs' dtype (float64 stays
  float64); ties broken by the lower row id, at the k-th place too, so the ranking does not depend on
  the blocks (the scores do, in the last bits, when the corpus spans several blocks).

Results are arrays: scores (Q, k) descending and row ids (Q, k) int64, with id -1 and score -inf where
fewer than k results exist. Depends on numpy and faiss only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum
from functools import partial

import numpy as np

TRAIN_ROWS_PER_LIST = 64  # IVF k-means: training rows per inverted list (faiss warns below 39)
RESCORE_QUERIES = 1024  # queries whose candidates are gathered at once when rescoring, at most
RESCORE_FLOATS = 1 << 22  # ... and at most this many gathered floats (16 MiB), so the block stays in cache
EXACT_BLOCK_ROWS = 262_144  # corpus rows of an array scored at once by exact_top_k

Blocks = Callable[[], Iterable[tuple[int, np.ndarray]]]  # a fresh scan of (first row, (n, d) rows) blocks


class ExactKernel(StrEnum):
    """How :func:`exact_top_k` scores and orders ties (see the module docstring)."""

    FAISS = "faiss"
    NUMPY = "numpy"


def ivf_lists(corpus_size: int) -> int:
    """Inverted lists for an IVF index of ``corpus_size`` rows: about 4·sqrt(N) (faiss's guideline),
    at most N / TRAIN_ROWS_PER_LIST so that k-means has enough rows per list."""
    return max(1, min(int(4 * math.sqrt(corpus_size)), corpus_size // TRAIN_ROWS_PER_LIST or 1))


def padded(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """faiss marks missing results with id -1 and score -FLT_MAX (or a large distance); make that score -inf."""
    scores = np.where(ids >= 0, scores, -np.inf).astype(np.float32)
    return scores, ids.astype(np.int64)


def array_blocks(corpus: np.ndarray, rows: int = EXACT_BLOCK_ROWS) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, rows) blocks of ``rows`` rows of an (N, d) array; a memory map is read one block at a time."""
    for offset in range(0, len(corpus), rows):
        yield offset, corpus[offset:offset + rows]


def exact_top_k(queries: np.ndarray, corpus: np.ndarray | Blocks, k: int, *,
                kernel: ExactKernel = ExactKernel.FAISS, query_rows: int | None = None,
                corpus_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The exact inner-product top-k of ``queries`` (Q, d) against ``corpus``: an (N, d) array (a memory map
    is fine) scanned ``corpus_rows`` rows at a time (default ``EXACT_BLOCK_ROWS``), or a callable returning
    a fresh iterable of (first row, block) pairs, such as an embedding store's ``iter_embeddings``.

    Queries are scored ``query_rows`` at a time (default: all at once), each chunk against every corpus
    block in turn: memory holds one query chunk, one corpus block, their (query_rows, block) scores and the
    running (query_rows, k) results. ``kernel`` decides the arithmetic and the order of ties.
    """
    if kernel not in tuple(ExactKernel):
        raise ValueError(f"unknown kernel {kernel!r}; valid: {', '.join(member.value for member in ExactKernel)}")
    kernel = ExactKernel(kernel)
    if k < 1 or (query_rows is not None and query_rows < 1) or (corpus_rows is not None and corpus_rows < 1):
        raise ValueError(f"k, query_rows and corpus_rows must be positive, got {k}, {query_rows}, {corpus_rows}")
    blocks = corpus if callable(corpus) else partial(array_blocks, corpus, corpus_rows or EXACT_BLOCK_ROWS)
    top_k = _faiss_top_k if kernel is ExactKernel.FAISS else _numpy_top_k
    step = query_rows or max(1, len(queries))
    parts = [top_k(queries[start:start + step], blocks(), k) for start in range(0, len(queries), step)]
    if not parts:
        dtype = np.float32 if kernel is ExactKernel.FAISS else np.result_type(queries, np.float32)
        return np.zeros((0, k), dtype=dtype), np.zeros((0, k), dtype=np.int64)
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([scores for scores, _ in parts]), np.concatenate([ids for _, ids in parts])


def _faiss_top_k(queries: np.ndarray, blocks: Iterable[tuple[int, np.ndarray]],
                 k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    queries = np.ascontiguousarray(queries, dtype=np.float32)
    heap = faiss.ResultHeap(len(queries), k, keep_max=True)
    for offset, block in blocks:
        block = np.ascontiguousarray(block, dtype=np.float32)
        scores, ids = faiss.knn(queries, block, min(k, len(block)), metric=faiss.METRIC_INNER_PRODUCT)  # (Q, k)
        heap.add_result(scores, np.where(ids >= 0, ids + offset, -1))
    heap.finalize()
    return padded(heap.D, heap.I)


def _numpy_top_k(queries: np.ndarray, blocks: Iterable[tuple[int, np.ndarray]],
                 k: int) -> tuple[np.ndarray, np.ndarray]:
    best_scores = best_ids = None
    for offset, block in blocks:
        scores, ids = _top_k_rows(queries @ block.T, min(k, len(block)))  # (Q, B) scores -> (Q, <= k)
        if best_scores is None:
            best_scores, best_ids = scores, ids + offset if offset else ids
            continue
        scores = np.concatenate([best_scores, scores], axis=1)  # (Q, <= 2k)
        ids = np.concatenate([best_ids, ids + offset], axis=1)
        order = np.lexsort((ids, -scores), axis=1)[:, :k]  # score descending, then id ascending
        best_scores, best_ids = np.take_along_axis(scores, order, axis=1), np.take_along_axis(ids, order, axis=1)
    dtype = np.result_type(queries, np.float32)
    if best_scores is None:
        best_scores, best_ids = np.zeros((len(queries), 0), dtype=dtype), np.zeros((len(queries), 0), dtype=np.int64)
    missing = k - best_scores.shape[1]
    if missing:
        best_scores = np.concatenate([best_scores, np.full((len(queries), missing), -np.inf, dtype=dtype)], axis=1)
        best_ids = np.concatenate([best_ids, np.full((len(queries), missing), -1, dtype=np.int64)], axis=1)
    return best_scores, best_ids


def _top_k_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top k of each row of (C, D) scores, by score descending then index ascending."""
    candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # (C, k), unordered
    threshold = np.take_along_axis(scores, candidates, axis=1).min(axis=1)  # (C,), the k-th score
    # argpartition picks arbitrarily among docs tied with the k-th score: redo those rows exactly
    tied_rows = np.flatnonzero((scores >= threshold[:, None]).sum(axis=1) > k)
    for row in tied_rows:
        kept = np.flatnonzero(scores[row] >= threshold[row])  # ascending indices
        order = np.lexsort((kept, -scores[row, kept]))[:k]
        candidates[row] = kept[order]
    top = np.take_along_axis(scores, candidates, axis=1)
    order = np.lexsort((candidates, -top), axis=1)  # score descending, then index ascending
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(candidates, order, axis=1)


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
