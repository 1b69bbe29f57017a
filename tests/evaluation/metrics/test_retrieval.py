"""Retrieval metrics against pytrec_eval (trec_eval), MRR@k against a plain loop, top-k against argsort."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import pytrec_eval

from gtekit.evaluation.metrics.retrieval import (
    evaluate_run,
    per_query_metrics,
    run_from_top_k,
    search_top_k,
)

K_VALUES = (1, 2, 3, 5, 10, 20, 100)
TREC_NAMES = {"ndcg": "ndcg_cut_{}", "map": "map_cut_{}", "recall": "recall_{}", "precision": "P_{}"}


def random_qrels_and_run(seed: int, num_queries: int = 300) -> tuple[dict, dict]:
    """Graded and negative relevance, integer scores (many ties), ids of unequal length, missing runs."""
    rng = np.random.default_rng(seed)
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in range(num_queries):
        docs = [f"d{i}" for i in rng.choice(150, size=50, replace=False)]  # "d7" vs "d70": string order
        qrels[f"q{q}"] = {doc: int(rng.integers(-1, 4)) for doc in docs[: rng.integers(1, 12)]}
        draw = rng.random()
        if draw < 0.1:
            continue  # query missing from the run
        if draw < 0.15:
            run[f"q{q}"] = {}
            continue
        length = int(rng.integers(1, 40))
        scores = rng.integers(0, 6, size=length) / 2.0
        run[f"q{q}"] = {doc: float(s) for doc, s in zip(docs[:length], scores, strict=True)}
    run["only_in_run"] = {"d1": 1.0}  # ignored: not in the qrels
    return qrels, run


def pytrec_means(qrels: dict, run: dict, k_values: tuple[int, ...]) -> dict[str, float]:
    """pytrec_eval's per-query values averaged over every query of the qrels (0 when it has none)."""
    cutoffs = ",".join(map(str, k_values))
    measures = {f"ndcg_cut.{cutoffs}", f"map_cut.{cutoffs}", f"recall.{cutoffs}", f"P.{cutoffs}",
                "recip_rank"}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    names = {f"{ours}_at_{k}": trec.format(k) for ours, trec in TREC_NAMES.items() for k in k_values}
    names["recip_rank"] = "recip_rank"
    return {ours: sum(per_query.get(q, {}).get(trec, 0.0) for q in qrels) / len(qrels)
            for ours, trec in names.items()}


@pytest.mark.parametrize("seed", range(5))
def test_matches_pytrec_eval(seed: int) -> None:
    qrels, run = random_qrels_and_run(seed)
    ours = evaluate_run(qrels, run, K_VALUES)
    reference = pytrec_means(qrels, run, K_VALUES)
    for name in TREC_NAMES:
        for k in K_VALUES:
            key = f"{name}_at_{k}"
            assert ours[key] == pytest.approx(reference[key], abs=1e-6), key
    assert ours["mrr_at_100"] == pytest.approx(reference["recip_rank"], abs=1e-6)  # runs hold < 100 docs


def test_ties_are_broken_by_doc_id_descending_as_trec_eval_does() -> None:
    run = {"q": {"a": 1.0, "b10": 1.0, "b9": 1.0, "c": 0.5}}
    for relevant, rank in (("b9", 1), ("b10", 2), ("a", 3), ("c", 4)):
        qrels = {"q": {relevant: 1}}
        trec = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(run)["q"]["recip_rank"]
        assert trec == pytest.approx(1 / rank)
        assert evaluate_run(qrels, run, (10,))["mrr_at_10"] == pytest.approx(1 / rank)
    shuffled = {"q": dict(reversed(list(run["q"].items())))}
    qrels = {"q": {"a": 2, "c": 1}}
    assert evaluate_run(qrels, shuffled) == evaluate_run(qrels, run)


def test_zero_and_negative_relevance_are_not_relevant() -> None:
    qrels = {"q": {"neg": -2, "zero": 0, "rel": 1, "unretrieved": 1}}
    run = {"q": {"neg": 3.0, "zero": 2.0, "rel": 1.0}}
    ours = evaluate_run(qrels, run, (1, 3))
    assert ours["precision_at_3"] == pytest.approx(1 / 3)
    assert ours["recall_at_3"] == pytest.approx(1 / 2)
    assert ours["map_at_3"] == pytest.approx((1 / 3) / 2)  # divided by R = 2, not by min(k, R)
    assert ours["ndcg_at_3"] == pytest.approx((1 / np.log2(4)) / (1 + 1 / np.log2(3)))
    assert ours["ndcg_at_1"] == 0.0 and ours["mrr_at_1"] == 0.0 and ours["mrr_at_3"] == pytest.approx(1 / 3)
    reference = pytrec_means(qrels, run, (1, 3))
    for key in ("ndcg_at_3", "map_at_3", "recall_at_3", "precision_at_3"):
        assert ours[key] == pytest.approx(reference[key], abs=1e-12)


def test_queries_without_run_or_relevant_docs_score_zero() -> None:
    qrels = {"hit": {"a": 1}, "no_run": {"a": 1}, "empty_run": {"a": 1}, "nothing_relevant": {"a": 0}}
    run = {"hit": {"a": 1.0}, "empty_run": {}, "nothing_relevant": {"a": 1.0}}
    per_query = per_query_metrics(qrels, run, (1,))
    for values in per_query.values():
        assert values.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert evaluate_run(qrels, run, (1,))["ndcg_at_1"] == 0.25


