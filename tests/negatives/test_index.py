"""Search: the streamed exact search equals a full matrix product; approximate indexes find nearly all of it
with exact scores; the run file stores it losslessly."""

from __future__ import annotations

import numpy as np
import pytest

from gtekit.negatives.candidate_search import EXACT_MAX_DOCS, MINING_KINDS, IndexKind, SearchSettings, search
from gtekit.negatives.encode_store import encode_store, store_fingerprint
from gtekit.negatives.run_file import read_run, run_metadata, write_run

from .conftest import TableEmbedder, unit


def stores(tmp_path, n_queries, n_docs, dim=16, chunk_size=32, seed=0):
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(20, dim)))  # clustered, as real embeddings are
    docs = unit(centres[rng.integers(0, 20, n_docs)] + 0.5 * rng.normal(size=(n_docs, dim)) / np.sqrt(dim))
    queries = unit(docs[rng.integers(0, n_docs, n_queries)] + 0.5 * rng.normal(size=(n_queries, dim)) / np.sqrt(dim))
    table = {f"q{i}": v for i, v in enumerate(queries)} | {f"d{i}": v for i, v in enumerate(docs)}
    model = TableEmbedder(table)
    q, _ = encode_store(model, [f"q{i}" for i in range(n_queries)], tmp_path / "q", kind="query", chunk_size=chunk_size)
    d, _ = encode_store(model, [f"d{i}" for i in range(n_docs)], tmp_path / "d", kind="document",
                        chunk_size=chunk_size)
    return q, d, queries, docs


def collect(results):
    starts, scores, ids = zip(*results, strict=True)
    return list(starts), np.concatenate(scores), np.concatenate(ids)


def test_exact_search_equals_the_full_score_matrix(tmp_path):
    q, d, queries, docs = stores(tmp_path, 70, 300)
    starts, scores, ids = collect(search(q, d, SearchSettings(k=10, index="flat")))
    assert starts == [0, 32, 64]
    full = queries @ docs.T  # (70, 300)
    expected = np.argsort(-full, axis=1)[:, :10]
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(full, expected, 1), atol=1e-5)


def test_exact_search_is_a_faiss_heap_over_the_corpus_shards_ties_included(tmp_path):
    """Per query shard: faiss.knn of each corpus shard merged by a ResultHeap, in shard order, bit for bit."""
    import faiss

    rng = np.random.default_rng(1)
    docs = unit(rng.normal(size=(90, 8)))
    docs[[5, 40, 77]] = docs[20]  # exact ties, in three corpus shards
    queries = np.concatenate([docs[[20, 20]], unit(rng.normal(size=(30, 8)))])
    table = {f"q{i}": v for i, v in enumerate(queries)} | {f"d{i}": v for i, v in enumerate(docs)}
    q, _ = encode_store(TableEmbedder(table), [f"q{i}" for i in range(32)], tmp_path / "q", kind="query", chunk_size=16)
    d, _ = encode_store(TableEmbedder(table), [f"d{i}" for i in range(90)], tmp_path / "d", kind="document",
                        chunk_size=32)
    for (start, scores, ids), (first, embeddings) in zip(search(q, d, SearchSettings(k=6, index="flat")),
                                                         q.iter_embeddings(), strict=True):
        heap = faiss.ResultHeap(len(embeddings), 6, keep_max=True)
        for offset, block in d.iter_embeddings():
            block_scores, block_ids = faiss.knn(embeddings, block, 6, metric=faiss.METRIC_INNER_PRODUCT)
            heap.add_result(block_scores, np.where(block_ids >= 0, block_ids + offset, -1))
        heap.finalize()
        assert start == first
        np.testing.assert_array_equal(ids, heap.I)
        np.testing.assert_array_equal(scores, heap.D)
    first_ids = next(search(q, d, SearchSettings(k=6, index="flat")))[2]
    assert set(first_ids[0, :4].tolist()) == {5, 20, 40, 77}


