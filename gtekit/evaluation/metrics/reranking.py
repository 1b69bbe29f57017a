"""Reranking: order each query's own candidate list by cosine similarity, scored by MAP and MRR@10,
as the legacy mteb ``RerankingEvaluator`` (mteb 1.x, read in 1.39.7) scores it.

No model knowledge: takes numpy query and candidate embeddings and 0/1 relevance. Depends on numpy
and scikit-learn only.

Legacy conventions, followed here:

- a query may be one embedding (H,) or several (S, H) (mteb's "sub-queries"): a candidate's score
  is its highest cosine over them;
- a query with no relevant or no irrelevant candidate is dropped before averaging;
- ``map`` = mean over queries of scikit-learn's ``average_precision_score(relevance, scores)``,
  which treats candidates of exactly equal score as one block (no order among them);
- ``mrr`` = mean of 1/rank of the first relevant candidate if that rank is <= 10, else 0 (legacy
  mteb names MRR@10 just ``mrr``); ``recall_at_10`` = relevant in the top 10 / all relevant;
- ``main_score`` = ``map``, the legacy main score of MTEB's four English reranking tasks
  (AskUbuntuDupQuestions, MindSmallReranking, SciDocsRR, StackOverflowDupQuestions).

Ties in the ranking for ``mrr`` and ``recall_at_10`` go to the lower candidate index. (mteb used
``torch.argsort``, which does not promise an order among ties; it lists a query's positives
before its negatives.) The nAUC confidence metrics of mteb 1.39 are not computed.

mteb 2.x evaluates these tasks as retrieval instead (main score ``map_at_1000`` through
trec_eval, whose tie order differs): use ``retrieval_metrics.evaluate_run`` for those numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score

MRR_AT_K = 10  # legacy RerankingEvaluator(mrr_at_k=10)


def reranking_scores(query_embeddings: Sequence[np.ndarray], candidate_embeddings: Sequence[np.ndarray],
                     relevance: Sequence[np.ndarray], *, mrr_at_k: int = MRR_AT_K) -> dict[str, float]:
    """Legacy mteb reranking metrics: ``map``, ``mrr`` (at ``mrr_at_k``), ``recall_at_{k}``, ``main_score``.

    Query q has embedding(s) ``query_embeddings[q]`` of shape (H,) or (S, H), candidates
    ``candidate_embeddings[q]`` of shape (n_q, H) and ``relevance[q]`` of shape (n_q,) in {0, 1}.
    """
    per_query = reranking_per_query(query_embeddings, candidate_embeddings, relevance, mrr_at_k=mrr_at_k)
    mean_ap = float(np.mean(per_query["map"]))
    return {"map": mean_ap, "mrr": float(np.mean(per_query["mrr"])),
            f"recall_at_{mrr_at_k}": float(np.mean(per_query[f"recall_at_{mrr_at_k}"])), "main_score": mean_ap}


def reranking_per_query(query_embeddings: Sequence[np.ndarray], candidate_embeddings: Sequence[np.ndarray],
                        relevance: Sequence[np.ndarray], *, mrr_at_k: int = MRR_AT_K) -> dict[str, np.ndarray]:
    """The metrics of :func:`reranking_scores` for each query kept (one with a relevant and an irrelevant
    candidate), in order, shape (Q,) each."""
    if not len(query_embeddings) == len(candidate_embeddings) == len(relevance):
        raise ValueError(f"got {len(query_embeddings)} queries, {len(candidate_embeddings)} candidate lists "
                         f"and {len(relevance)} relevance lists")
    if mrr_at_k < 1:
        raise ValueError(f"mrr_at_k must be positive, got {mrr_at_k}")
    aps, mrrs, recalls = [], [], []
    for q, (query, candidates, rel) in enumerate(zip(query_embeddings, candidate_embeddings, relevance, strict=True)):
        is_relevant = _checked_relevance(rel, candidates, q)
        if is_relevant.all() or not is_relevant.any():
            continue  # mteb drops queries without a positive or without a negative
        scores = candidate_scores(query, candidates)
        aps.append(float(average_precision_score(is_relevant, scores)))
        ranked = is_relevant[np.argsort(-scores, kind="stable")][:mrr_at_k]  # relevance of the top k
        mrrs.append(1.0 / (np.argmax(ranked) + 1) if ranked.any() else 0.0)
        recalls.append(ranked.sum() / is_relevant.sum())
    if not aps:
        raise ValueError("no query has both a relevant and an irrelevant candidate; nothing to rank")
    return {"map": np.asarray(aps), "mrr": np.asarray(mrrs), f"recall_at_{mrr_at_k}": np.asarray(recalls)}


def candidate_scores(query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Cosine of each candidate with the query, shape (n,); for (S, H) sub-queries, the max over them."""
    query, candidates = np.asarray(query, dtype=np.float64), np.asarray(candidates, dtype=np.float64)
    queries = query[None, :] if query.ndim == 1 else query  # (S, H)
    if queries.ndim != 2 or candidates.ndim != 2 or queries.shape[1] != candidates.shape[1]:
        raise ValueError(f"need an (H,) or (S, H) query and (n, H) candidates, "
                         f"got {query.shape} and {candidates.shape}")
    return (_unit_rows(queries) @ _unit_rows(candidates).T).max(axis=0)  # (S, n) -> (n,)


def _checked_relevance(rel: np.ndarray, candidates: np.ndarray, q: int) -> np.ndarray:
    rel = np.asarray(rel)
    if rel.ndim != 1 or len(rel) != len(candidates):
        raise ValueError(f"query {q}: {len(candidates)} candidates but relevance has shape {rel.shape}")
    if not set(np.unique(rel).tolist()) <= {0, 1}:
        raise ValueError(f"query {q}: relevance must be 0 or 1, got {sorted(set(np.unique(rel).tolist()))}")
    return rel.astype(bool)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)
