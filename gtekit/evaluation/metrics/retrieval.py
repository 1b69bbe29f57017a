"""Retrieval metrics over run files, and the exact top-k search that makes runs from embeddings. No model
knowledge.

``evaluate_run`` gives the same numbers as trec_eval (through ``pytrec_eval``) for ``ndcg_cut``,
``map_cut``, ``recall``, ``P`` and ``recip_rank``, with mteb's key names (``ndcg_at_10``, ...).
The trec_eval conventions it follows:

- a query's run is ranked by score descending, ties by doc id descending (string order), so
  tied scores give the same ranking as trec_eval whatever order the run dict has;
- a document is relevant when its qrels relevance is >= 1; relevance 0, negative relevance and
  documents absent from the qrels are not relevant and have gain 0;
- every query in the qrels counts in the mean (like ``trec_eval -c``): a query with no run or no
  relevant document scores 0 on every metric; queries only in the run are ignored.

:func:`search_top_k` is ``gtekit.search.topk.exact_top_k`` with the ``numpy`` kernel: scores in the
embeddings' dtype, ties broken by the lower document index. Depends on numpy and ``gtekit.search.topk``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...search.topk import ExactKernel, exact_top_k

Qrels = dict[str, dict[str, int]]  # query id -> {doc id: relevance (int, >= 1 relevant)}
Run = dict[str, dict[str, float]]  # query id -> {doc id: score}

DEFAULT_K_VALUES = (1, 3, 5, 10, 100, 1000)


def evaluate_run(qrels: Qrels, run: Run, k_values: Sequence[int] = DEFAULT_K_VALUES) -> dict[str, float]:
    """Mean over the queries of ``qrels`` of five metrics at each k; keys like ``"ndcg_at_10"``.

    With rel_i the relevance of the document at rank i (1-based) of the query's ranked run,
    g_i = max(rel_i, 0) its gain, and R the number of documents with relevance >= 1 in the qrels:

    - ``ndcg_at_k`` (trec_eval ``ndcg_cut_k``) = DCG@k / IDCG@k with DCG@k = Σ_{i≤k} g_i / log2(i+1)
      and IDCG@k the DCG@k of the qrels' gains sorted descending; 0 when IDCG@k = 0.
    - ``map_at_k`` (``map_cut_k``) = (1/R) Σ_{i≤k, rel_i≥1} P@i  (divided by R, not min(k, R)).
    - ``recall_at_k`` (``recall_k``) = |relevant in the top k| / R.
    - ``precision_at_k`` (``P_k``) = |relevant in the top k| / k, even when the run is shorter than k.
    - ``mrr_at_k`` = 1 / (rank of the first relevant document) if that rank is <= k, else 0;
      with k >= the run's length it is trec_eval's ``recip_rank``.

    Metrics with R in the denominator are 0 when R = 0.
    """
    per_query = per_query_metrics(qrels, run, k_values)
    return {name: float(values.mean()) for name, values in per_query.items()}


def per_query_metrics(qrels: Qrels, run: Run,
                      k_values: Sequence[int] = DEFAULT_K_VALUES) -> dict[str, np.ndarray]:
    """The metrics of :func:`evaluate_run` for each query of ``qrels`` (in its order), shape (Q,)."""
    if not qrels:
        raise ValueError("qrels is empty: there is no query to evaluate")
    k_values = _checked_k_values(k_values)
    query_ids = list(qrels)
    depth = max(k_values)
    ranked_rels = [_ranked_relevances(qrels[q], run.get(q, {}), depth) for q in query_ids]
    ideal_rels = [sorted((r for r in qrels[q].values() if r > 0), reverse=True)[:depth] for q in query_ids]
    width = max(1, max(map(len, ranked_rels)), max(map(len, ideal_rels)))  # columns actually needed
    gains = np.maximum(_padded(ranked_rels, width), 0.0)  # (Q, W), gain at each rank, 0 past the end
    ideal = _padded(ideal_rels, width)  # (Q, W), the qrels' gains sorted descending
    num_relevant = np.array([sum(r >= 1 for r in qrels[q].values()) for q in query_ids], dtype=np.float64)

    relevant = gains >= 1  # (Q, W)
    hits = np.cumsum(relevant, axis=1)  # (Q, W), relevant docs within the top i
    ranks = np.arange(1, width + 1, dtype=np.float64)  # (W,)
    discount = 1.0 / np.log2(ranks + 1.0)
    dcg = np.cumsum(gains * discount, axis=1)  # (Q, W), DCG@i
    idcg = np.cumsum(ideal * discount, axis=1)
    average_precision = np.cumsum(relevant * (hits / ranks), axis=1)  # (Q, W), R · AP@i
    first_hit = np.where(relevant.any(axis=1), relevant.argmax(axis=1) + 1, 0)  # (Q,), 0 for none
    safe_r = np.maximum(num_relevant, 1.0)

    columns = [min(k, width) - 1 for k in k_values]  # a k past the last column reads the last one
    out: dict[str, np.ndarray] = {}
    for k, col in zip(k_values, columns, strict=True):
        out[f"ndcg_at_{k}"] = np.divide(dcg[:, col], idcg[:, col], out=np.zeros(len(query_ids)),
                                        where=idcg[:, col] > 0)
    for k, col in zip(k_values, columns, strict=True):
        out[f"map_at_{k}"] = average_precision[:, col] / safe_r
    for k, col in zip(k_values, columns, strict=True):
        out[f"recall_at_{k}"] = hits[:, col] / safe_r
    for k, col in zip(k_values, columns, strict=True):
        out[f"precision_at_{k}"] = hits[:, col] / k
    for k in k_values:
        out[f"mrr_at_{k}"] = np.where((first_hit > 0) & (first_hit <= k), 1.0 / np.maximum(first_hit, 1), 0.0)
    return out


def _checked_k_values(k_values: Sequence[int]) -> tuple[int, ...]:
    k_values = tuple(k_values)
    if not k_values or any(not isinstance(k, int | np.integer) or k < 1 for k in k_values):
        raise ValueError(f"k_values must be positive integers, got {k_values!r}")
    return tuple(int(k) for k in k_values)


def _ranked_relevances(judged: dict[str, int], scores: dict[str, float], depth: int) -> list[int]:
    """Relevances of the top ``depth`` docs, ranked as trec_eval ranks them.

    Sorting by doc id descending and then, stably, by score descending gives trec_eval's order.
    """
    by_id = sorted(scores, reverse=True)
    ranked = sorted(by_id, key=scores.__getitem__, reverse=True)[:depth]  # reverse=True keeps stability
    return [judged.get(doc, 0) for doc in ranked]


def _padded(rows: list[list[int]], width: int) -> np.ndarray:
    matrix = np.zeros((len(rows), width), dtype=np.float64)
    for i, row in enumerate(rows):
        matrix[i, : len(row)] = row
    return matrix


def search_top_k(query_embeddings: np.ndarray, doc_embeddings: np.ndarray, k: int, *,
                 chunk_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by dot product: (scores (Q, k), doc indices (Q, k)), best first.

    Embeddings normalised by the caller make this cosine similarity. Queries are scored
    ``chunk_size`` at a time against blocks of at most ``gtekit.search.topk.EXACT_BLOCK_ROWS``
    documents, so memory stays at chunk_size × min(D, EXACT_BLOCK_ROWS) scores. Ties are broken
    by the lower doc index, also at the k-th place. k is capped at the number of documents.
    """
    queries = np.asarray(query_embeddings)
    docs = np.asarray(doc_embeddings)
    if queries.ndim != 2 or docs.ndim != 2 or queries.shape[1] != docs.shape[1]:
        raise ValueError(f"need (Q, H) queries and (D, H) documents, got {queries.shape} and {docs.shape}")
    if k < 1 or chunk_size < 1:
        raise ValueError(f"k and chunk_size must be positive, got k={k}, chunk_size={chunk_size}")
    if docs.shape[0] == 0:
        raise ValueError("no documents to search")
    k = min(k, docs.shape[0])
    if queries.shape[0] == 0:
        return np.zeros((0, k), dtype=np.result_type(queries, docs)), np.zeros((0, k), dtype=np.int64)
    return exact_top_k(queries, docs, k, kernel=ExactKernel.NUMPY, query_rows=chunk_size)


def run_from_top_k(query_ids: Sequence[str], doc_ids: Sequence[str], scores: np.ndarray,
                   indices: np.ndarray) -> Run:
    """A run {query id: {doc id: score}} from :func:`search_top_k`'s output."""
    scores, indices = np.asarray(scores), np.asarray(indices)
    if scores.shape != indices.shape or scores.ndim != 2 or len(query_ids) != scores.shape[0]:
        raise ValueError(f"need {len(query_ids)} rows of scores and indices of one shape, "
                         f"got {scores.shape} and {indices.shape}")
    run: Run = {}
    for query_id, row_scores, row_indices in zip(query_ids, scores.tolist(), indices.tolist(), strict=True):
        run[query_id] = {doc_ids[j]: float(s) for j, s in zip(row_indices, row_scores, strict=True)}
    return run
