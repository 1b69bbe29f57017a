"""Reranking against mteb 2.x's own reranking run (scored as retrieval, through trec_eval) where the two
definitions meet, against the legacy mteb RerankingEvaluator's recipe (scikit-learn AP, an MRR@10 loop)
that gtekit follows everywhere, and against trec_eval (through pytrec_eval) where no scores tie."""

from __future__ import annotations

import numpy as np
import pytest
import pytrec_eval
from datasets import Dataset
from mteb._evaluators.retrieval_metrics import max_over_subqueries
from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.mocks.mock_tasks.reranking import general_args
from sklearn.metrics import average_precision_score
from sklearn.metrics.pairwise import cosine_similarity

from gtekit.evaluation.metrics.reranking import candidate_scores, reranking_scores
from tests.helpers import TableEncoder


def random_queries(seed: int, num_queries: int = 40, width: int = 8):
    """Queries with 1..30 candidates; some with no positive or no negative; some with 3 sub-queries."""
    rng = np.random.default_rng(seed)
    queries, candidates, relevance = [], [], []
    for q in range(num_queries):
        n = int(rng.integers(1, 31))
        queries.append(rng.normal(size=(3, width)) if q % 5 == 0 else rng.normal(size=width))
        candidates.append(rng.normal(size=(n, width)))
        relevance.append((rng.random(n) < rng.uniform(0, 0.6)).astype(int))
    return queries, candidates, relevance


def legacy_reference(queries, candidates, relevance, k: int = 10) -> dict[str, float]:
    """The legacy evaluator's loop: skip one-sided queries, max cosine over sub-queries, AP, MRR@k."""
    aps, mrrs = [], []
    for query, docs, rel in zip(queries, candidates, relevance, strict=True):
        if rel.sum() == 0 or rel.sum() == len(rel):
            continue
        scores = cosine_similarity(np.atleast_2d(query), docs).max(axis=0)
        aps.append(average_precision_score(rel, scores))
        mrr = 0.0
        for rank, index in enumerate(np.argsort(-scores)[:k]):
            if rel[index]:
                mrr = 1 / (rank + 1)
                break
        mrrs.append(mrr)
    return {"map": float(np.mean(aps)), "mrr": float(np.mean(mrrs))}


def mteb_reranking(queries, candidates, relevance) -> dict:
    """mteb 2.x's reranking task run end to end (``AbsTaskRetrieval`` with ``top_ranked``): each query's
    candidates are scored by cosine and evaluated as retrieval. Query q's sub-queries become queries
    ``q{q}_{s}``, merged by mteb's ``max_over_subqueries`` (MindSmallReranking's main score) into the
    ``max_over_subqueries_*`` keys."""
    table, query_rows, corpus_rows, qrels, top_ranked = {}, [], [], {}, {}
    for q, (query, docs, rel) in enumerate(zip(queries, candidates, relevance, strict=True)):
        doc_ids = [f"q{q}-d{i}" for i in range(len(docs))]
        for doc_id, row in zip(doc_ids, docs, strict=True):
            table[f"doc {doc_id}"] = row
            corpus_rows.append({"id": doc_id, "text": f"doc {doc_id}"})
        for s, row in enumerate(np.atleast_2d(query)):
            query_id = f"q{q}_{s}"
            table[f"query {query_id}"] = row
            query_rows.append({"id": query_id, "text": f"query {query_id}"})
            qrels[query_id] = {doc_id: int(r) for doc_id, r in zip(doc_ids, rel, strict=True)}
            top_ranked[query_id] = doc_ids

    class Task(AbsTaskRetrieval):
        metadata = TaskMetadata(type="Reranking", name="GtekitProbe", main_score="map_at_1000", **general_args)

        def load_data(self, **kwargs):
            self.dataset = {"default": {"test": {"queries": Dataset.from_list(query_rows),
                                                 "corpus": Dataset.from_list(corpus_rows),
                                                 "relevant_docs": qrels, "top_ranked": top_ranked}}}
            self.data_loaded = True

        def task_specific_scores(self, scores, qrels, results, hf_split, hf_subset):
            return max_over_subqueries(qrels, results, self.k_values)

    return Task().evaluate(TableEncoder(table), "test", encode_kwargs={"batch_size": 64})["default"]


@pytest.mark.parametrize("sub_queries", [False, True], ids=["one-embedding-per-query", "sub-queries"])
def test_matches_mteb_where_the_definitions_meet(sub_queries):
    """Every query two-sided and no scores tied: gtekit's MAP, MRR@10 and recall@10 are mteb's map_at_1000,
    mrr_at_10 and recall_at_10 (MAP over a full candidate list of < 1000), for sub-queries the
    ``max_over_subqueries_`` ones. mteb rounds MAP and recall to 5 decimals; MRR it does not round."""
    queries, candidates, relevance = random_queries(0)
    kept = [q for q, rel in enumerate(relevance) if 0 < rel.sum() < len(rel)
            and (sub_queries or np.ndim(queries[q]) == 1)]
    assert sub_queries == any(np.ndim(queries[q]) == 2 for q in kept)
    queries, candidates, relevance = ([items[q] for q in kept] for items in (queries, candidates, relevance))
    ours = reranking_scores(queries, candidates, relevance)
    reference = mteb_reranking(queries, candidates, relevance)
    prefix = "max_over_subqueries_" if sub_queries else ""
    assert ours["map"] == pytest.approx(reference[f"{prefix}map_at_1000"], abs=5e-6 + 1e-12)
    assert ours["recall_at_10"] == pytest.approx(reference[f"{prefix}recall_at_10"], abs=5e-6 + 1e-12)
    assert ours["mrr"] == pytest.approx(reference[f"{prefix}mrr_at_10"], abs=1e-12)
    assert ours["main_score"] == ours["map"]