def test_fewer_documents_than_k_pad_with_minus_one(tmp_path):
    q, d, _, _ = stores(tmp_path, 5, 7, chunk_size=4)
    _, scores, ids = collect(search(q, d, SearchSettings(k=10, index="flat")))
    assert (ids[:, :7] >= 0).all() and (ids[:, 7:] == -1).all()
    assert np.isneginf(scores[:, 7:]).all() and np.isfinite(scores[:, :7]).all()


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_indexes_find_the_neighbours_with_exact_scores(kind, tmp_path):
    q, d, queries, docs = stores(tmp_path, 50, 3000, chunk_size=1000)
    _, scores, ids = collect(search(q, d, SearchSettings(k=10, index=kind, nprobe=8)))
    full = queries @ docs.T
    exact = np.argsort(-full, axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, exact, strict=True)])
    assert recall > 0.9
    np.testing.assert_allclose(scores, np.take_along_axis(full, ids, 1), atol=1e-5)  # rescored exactly
    assert (np.diff(scores, axis=1) <= 0).all()


def test_auto_is_exact_for_small_corpora():
    assert SearchSettings().resolved(EXACT_MAX_DOCS) is IndexKind.FLAT
    assert SearchSettings().resolved(EXACT_MAX_DOCS + 1) is IndexKind.IVF
    assert SearchSettings(index="hnsw").describe(10) == {"k": 50, "index": "hnsw", "ef_search": 256,
                                                        "candidate_factor": 2}
    with pytest.raises(ValueError, match="unknown index 'annoy'; valid: auto, flat, ivf, hnsw"):
        SearchSettings(index="annoy")
    with pytest.raises(ValueError, match=r"unknown index 'ivfpq'; valid: auto, flat, ivf, hnsw$"):
        SearchSettings(index="ivfpq")  # a kind of index folders, not of mining
    assert SearchSettings(index=IndexKind.IVF).index is IndexKind.IVF and [kind.value for kind in MINING_KINDS] == [
        "auto", "flat", "ivf", "hnsw"]


def test_run_file_round_trip(tmp_path):
    q, d, _, _ = stores(tmp_path, 70, 40)
    written = list(search(q, d, SearchSettings(k=50, index="flat")))  # k > corpus: padded rows
    chunks = q.shard_bounds()
    write_run(tmp_path / "run.parquet", written, {"k": 50, "queries": store_fingerprint(q)}, chunks)
    assert run_metadata(tmp_path / "run.parquet") == {"k": 50, "queries": store_fingerprint(q),
                                                      "chunks": [[0, 32], [32, 64], [64, 70]]}
    for (start, scores, ids), (start2, scores2, ids2) in zip(written, read_run(tmp_path / "run.parquet"), strict=True):
        assert start == start2
        np.testing.assert_array_equal(ids, ids2)
        np.testing.assert_array_equal(scores, scores2)
    assert run_metadata(tmp_path / "missing.parquet") is None
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_run_file_keeps_a_chunk_above_a_million_candidates_in_one_row_group(tmp_path):
    """A chunk of 36,000 queries x 31 candidates is 1,116,000 rows: more than pyarrow's default row group."""
    rng = np.random.default_rng(0)
    queries, k = 36_000, 31
    scores = -np.sort(-rng.random((queries, k), dtype=np.float32), axis=1)
    ids = rng.integers(0, 10**6, size=(queries, k))
    ids[-1, -3:] = -1  # a short list
    chunks = [(0, queries - 1000), (queries - 1000, queries)]
    written = [(0, scores[:-1000], ids[:-1000]), (queries - 1000, scores[-1000:], ids[-1000:])]
    write_run(tmp_path / "run.parquet", written, {"k": k}, chunks)
    for (start, scores1, ids1), (start2, scores2, ids2) in zip(written, read_run(tmp_path / "run.parquet"),
                                                                strict=True):
        assert start == start2
        np.testing.assert_array_equal(ids2, ids1)
        np.testing.assert_array_equal(scores2[ids1 >= 0], scores1[ids1 >= 0])