def trec_eval_order(scores: dict[str, float]) -> list[str]:
    """trec_eval's comp_sim_docno: score descending, then strcmp(docno2, docno1)."""

    def compare(doc1: str, doc2: str) -> int:
        if scores[doc1] != scores[doc2]:
            return -1 if scores[doc1] > scores[doc2] else 1
        return (doc2 > doc1) - (doc2 < doc1)

    return sorted(scores, key=functools.cmp_to_key(compare))


def naive_mrr_at_k(qrels: dict, run: dict, k: int) -> float:
    total = 0.0
    for query, judged in qrels.items():
        ranked = trec_eval_order(run.get(query, {}))
        for rank, doc in enumerate(ranked[:k], start=1):
            if judged.get(doc, 0) >= 1:
                total += 1.0 / rank
                break
    return total / len(qrels)


@pytest.mark.parametrize("seed", range(3))
def test_mrr_at_k_matches_a_plain_loop(seed: int) -> None:
    qrels, run = random_qrels_and_run(seed + 10)
    ours = evaluate_run(qrels, run, K_VALUES)
    for k in K_VALUES:
        assert ours[f"mrr_at_{k}"] == pytest.approx(naive_mrr_at_k(qrels, run, k), abs=1e-12), k


def test_keys_follow_mteb_names() -> None:
    result = evaluate_run({"q": {"a": 1}}, {"q": {"a": 1.0}}, (1, 10))
    assert list(result) == [f"{name}_at_{k}" for name in ("ndcg", "map", "recall", "precision", "mrr")
                            for k in (1, 10)]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="qrels is empty"):
        evaluate_run({}, {})
    with pytest.raises(ValueError, match="k_values"):
        evaluate_run({"q": {"a": 1}}, {}, (0, 10))


def brute_force_top_k(queries: np.ndarray, docs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = queries @ docs.T
    indices = np.array([sorted(range(len(docs)), key=lambda j, row=row: (-row[j], j))[:k] for row in scores])
    return np.take_along_axis(scores, indices, axis=1), indices


@pytest.mark.parametrize(("k", "chunk_size"), [(1, 7), (5, 3), (13, 100), (40, 16)])
def test_search_top_k_matches_brute_force_with_ties(k: int, chunk_size: int) -> None:
    rng = np.random.default_rng(k)
    queries = rng.integers(-2, 3, size=(25, 4)).astype(np.float32)  # small integers: exact, many ties
    docs = rng.integers(-2, 3, size=(40, 4)).astype(np.float32)
    scores, indices = search_top_k(queries, docs, k, chunk_size=chunk_size)
    want_scores, want_indices = brute_force_top_k(queries, docs, k)
    np.testing.assert_array_equal(indices, want_indices)
    np.testing.assert_array_equal(scores, want_scores)


def test_search_top_k_over_several_corpus_blocks_ranks_the_same(monkeypatch) -> None:
    """Corpora above gtekit.search.topk.EXACT_BLOCK_ROWS documents are scored block by block; ties still go
    to the lower doc index."""
    from gtekit.search import topk

    rng = np.random.default_rng(0)
    queries = rng.integers(-2, 3, size=(25, 4)).astype(np.float32)
    docs = rng.integers(-2, 3, size=(40, 4)).astype(np.float32)
    monkeypatch.setattr(topk, "EXACT_BLOCK_ROWS", 6)
    scores, indices = search_top_k(queries, docs, 13, chunk_size=7)
    want_scores, want_indices = brute_force_top_k(queries, docs, 13)
    np.testing.assert_array_equal(indices, want_indices)
    np.testing.assert_array_equal(scores, want_scores)


def test_search_top_k_caps_k_and_rejects_bad_shapes() -> None:
    queries, docs = np.eye(2, 3), np.eye(3)
    scores, indices = search_top_k(queries, docs, k=10)
    assert scores.shape == indices.shape == (2, 3)
    assert indices.tolist() == [[0, 1, 2], [1, 0, 2]]
    with pytest.raises(ValueError, match="need"):
        search_top_k(queries, np.eye(2), k=1)


def test_run_from_top_k_feeds_evaluate_run() -> None:
    queries = np.array([[1.0, 0.0], [0.0, 1.0]])
    docs = np.array([[0.9, 0.1], [0.1, 0.9], [0.7, 0.7]])
    scores, indices = search_top_k(queries, docs, k=2)
    run = run_from_top_k(["q1", "q2"], ["a", "b", "c"], scores, indices)
    assert run == {"q1": {"a": pytest.approx(0.9), "c": pytest.approx(0.7)},
                   "q2": {"b": pytest.approx(0.9), "c": pytest.approx(0.7)}}
    assert evaluate_run({"q1": {"a": 1}, "q2": {"c": 1}}, run, (1, 2))["mrr_at_2"] == pytest.approx(0.75)


def test_sampled_pool_mrr_matches_a_direct_count():
    from gtekit.evaluation.tasks.code_search import sampled_pool_mrr

    rng = np.random.default_rng(3)
    queries, codes = rng.normal(size=(40, 8)), rng.normal(size=(60, 8))
    scores = queries @ codes.T
    full = np.mean([1 / (1 + np.sum(np.delete(scores[i], i) >= scores[i, i])) for i in range(40)])
    assert sampled_pool_mrr(queries, codes, pool_size=1000) == pytest.approx(full)  # pool > snippets: all
    small = sampled_pool_mrr(queries, codes, pool_size=10)
    assert small >= full and small == sampled_pool_mrr(queries, codes, pool_size=10)  # fewer rivals, seeded
    perfect = np.eye(60)[:40]
    assert sampled_pool_mrr(perfect, np.eye(60), pool_size=20) == 1.0