def test_matches_the_legacy_recipe():
    """Checked against the legacy mteb 1.x RerankingEvaluator's recipe (copied above as ``legacy_reference``),
    which gtekit follows; mteb 2.x differs in that it keeps one-sided queries (a query with no relevant
    candidate counts 0) and breaks ties by document id instead of averaging AP over tied candidates, so it
    agrees only where every query is two-sided and no scores tie (``test_matches_mteb_where_the_definitions_meet``)."""
    queries, candidates, relevance = random_queries(0)
    ours = reranking_scores(queries, candidates, relevance)
    reference = legacy_reference(queries, candidates, relevance)
    assert set(ours) == {"map", "mrr", "recall_at_10", "main_score"}
    assert ours["map"] == pytest.approx(reference["map"], abs=1e-12)
    assert ours["mrr"] == pytest.approx(reference["mrr"], abs=1e-12)
    assert ours["main_score"] == ours["map"]


def test_matches_trec_eval_without_ties():
    queries, candidates, relevance = random_queries(1)
    qrels, run, recall = {}, {}, []
    for q, (query, docs, rel) in enumerate(zip(queries, candidates, relevance, strict=True)):
        if 0 < rel.sum() < len(rel):
            scores = candidate_scores(query, docs)
            qrels[f"q{q}"] = {f"d{i}": int(r) for i, r in enumerate(rel)}
            run[f"q{q}"] = {f"d{i}": float(s) for i, s in enumerate(scores)}
            recall.append(rel[np.argsort(-scores)[:10]].sum() / rel.sum())
    measures = pytrec_eval.RelevanceEvaluator(qrels, {"map", "recip_rank"}).evaluate(run)
    ours = reranking_scores(queries, candidates, relevance, mrr_at_k=1000)  # MRR@1000 = full reciprocal rank
    assert ours["map"] == pytest.approx(np.mean([m["map"] for m in measures.values()]), abs=1e-9)
    assert ours["mrr"] == pytest.approx(np.mean([m["recip_rank"] for m in measures.values()]), abs=1e-9)
    assert reranking_scores(queries, candidates, relevance)["recall_at_10"] == pytest.approx(np.mean(recall))


def test_ties_average_precision_groups_them_and_mrr_takes_the_lower_index():
    query = np.array([1.0, 0.0])
    candidates = np.array([[1.0, 1.0], [2.0, 2.0], [0.0, 1.0]])  # the first two tie at cosine 1/sqrt(2)
    scores = reranking_scores([query], [candidates], [np.array([0, 1, 0])])
    assert scores["map"] == pytest.approx(0.5)  # one block of two with one relevant: precision 1/2
    assert scores["mrr"] == pytest.approx(0.5)  # the irrelevant candidate 0 ranks first
    swapped = reranking_scores([query], [candidates], [np.array([1, 0, 0])])
    assert swapped["map"] == pytest.approx(0.5)
    assert swapped["mrr"] == pytest.approx(1.0)


def test_sub_queries_take_the_best_match():
    queries = np.array([[1.0, 0.0], [0.0, 1.0]])
    candidates = np.array([[0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    np.testing.assert_allclose(candidate_scores(queries, candidates), [1.0, 1 / np.sqrt(2), 0.0])


def test_one_sided_queries_are_dropped():
    query, docs = np.array([1.0, 0.0]), np.array([[1.0, 0.0], [0.0, 1.0]])
    kept = reranking_scores([query], [docs], [np.array([0, 1])])
    with_dropped = reranking_scores([query] * 3, [docs] * 3, [np.array([0, 1]), np.array([1, 1]), np.array([0, 0])])
    assert with_dropped == kept
    with pytest.raises(ValueError, match="no query has both"):
        reranking_scores([query], [docs], [np.array([1, 1])])


def test_errors_name_the_problem():
    query, docs = np.array([1.0, 0.0]), np.array([[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="2 queries, 1 candidate lists and 2 relevance lists"):
        reranking_scores([query, query], [docs], [np.array([0, 1])] * 2)
    with pytest.raises(ValueError, match=r"query 0: 2 candidates but relevance has shape \(3,\)"):
        reranking_scores([query], [docs], [np.array([0, 1, 0])])
    with pytest.raises(ValueError, match="0 or 1"):
        reranking_scores([query], [docs], [np.array([0, 2])])
