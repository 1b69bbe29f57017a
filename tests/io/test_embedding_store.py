"""The embedding store format: reading back across shards, gathers, checksums, tagged shards, and clear errors
for bad folders. (Writing through ``gtekit encode``'s writer: tests/encode/test_shard_writer.py.)"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gtekit.io.embedding_store import (
    MANIFEST,
    EncodedShards,
    ShardsFormatError,
    ShardsHeader,
    shard_names,
    write_manifest,
    write_shard,
)

HEADER = ShardsHeader(model="tiny", dimension=4, normalized=True, kind="document", inputs=("a.txt",),
                      text_field="text", options={"precision": "fp32"})


def _rows(start: int, stop: int):
    ids = [f"a.txt:{i + 1}" for i in range(start, stop)]
    texts = [f"text {i}" for i in range(start, stop)]
    embeddings = np.arange(start * 4, stop * 4, dtype=np.float32).reshape(-1, 4)
    return ids, texts, embeddings


def write_store(folder, count: int, shard_size: int, *, tag: str | None = None, checksum: bool = False,
                complete: bool = True) -> EncodedShards:
    folder.mkdir(parents=True, exist_ok=True)
    shards = [write_shard(folder, number, *_rows(start, min(start + shard_size, count)), tag=tag, checksum=checksum)
              for number, start in enumerate(range(0, count, shard_size))]
    write_manifest(folder, HEADER, shard_size, shards, complete=complete)
    return EncodedShards.open(folder, allow_partial=True)


def test_gathers_and_scans_cross_shards(tmp_path):
    store = write_store(tmp_path, 10, 4)
    _, _, expected = _rows(0, 10)
    assert store.shard_bounds() == [(0, 4), (4, 8), (8, 10)] and len(store) == 10
    assert [start for start, _ in store.iter_embeddings()] == [0, 4, 8]
    np.testing.assert_array_equal(np.concatenate([block for _, block in store.iter_embeddings()]), expected)
    np.testing.assert_array_equal(store.rows(np.array([[9, 0], [4, 4]])), expected[[[9, 0], [4, 4]]])
    assert store.rows(np.zeros(0, dtype=np.int64)).shape == (0, 4)
    with pytest.raises(IndexError, match=r"\[0, 10\)"):
        store.rows(np.array([10]))
    assert EncodedShards.open(tmp_path) == store


def test_tagged_shards_and_checksums(tmp_path):
    assert shard_names(3, "abc") == ("part-00003-abc.npy", "part-00003-abc.parquet")
    store = write_store(tmp_path, 5, 3, tag="d1g35t", checksum=True)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert [shard["embeddings"] for shard in manifest["shards"]] == ["part-00000-d1g35t.npy", "part-00001-d1g35t.npy"]
    assert all(len(shard["sha256"]) == 64 for shard in manifest["shards"])
    assert store.ids() == _rows(0, 5)[0] and EncodedShards.open(tmp_path, verify=True) == store
    path = tmp_path / "part-00001-d1g35t.npy"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # same size, valid header: only the checksum can tell
    path.write_bytes(bytes(data))
    EncodedShards.open(tmp_path)  # not read whole unless asked
    with pytest.raises(ShardsFormatError, match=r"part-00001-d1g35t\.npy: its checksum does not match"):
        EncodedShards.open(tmp_path, verify=True)


def test_an_incomplete_store_opens_only_when_partial_output_is_accepted(tmp_path):
    write_store(tmp_path, 5, 3, complete=False)
    with pytest.raises(ShardsFormatError, match="incomplete"):
        EncodedShards.open(tmp_path)
    partial = EncodedShards.open(tmp_path, allow_partial=True)
    assert len(partial) == 5 and not partial.complete


def test_reader_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        EncodedShards.open(tmp_path / "missing")
    with pytest.raises(ShardsFormatError, match=r"no manifest\.json"):
        EncodedShards.open(tmp_path)
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(ShardsFormatError, match="invalid JSON"):
        EncodedShards.open(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ShardsFormatError, match="not encoded shards"):
        EncodedShards.open(tmp_path)

    folder = tmp_path / "good"
    write_store(folder, 4, 2)
    pq.write_table(pa.table({"id": ["x"], "text": ["y"]}), folder / "part-00001.parquet")
    with pytest.raises(ShardsFormatError, match=r"part-00001\.parquet: 1 rows"):
        EncodedShards.open(folder)
    np.save(folder / "part-00000.npy", np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ShardsFormatError, match=r"part-00000.npy: float32 \(2, 3\)"):
        EncodedShards.open(folder)
    (folder / "part-00000.npy").unlink()
    with pytest.raises(ShardsFormatError, match=r"listed in .* but missing"):
        EncodedShards.open(folder)
