"""The one exact top-k: its two kernels against numpy references, bit for bit where the callers need it, with
ties, several query chunks and corpus blocks, a store's blocks and fewer documents than k."""

from __future__ import annotations

import numpy as np
import pytest

from gtekit.search import topk
from gtekit.search.topk import ExactKernel, array_blocks, exact_top_k

from .conftest import brute_force, clustered


def lower_id_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top k of each row of ``scores`` by score descending, then id ascending (a plain sort)."""
    ids = np.array([sorted(range(scores.shape[1]), key=lambda j, row=row: (-row[j], j))[:k] for row in scores])
    return np.take_along_axis(scores, ids, axis=1), ids


def test_exact_top_k_in_blocks_equals_numpy(monkeypatch):
    docs, queries = clustered(1000, 20, 16)
    monkeypatch.setattr(topk, "EXACT_BLOCK_ROWS", 300)
    scores, ids = exact_top_k(queries, docs, 7)
    expected_scores, expected_ids = brute_force(queries, docs, 7)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("k", "query_rows"), [(1, 7), (5, 3), (13, 100), (40, 16)])
def test_numpy_kernel_is_the_chunked_matrix_product_bit_for_bit(dtype, k, query_rows):
    """One corpus block: the scores are numpy's product of each query chunk with the whole corpus, in the
    inputs' dtype, and ties go to the lower id, at the k-th place too."""
    rng = np.random.default_rng(k)
    queries = rng.normal(size=(25, 6)).astype(dtype)
    docs = rng.normal(size=(40, 6)).astype(dtype)
    docs[[3, 17, 30]] = docs[9]  # exact ties
    scores, ids = exact_top_k(queries, docs, k, kernel="numpy", query_rows=query_rows)
    chunks = [lower_id_top_k(queries[a:a + query_rows] @ docs.T, k) for a in range(0, 25, query_rows)]
    assert scores.dtype == dtype and ids.dtype == np.int64
    np.testing.assert_array_equal(ids, np.concatenate([chunk[1] for chunk in chunks]))
    np.testing.assert_array_equal(scores, np.concatenate([chunk[0] for chunk in chunks]))


@pytest.mark.parametrize("corpus_rows", [1, 4, 7, 40])
def test_numpy_kernel_ranks_the_same_whatever_the_corpus_blocks(corpus_rows):
    rng = np.random.default_rng(corpus_rows)
    queries = rng.integers(-2, 3, size=(25, 4)).astype(np.float32)  # small integers: exact scores, many ties
    docs = rng.integers(-2, 3, size=(40, 4)).astype(np.float32)
    want_scores, want_ids = lower_id_top_k(queries @ docs.T, 13)
    scores, ids = exact_top_k(queries, docs, 13, kernel=ExactKernel.NUMPY, query_rows=6, corpus_rows=corpus_rows)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(scores, want_scores)


def test_faiss_kernel_over_a_stores_blocks_is_the_heap_of_faiss_knn_bit_for_bit():
    """A callable of (first row, block) pairs, as an embedding store's ``iter_embeddings``, gives what a
    ``faiss.ResultHeap`` over ``faiss.knn`` of each block gives, ties in the heap's order included."""
    import faiss

    docs, queries = clustered(500, 30, 16)
    docs[[10, 200, 320, 499]] = docs[50]  # exact ties across blocks
    queries[:5] = docs[50]
    bounds = [(0, 128), (128, 256), (256, 384), (384, 500)]

    def blocks():
        return ((start, docs[start:stop]) for start, stop in bounds)

    heap = faiss.ResultHeap(len(queries), 8, keep_max=True)
    for start, stop in bounds:
        block_scores, block_ids = faiss.knn(queries, docs[start:stop], 8, metric=faiss.METRIC_INNER_PRODUCT)
        heap.add_result(block_scores, np.where(block_ids >= 0, block_ids + start, -1))
    heap.finalize()
    scores, ids = exact_top_k(queries, blocks, 8)
    np.testing.assert_array_equal(ids, heap.I)
    np.testing.assert_array_equal(scores, heap.D)
    assert {int(i) for i in ids[0, :5]} == {10, 50, 200, 320, 499}
    same_ids = exact_top_k(queries, docs, 8, corpus_rows=128)[1]
    np.testing.assert_array_equal(same_ids, ids)


def test_the_kernels_agree_without_ties_and_pad_short_corpora():
    docs, queries = clustered(300, 40, 16)
    faiss_scores, faiss_ids = exact_top_k(queries, docs, 10, kernel="faiss")
    numpy_scores, numpy_ids = exact_top_k(queries, docs, 10, kernel="numpy", corpus_rows=64)
    np.testing.assert_array_equal(faiss_ids, numpy_ids)
    np.testing.assert_allclose(faiss_scores, numpy_scores, atol=1e-5)
    for kernel in ExactKernel:
        scores, ids = exact_top_k(queries, docs[:3], 5, kernel=kernel, corpus_rows=2)
        assert (ids[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all() and (ids[:, :3] >= 0).all()
        empty_scores, empty_ids = exact_top_k(queries[:0], docs, 4, kernel=kernel)
        assert empty_scores.shape == empty_ids.shape == (0, 4)
    assert [offset for offset, _ in array_blocks(docs, 128)] == [0, 128, 256]
    with pytest.raises(ValueError, match="must be positive"):
        exact_top_k(queries, docs, 0)
    with pytest.raises(ValueError, match="unknown kernel 'cuda'; valid: faiss, numpy"):
        exact_top_k(queries, docs, 3, kernel="cuda")
