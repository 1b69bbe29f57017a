"""Precisions equal sentence-transformers' ``quantize_embeddings`` on the same inputs, and so do the codes the
faiss indexes store."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
from sentence_transformers import quantize_embeddings

from gtekit.search import ArrayShards, IndexSettings, build_index
from gtekit.search.faiss_index import read_index
from gtekit.search.vector_precision import RangeTracker, dequantize_int8, hamming_to_cosine, quantize, unit_rows

from .conftest import clustered


@pytest.mark.parametrize("precision", ["float32", "int8", "binary", "ubinary"])
@pytest.mark.parametrize("dim", [32, 37])  # 37: sign bits padded to whole bytes
def test_quantize_equals_sentence_transformers(precision, dim):
    docs, _ = clustered(500, 1, dim)
    ours, theirs = quantize(docs, precision), quantize_embeddings(docs, precision)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


def test_int8_with_ranges_from_a_calibration_set_equals_sentence_transformers():
    docs, queries = clustered(400, 50, 16)
    tracker = RangeTracker(16)
    for start in range(0, 400, 150):  # ranges gathered batch by batch equal those of the whole corpus
        tracker.update(docs[start:start + 150])
    np.testing.assert_array_equal(quantize(queries, "int8", tracker.ranges),
                                  quantize_embeddings(queries, "int8", calibration_embeddings=docs))
    assert quantize(queries, "float16").dtype == np.float16


def test_int8_dequantization_is_the_bucket_lower_edge():
    docs, _ = clustered(300, 1, 8)
    ranges = np.vstack([docs.min(0), docs.max(0)])
    codes = quantize(docs, "int8", ranges)
    restored = dequantize_int8(codes, ranges)
    step = (ranges[1] - ranges[0]) / 255
    assert (restored <= docs + 1e-6).all() and (docs - restored <= step + 1e-6).all()


def test_hamming_distance_maps_to_the_cosine_of_sign_vectors():
    docs, queries = clustered(50, 5, 37)
    signs_d, signs_q = np.where(docs > 0, 1.0, -1.0), np.where(queries > 0, 1.0, -1.0)
    cosine = signs_q @ signs_d.T / 37  # (5, 50)
    bits_d = np.unpackbits(quantize(docs, "ubinary"), axis=1)  # (50, 40): 37 signs and 3 padding zeros
    bits_q = np.unpackbits(quantize(queries, "ubinary"), axis=1)
    hamming = (bits_q[:, None, :] != bits_d[None, :, :]).sum(-1)
    np.testing.assert_allclose(hamming_to_cosine(hamming, 37), cosine, atol=1e-6)


def test_unit_rows_keeps_normalised_rows_bit_for_bit():
    docs, _ = clustered(20, 1, 8)
    assert unit_rows(docs) is docs or np.array_equal(unit_rows(docs), docs)
    scaled = docs * 3
    scaled[0] = 0
    fixed = unit_rows(scaled)
    np.testing.assert_allclose(np.linalg.norm(fixed[1:], axis=1), 1, rtol=1e-6)
    assert (fixed[0] == 0).all()


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
@pytest.mark.parametrize("precision", ["int8", "binary", "ubinary", "float16"])
def test_index_codes_are_sentence_transformers_codes(kind, precision, tmp_path):
    docs, _ = clustered(600, 1, 37)
    build_index(ArrayShards(docs, rows_per_shard=250), tmp_path, IndexSettings(kind=kind, precision=precision))
    index = read_index(tmp_path / "index.faiss", binary=precision in ("binary", "ubinary"))
    if precision in ("binary", "ubinary"):
        storage = index if kind == "flat" else index.storage
        codes = faiss.vector_to_array(faiss.downcast_IndexBinary(storage).xb).reshape(600, -1)
        np.testing.assert_array_equal(codes, quantize_embeddings(docs, "ubinary"))  # faiss holds unsigned bytes
        return
    storage = index if kind == "flat" else faiss.downcast_index(index.storage)
    codes = faiss.vector_to_array(storage.codes).reshape(600, -1)
    if precision == "int8":  # SQ8 holds the uint8 view: int8 code + 128
        np.testing.assert_array_equal(codes, quantize_embeddings(docs, "uint8"))
    else:
        np.testing.assert_array_equal(codes.view(np.float16), docs.astype(np.float16))
