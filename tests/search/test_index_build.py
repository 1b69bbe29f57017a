"""Building from encoded shards: streamed shard by shard, ids and texts kept in order, the folder written whole;
clear errors for missing, incomplete or foreign folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gtekit.encode.shard_writer import ShardWriter
from gtekit.io.embedding_store import EncodedShards, ShardsFormatError, ShardsHeader
from gtekit.search import (
    ArrayShards,
    IndexBuildSettings,
    IndexFormatError,
    IndexSettings,
    SearchIndex,
    build_index,
    build_index_folder,
)
from gtekit.search.settings import FLAT_MAX_ROWS, EmbeddingPrecision, IndexKind, RescoreStore, auto_kind

from .conftest import brute_force, clustered


def write_shards(folder, docs, shard_size=40, close=True, normalized=True):
    writer = ShardWriter(folder, ShardsHeader(model="tiny-model", dimension=docs.shape[1], normalized=normalized,
                                              kind="document"), shard_size=shard_size)
    writer.append([f"doc-{i}" for i in range(len(docs))], [f"text of {i}" for i in range(len(docs))], docs)
    if close:
        writer.close()  # else: as a killed run leaves it, the last partial shard unwritten
    return folder


class OnlyShardByShard:
    """EncodedShards that refuses to hand out the whole corpus: a build must stream."""

    def __init__(self, shards: EncodedShards) -> None:
        self.shards, self.model, self.dimension = shards, shards.model, shards.dimension
        self.iterations = 0

    def __len__(self) -> int:
        return len(self.shards)

    def iter_shards(self):
        self.iterations += 1
        yield from self.shards.iter_shards()

    def embeddings(self, *args, **kwargs):
        raise AssertionError("the build read the whole corpus at once")


@pytest.mark.parametrize(("settings", "passes"), [({"kind": "flat"}, 1), ({"kind": "flat", "precision": "int8"}, 2),
                                                  ({"kind": "ivfpq", "nlist": 4, "pq_m": 4, "pq_nbits": 4}, 2)])
def test_build_from_shards_streams_and_keeps_ids_and_texts(settings, passes, tmp_path):
    docs, _ = clustered(130, 5, 16)
    source = OnlyShardByShard(EncodedShards.open(write_shards(tmp_path / "shards", docs)))
    manifest = build_index(source, tmp_path / "index", IndexSettings(**settings))
    assert source.iterations == passes  # a first pass only for int8 ranges or a training sample
    index = SearchIndex.load(tmp_path / "index")
    assert (len(index), index.dimension, index.model) == (130, 16, "tiny-model")
    hits = index.search(docs[[0, 77, 129]], 1)
    assert [(h[0].id, h[0].text) for h in hits] == [("doc-0", "text of 0"), ("doc-77", "text of 77"),
                                                    ("doc-129", "text of 129")]
    on_disk = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert on_disk["format"] == "gtekit-index" and on_disk["count"] == 130 and on_disk["model"] == "tiny-model"
    assert on_disk["kind"] == manifest.settings.kind.value and on_disk["factory"] == manifest.factory
    assert set(on_disk["sizes"]) == {name for name in on_disk["files"].values() if name}
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".tmp")]


def test_unnormalised_shards_are_normalised(tmp_path):
    docs, queries = clustered(100, 10, 8)
    write_shards(tmp_path / "shards", docs * 5, normalized=False)
    build_index(EncodedShards.open(tmp_path / "shards"), tmp_path / "index", IndexSettings(kind="flat"))
    scores, rows = SearchIndex.load(tmp_path / "index").search_rows(queries, 5)
    expected_scores, expected_rows = brute_force(queries, docs, 5)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)


def test_a_shards_folder_builds_an_index_folder_that_names_its_source(tmp_path):
    docs, _ = clustered(100, 1, 8)
    write_shards(tmp_path / "partial", docs, close=False)
    settings = IndexBuildSettings(str(tmp_path / "partial"), str(tmp_path / "index"), IndexSettings(kind="flat"),
                                  allow_partial=True, store_texts=False, progress=False)
    manifest = build_index_folder(settings)
    assert manifest.count == 80 and not manifest.texts and manifest.settings.kind is IndexKind.FLAT
    assert manifest.source == {"path": str(tmp_path / "partial"), "kind": "document", "normalized": True,
                               "complete": False}
    with pytest.raises(ShardsFormatError, match="incomplete"):
        build_index_folder(IndexBuildSettings(str(tmp_path / "partial"), str(tmp_path / "other")))


def test_missing_incomplete_and_foreign_inputs_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        EncodedShards.open(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ShardsFormatError, match="not encoded shards"):
        EncodedShards.open(tmp_path / "empty")
    docs, _ = clustered(100, 1, 8)
    write_shards(tmp_path / "partial", docs, close=False)
    with pytest.raises(ShardsFormatError, match="incomplete"):
        EncodedShards.open(tmp_path / "partial")
    manifest = build_index(EncodedShards.open(tmp_path / "partial", allow_partial=True), tmp_path / "index")
    assert manifest.count == 80  # the two whole shards listed so far
    with pytest.raises(ValueError, match="0 rows"):
        build_index(ArrayShards(np.empty((0, 8), dtype=np.float32)), tmp_path / "none")
    with pytest.raises(ValueError, match="NaN"):
        build_index(ArrayShards(np.full((3, 8), np.nan, dtype=np.float32)), tmp_path / "nan")


def test_an_index_is_replaced_but_another_folder_is_not(tmp_path):
    docs, _ = clustered(50, 1, 8)
    build_index(ArrayShards(docs), tmp_path / "index", IndexSettings(kind="flat"))
    build_index(ArrayShards(docs[:20]), tmp_path / "index", IndexSettings(kind="flat", precision="binary"))
    assert len(SearchIndex.load(tmp_path / "index")) == 20
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a search index"):
        build_index(ArrayShards(docs), tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    with pytest.raises(IndexFormatError, match="not a search index"):
        SearchIndex.load(tmp_path / "mine")
    (tmp_path / "index" / "embeddings.npy").unlink(missing_ok=True)
    (tmp_path / "index" / "rows.parquet").unlink()
    with pytest.raises(IndexFormatError, match=r"rows\.parquet: listed in"):
        SearchIndex.load(tmp_path / "index")


def test_settings_resolve_and_reject_bad_values():
    assert auto_kind(FLAT_MAX_ROWS, EmbeddingPrecision.FLOAT32) is IndexKind.FLAT
    assert auto_kind(FLAT_MAX_ROWS + 1, EmbeddingPrecision.FLOAT32) is IndexKind.HNSW
    assert auto_kind(FLAT_MAX_ROWS + 1, EmbeddingPrecision.BINARY) is IndexKind.FLAT
    assert auto_kind(10**8, EmbeddingPrecision.FLOAT32) is IndexKind.IVFPQ
    assert auto_kind(10**8, EmbeddingPrecision.INT8) is IndexKind.HNSW
    resolved = IndexSettings(kind="ivfpq").resolve(10_000, 384)
    assert (resolved.nlist, resolved.pq_m, resolved.rescore_store) == (156, 48, RescoreStore.FLOAT32)
    assert IndexSettings().resolve(10, 8).rescore_store is RescoreStore.NONE
    assert IndexSettings(precision="binary").resolve(10, 8).rescore_store is RescoreStore.FLOAT32
    with pytest.raises(ValueError, match="unknown precision 'int4'; valid: float32, float16, int8, binary, ubinary"):
        IndexSettings(precision="int4")
    with pytest.raises(ValueError, match="unknown index kind 'ivf'; valid: auto, flat, hnsw, ivfpq"):
        IndexSettings(kind="ivf")
    with pytest.raises(ValueError, match="ivfpq stores product-quantized codes"):
        IndexSettings(kind="ivfpq", precision="binary")
    with pytest.raises(ValueError, match=r"pq_m=5 does not divide the dimension 384; valid: \[1, 2, 3, 4, 6"):
        IndexSettings(kind="ivfpq", pq_m=5).resolve(10_000, 384)
    with pytest.raises(ValueError, match="nprobe must be >= 1"):
        IndexSettings(nprobe=0)
