"""Code search: natural-language queries (docstrings) against a pool of code snippets.

Query i's only relevant document is snippet i (CodeSearchNet protocol, GTE Table 7: every
snippet of the pool is a candidate). Scores with ``retrieval_metrics``; depends on the
embedder's ``encode`` only.
"""

from __future__ import annotations

import numpy as np

from ..metrics.retrieval import evaluate_run, run_from_top_k, search_top_k

CODE_SEARCH_K = (1, 5, 10, 100)


def unique_query_pairs(queries: list[str], codes: list[str]) -> tuple[list[str], list[str]]:
    """Keep one pair per distinct query and per distinct code, so each query has one right answer."""
    seen_queries: set[str] = set()
    seen_codes: set[str] = set()
    kept_queries, kept_codes = [], []
    for query, code in zip(queries, codes, strict=True):
        if query in seen_queries or code in seen_codes:
            continue
        seen_queries.add(query)
        seen_codes.add(code)
        kept_queries.append(query)
        kept_codes.append(code)
    return kept_queries, kept_codes


def sampled_pool_mrr(query_embeddings: np.ndarray, code_embeddings: np.ndarray, pool_size: int = 1000,
                     seed: int = 42) -> float:
    """MRR when query i ranks its snippet (row i) against ``pool_size - 1`` snippets drawn at random
    from the others (CodeSearchNet's 1k-candidate setting, GTE Table 13); a tie counts against the
    query. With fewer than ``pool_size`` snippets every snippet is a candidate (the full-pool setting).

        MRR = (1/N) Σ_i 1 / (1 + |{j ∈ pool_i : s(q_i, c_j) ≥ s(q_i, c_i), j ≠ i}|)
    """
    n, m = len(query_embeddings), len(code_embeddings)
    rng = np.random.default_rng(seed)
    reciprocal = np.empty(n)
    for i in range(n):
        others = np.delete(np.arange(m), i)
        if len(others) > pool_size - 1:
            others = rng.choice(others, size=pool_size - 1, replace=False)
        scores = code_embeddings[others] @ query_embeddings[i]  # (pool - 1,)
        right = float(code_embeddings[i] @ query_embeddings[i])
        reciprocal[i] = 1.0 / (1 + int((scores >= right).sum()))
    return float(reciprocal.mean())


def code_search_scores(query_embeddings: np.ndarray, code_embeddings: np.ndarray,
                       k_values=CODE_SEARCH_K) -> dict[str, float]:
    """Retrieval metrics when query i's relevant snippet is row i of ``code_embeddings``: over the
    full candidate pool (GTE Table 7; main score MRR@10) and MRR with 1,000 candidates (Table 13)."""
    n = len(query_embeddings)
    ids = [str(i) for i in range(n)]
    scores, indices = search_top_k(query_embeddings, code_embeddings, k=min(max(k_values), len(code_embeddings)))
    run = run_from_top_k(ids, [str(i) for i in range(len(code_embeddings))], scores, indices)
    qrels = {qid: {qid: 1} for qid in ids}
    metrics = evaluate_run(qrels, run, k_values=k_values)
    metrics["mrr_1k_candidates"] = sampled_pool_mrr(query_embeddings, code_embeddings)
    metrics["main_score"] = metrics["mrr_at_10"]
    return metrics


def evaluate_code_search(model, queries: list[str], codes: list[str], batch_size: int = 64) -> dict[str, float]:
    queries, codes = unique_query_pairs(queries, codes)
    q = model.encode(queries, batch_size=batch_size, normalize=True, kind="query")
    c = model.encode(codes, batch_size=batch_size, normalize=True, kind="document")
    metrics = code_search_scores(q, c)
    metrics["queries"] = len(queries)
    return metrics
