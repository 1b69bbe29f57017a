"""Search: flat equals numpy's exact top-k; approximate kinds and compact precisions find most of it, and
rescoring with the stored embeddings gives back exact scores and raises recall."""

from __future__ import annotations

import numpy as np
import pytest
from sentence_transformers import quantize_embeddings

from gtekit.search import ArrayShards, Hit, IndexSettings, SearchIndex, build_index
from gtekit.search.topk import recall_at_k

from .conftest import brute_force, clustered

try:
    from sentence_transformers.util.quantization import semantic_search_faiss
except ImportError:  # sentence-transformers < 6
    from sentence_transformers.quantization import semantic_search_faiss


def built(tmp_path, docs, name="index", texts=None, **settings) -> SearchIndex:
    build_index(ArrayShards(docs, texts=texts, model="vectors", rows_per_shard=700), tmp_path / name,
                IndexSettings(**settings))
    return SearchIndex.load(tmp_path / name)


def test_flat_equals_numpy_brute_force_ids_and_scores(tmp_path):
    docs, queries = clustered(2000, 60, 32)
    index = built(tmp_path, docs, texts=[f"text {i}" for i in range(2000)], kind="flat")
    expected_scores, expected_ids = brute_force(queries, docs, 10)
    scores, rows = index.search_rows(queries, 10)
    np.testing.assert_array_equal(rows, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)
    hits = index.search(queries, 10)
    assert [hit.id for hit in hits[3]] == [str(i) for i in expected_ids[3]]
    assert hits[3][0] == Hit(str(expected_ids[3, 0]), pytest.approx(expected_scores[3, 0], abs=1e-5),
                             f"text {expected_ids[3, 0]}")
    assert len(index) == 2000 and index.dimension == 32 and index.model == "vectors" and not index.can_rescore


@pytest.mark.parametrize(("settings", "bound"), [
    ({"kind": "hnsw", "hnsw_m": 16, "ef_search": 64}, 0.95),
    ({"kind": "ivfpq", "nlist": 32, "pq_m": 8, "pq_nbits": 6, "nprobe": 8}, 0.9),  # rescored from the float32 store
    ({"kind": "hnsw", "precision": "int8"}, 0.95),
])
def test_approximate_kinds_find_the_exact_neighbours(settings, bound, tmp_path):
    docs, queries = clustered(4000, 100, 32)
    index = built(tmp_path, docs, **settings)
    _, exact = brute_force(queries, docs, 10)
    scores, rows = index.search_rows(queries, 10)
    assert recall_at_k(rows, exact) > bound
    assert (np.diff(scores, axis=1) <= 1e-6).all()


@pytest.mark.parametrize("precision", ["binary", "int8", "float16"])
def test_rescoring_gives_exact_scores_and_raises_recall(precision, tmp_path):
    docs, queries = clustered(3000, 100, 64)
    index = built(tmp_path, docs, kind="flat", precision=precision)
    _, exact = brute_force(queries, docs, 10)
    _, plain = index.search_rows(queries, 10, rescore=False)
    scores, rows = index.search_rows(queries, 10)  # rescored by default: the index keeps a float32 store
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ docs.T, rows, axis=1), atol=1e-5)
    without, with_rescoring = recall_at_k(plain, exact), recall_at_k(rows, exact)
    assert with_rescoring >= without
    if precision == "binary":
        assert with_rescoring > without + 0.1


def test_binary_scores_without_rescoring_are_the_sign_vector_cosines(tmp_path):
    docs, queries = clustered(500, 20, 40)
    index = built(tmp_path, docs, kind="flat", precision="ubinary")
    scores, _ = index.search_rows(queries, 10, rescore=False)
    signs_d, signs_q = np.where(docs > 0, 1.0, -1.0), np.where(queries > 0, 1.0, -1.0)
    expected = np.sort(signs_q @ signs_d.T / 40, axis=1)[:, ::-1][:, :10]  # ties make ids ambiguous, not scores
    np.testing.assert_allclose(scores, expected, atol=1e-6)


def test_rescoring_every_document_equals_exact_search(tmp_path):
    docs, queries = clustered(300, 30, 24)
    index = built(tmp_path, docs, kind="hnsw", precision="binary", rescore_multiplier=30)  # 30 x 10 = the corpus
    expected_scores, expected_ids = brute_force(queries, docs, 10)
    scores, rows = index.search_rows(queries, 10)
    np.testing.assert_array_equal(rows, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)


def test_int8_rescore_store_equals_sentence_transformers_rescoring(tmp_path):
    """With every document a candidate, both rescore all of them from the same int8 codes (dequantized as
    code·step + min): the same ranking and scores."""
    docs, queries = clustered(300, 20, 16)
    index = built(tmp_path, docs, kind="flat", precision="int8", rescore_store="int8", rescore_multiplier=30)
    scores, rows = index.search_rows(queries, 10)
    ranges = np.vstack([docs.min(0), docs.max(0)])
    results, _ = semantic_search_faiss(queries, corpus_embeddings=quantize_embeddings(docs, "uint8", ranges=ranges),
                                       corpus_precision="uint8", top_k=10, ranges=ranges, rescore=True,
                                       rescore_multiplier=30)
    np.testing.assert_array_equal(rows, [[hit["corpus_id"] for hit in hits] for hits in results])
    np.testing.assert_allclose(scores, [[hit["score"] for hit in hits] for hits in results], atol=1e-5)


def test_fewer_documents_than_k_and_search_overrides(tmp_path):
    docs, queries = clustered(7, 3, 8)
    index = built(tmp_path, docs, kind="flat", precision="binary")
    hits = index.search(queries, 10)
    assert all(len(query_hits) == 7 for query_hits in hits)
    scores, rows = index.search_rows(queries, 10)
    assert (rows[:, 7:] == -1).all() and np.isneginf(scores[:, 7:]).all()
    assert index.search(queries[0], 2)[0][0].id == hits[0][0].id  # one query as a (d,) vector
    assert SearchIndex.load(tmp_path / "index", rescore_multiplier=1).settings.rescore_multiplier == 1


def test_bad_queries_are_clear_errors(tmp_path):
    docs, queries = clustered(50, 2, 8)
    index = built(tmp_path, docs, kind="flat")
    with pytest.raises(ValueError, match="8-dimensional embeddings of vectors"):
        index.search(np.ones((2, 16), dtype=np.float32), 3)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        index.search(queries, 0)
    with pytest.raises(ValueError, match="without a rescore store"):
        index.search(queries, 3, rescore=True)
    assert len(index.search(queries, 3, rescore=False)[0]) == 3


def test_rescoring_in_small_blocks_equals_one_block(monkeypatch):
    from gtekit.search import topk

    docs, queries = clustered(200, 40, 8)
    candidates = np.random.default_rng(0).integers(-1, 200, size=(40, 25))  # -1: no candidate

    def vectors_of(rows):
        return docs[rows]

    whole = topk.rescore_top_k(queries, candidates, vectors_of, 10)
    monkeypatch.setattr(topk, "RESCORE_FLOATS", 8 * 25 * 3)  # 3 queries per block
    blocks = topk.rescore_top_k(queries, candidates, vectors_of, 10)
    np.testing.assert_array_equal(blocks[1], whole[1])
    np.testing.assert_array_equal(blocks[0], whole[0])
    exact = np.where(candidates >= 0, np.einsum("qd,qcd->qc", queries, docs[candidates]), -np.inf)
    np.testing.assert_allclose(whole[0], -np.sort(-exact, axis=1)[:, :10], atol=1e-6)
