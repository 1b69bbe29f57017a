"""Mining's embedding stores: chunked, normalised, resumable after a kill, atomic, invalidated when inputs change."""

from __future__ import annotations

import numpy as np
import pytest

from gtekit.io.embedding_store import EncodedShards, ShardsFormatError
from gtekit.negatives import encode_store as store_module
from gtekit.negatives.encode_store import encode_store, store_fingerprint

from .conftest import TableEmbedder


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    return {f"text {i}": rng.normal(size=8).astype(np.float32) for i in range(10)}


def test_chunks_hold_normalised_rows_in_order(table, tmp_path):
    texts = list(table)
    store, encoded = encode_store(TableEmbedder(table), texts, tmp_path / "s", kind="document", chunk_size=4)
    assert (encoded, len(store), store.dimension, len(store.shards)) == (3, 10, 8, 3)
    expected = np.stack([table[t] / np.linalg.norm(table[t]) for t in texts])
    np.testing.assert_allclose(np.concatenate([chunk for _, chunk in store.iter_embeddings()]), expected, rtol=1e-6)
    np.testing.assert_allclose(store.rows(np.array([[9, 0], [4, 4]])), expected[[[9, 0], [4, 4]]], rtol=1e-6)
    assert EncodedShards.open(tmp_path / "s") == store
    assert store.texts() == texts and store.ids() == [str(i) for i in range(10)] and store.kind == "document"
    assert store.normalized and store.shard_bounds() == [(0, 4), (4, 8), (8, 10)]
    with pytest.raises(IndexError, match=r"\[0, 10\)"):
        store.rows(np.array([10]))


def test_a_killed_run_resumes_with_the_missing_chunks_only(table, tmp_path, monkeypatch):
    model = TableEmbedder(table)
    encode = model.encode

    def killed_after_one_chunk(texts, **options):
        if model.calls:
            raise KeyboardInterrupt
        return encode(texts, **options)

    monkeypatch.setattr(model, "encode", killed_after_one_chunk)
    with pytest.raises(KeyboardInterrupt):
        encode_store(model, list(table), tmp_path / "s", kind="query", chunk_size=4)
    assert len(list((tmp_path / "s").glob("part-*.npy"))) == 1
    with pytest.raises(ShardsFormatError, match="incomplete"):  # not a finished store
        EncodedShards.open(tmp_path / "s")
    assert len(EncodedShards.open(tmp_path / "s", allow_partial=True)) == 4  # the whole chunk written before

    fresh = TableEmbedder(table)
    resumed, encoded = encode_store(fresh, list(table), tmp_path / "s", kind="query", chunk_size=4)
    assert encoded == 2 and fresh.calls == [("query", 4), ("query", 2)]
    again, encoded = encode_store(fresh, list(table), tmp_path / "s", kind="query", chunk_size=4)
    assert encoded == 0 and store_fingerprint(again) == store_fingerprint(resumed)  # all on disk
    whole, _ = encode_store(TableEmbedder(table), list(table), tmp_path / "whole", kind="query", chunk_size=4)
    for (_, killed_rows), (_, whole_rows) in zip(resumed.iter_embeddings(), whole.iter_embeddings(), strict=True):
        np.testing.assert_array_equal(killed_rows, whole_rows)


def test_a_crash_while_writing_leaves_no_partial_chunk(table, tmp_path, monkeypatch):
    def crash(handle, array):
        handle.write(b"\x93NUMPY half a header")
        raise OSError("disk full")

    monkeypatch.setattr(store_module.np, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        encode_store(TableEmbedder(table), list(table), tmp_path / "s", kind="query", chunk_size=4)
    assert list((tmp_path / "s").iterdir()) == []


def test_changed_texts_model_or_kind_reencode_only_what_changed(table, tmp_path):
    texts = list(table)
    encode_store(TableEmbedder(table), texts, tmp_path / "s", kind="query", chunk_size=4)
    changed = dict(table, **{"new text": np.ones(8, dtype=np.float32)})
    model = TableEmbedder(changed)
    store, encoded = encode_store(model, [*texts[:9], "new text"], tmp_path / "s", kind="query", chunk_size=4)
    assert encoded == 1 and model.calls == [("query", 2)]  # only the last chunk's texts changed
    assert len(list((tmp_path / "s").glob("part-*.npy"))) == 3  # the stale chunk is gone
    assert len(list((tmp_path / "s").glob("part-*.parquet"))) == 3
    np.testing.assert_allclose(store.rows(np.array([9])), [np.ones(8) / np.sqrt(8)], rtol=1e-6)
    assert encode_store(TableEmbedder(changed, name="other"), [*texts[:9], "new text"], tmp_path / "s",
                        kind="query", chunk_size=4)[1] == 3
    assert encode_store(TableEmbedder(changed, name="other"), [*texts[:9], "new text"], tmp_path / "s",
                        kind="document", chunk_size=4)[1] == 3


def test_the_real_embedder_is_fingerprinted_by_its_weights(tmp_path):
    import torch

    from tests.helpers import make_tiny_embedder

    model = make_tiny_embedder()
    first = store_module.model_fingerprint(model)
    assert store_module.model_fingerprint(make_tiny_embedder()) == first
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    assert store_module.model_fingerprint(model) != first
    store, _ = encode_store(model, ["a cat", "a dog", "a car"], tmp_path / "s", kind="query", chunk_size=2)
    np.testing.assert_allclose(np.linalg.norm(store.rows(np.arange(3)), axis=1), 1, rtol=1e-5)


def test_bad_model_output_is_an_error(tmp_path):
    class Wrong:
        def fingerprint(self):
            return "wrong"

        def encode(self, texts, kind=None, batch_size=64):
            return np.ones((len(texts) + 1, 4))

    with pytest.raises(ValueError, match=r"returned shape \(3, 4\) for 2 texts"):
        encode_store(Wrong(), ["a", "b"], tmp_path / "s", kind="query")
    with pytest.raises(ValueError, match="nothing to encode"):
        encode_store(Wrong(), [], tmp_path / "s", kind="query")
