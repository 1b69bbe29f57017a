"""ShardWriter, the writer of ``gtekit encode``: write, read back, resume after a kill, rewrite damaged shards."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from gtekit.encode.shard_writer import ShardWriter
from gtekit.io.embedding_store import MANIFEST, EncodedShards, ShardsFormatError, ShardsHeader

HEADER = ShardsHeader(model="tiny", dimension=4, normalized=True, kind="document", inputs=("a.txt",),
                      text_field="text", options={"precision": "fp32"})


def _rows(start: int, stop: int):
    ids = [f"a.txt:{i + 1}" for i in range(start, stop)]
    texts = [f"text {i}" for i in range(start, stop)]
    embeddings = np.arange(start * 4, stop * 4, dtype=np.float32).reshape(-1, 4)
    return ids, texts, embeddings


def test_round_trip_in_order_across_shards(tmp_path):
    writer = ShardWriter(tmp_path / "out", HEADER, shard_size=3)
    for start, stop in [(0, 2), (2, 7), (7, 8)]:  # appends that straddle shard boundaries
        writer.append(*_rows(start, stop))
    shards = writer.close()
    ids, texts, embeddings = _rows(0, 8)
    assert [shard.count for shard in shards.shards] == [3, 3, 2]
    assert len(shards) == 8 and shards.dimension == 4 and shards.model == "tiny" and shards.kind == "document"
    assert shards.ids() == ids and shards.texts() == texts
    np.testing.assert_array_equal(shards.embeddings(), embeddings)
    pieces = list(shards.iter_shards())
    assert [len(piece[0]) for piece in pieces] == [3, 3, 2]
    np.testing.assert_array_equal(np.concatenate([piece[2] for piece in pieces]), embeddings)
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["format"] == "gtekit-embeddings" and manifest["version"] == 1 and manifest["complete"] is True
    assert manifest["shards"][0] == {"embeddings": "part-00000.npy", "rows": "part-00000.parquet", "count": 3}
    assert manifest["dtype"] == "float32" and manifest["normalized"] is True and manifest["inputs"] == ["a.txt"]
    assert np.load(tmp_path / "out" / "part-00001.npy").dtype == np.float32
    assert pq.read_table(tmp_path / "out" / "part-00001.parquet").column_names == ["id", "text"]


def test_single_shard_embeddings_are_memory_mapped(tmp_path):
    writer = ShardWriter(tmp_path, HEADER, shard_size=10)
    writer.append(*_rows(0, 4))
    mapped = writer.close().embeddings()
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable


def test_interrupted_folder_is_refused_unless_partial_accepted_and_resumes(tmp_path):
    writer = ShardWriter(tmp_path, HEADER, shard_size=3)
    writer.append(*_rows(0, 5))  # one shard written, two rows still in memory: then the process dies
    del writer
    with pytest.raises(ShardsFormatError, match="incomplete"):
        EncodedShards.open(tmp_path)
    partial = EncodedShards.open(tmp_path, allow_partial=True)
    assert len(partial) == 3 and not partial.complete

    resumed = ShardWriter(tmp_path, HEADER, shard_size=3)
    assert resumed.rows_written == 3
    resumed.append(*_rows(3, 8))
    shards = resumed.close()
    ids, _, embeddings = _rows(0, 8)
    assert shards.ids() == ids
    np.testing.assert_array_equal(shards.embeddings(), embeddings)


def test_resume_with_other_settings_is_an_error_and_overwrite_starts_afresh(tmp_path):
    ShardWriter(tmp_path, HEADER, shard_size=3).append(*_rows(0, 4))
    other = ShardsHeader(model="tiny", dimension=4, normalized=True, kind="document", inputs=("a.txt",),
                         text_field="text", options={"precision": "int8"})
    with pytest.raises(ShardsFormatError, match="options"):
        ShardWriter(tmp_path, other, shard_size=3)
    with pytest.raises(ShardsFormatError, match="shard_size"):
        ShardWriter(tmp_path, HEADER, shard_size=4)
    fresh = ShardWriter(tmp_path, other, shard_size=3, overwrite=True)
    assert fresh.rows_written == 0 and not (tmp_path / "part-00000.npy").exists()


def test_complete_folder_accepts_no_more_rows(tmp_path):
    writer = ShardWriter(tmp_path, HEADER)
    writer.append(*_rows(0, 2))
    writer.close()
    again = ShardWriter(tmp_path, HEADER)
    assert again.complete and again.rows_written == 2
    with pytest.raises(ShardsFormatError, match="complete"):
        again.append(*_rows(2, 3))


def test_empty_output_reads_as_zero_rows(tmp_path):
    shards = ShardWriter(tmp_path, HEADER).close()
    assert len(shards) == 0 and shards.embeddings().shape == (0, 4) and shards.ids() == []


def test_append_checks_shapes(tmp_path):
    writer = ShardWriter(tmp_path, HEADER)
    ids, texts, embeddings = _rows(0, 3)
    with pytest.raises(ValueError, match="dimension 4"):
        writer.append(ids, texts, embeddings[:, :2])
    with pytest.raises(ValueError, match="2 texts"):
        writer.append(ids, texts[:2], embeddings)


@pytest.mark.parametrize("damaged", ["part-00001.npy", "part-00001.parquet"])
def test_a_damaged_shard_is_named_and_written_again_on_resume(tmp_path, caplog, damaged):
    writer = ShardWriter(tmp_path, HEADER, shard_size=2)
    writer.append(*_rows(0, 7))
    writer.close()
    path = tmp_path / damaged
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # as a full disk or a bad copy leaves it
    with pytest.raises(ShardsFormatError, match=rf"{damaged}: (truncated|not a readable)"):
        EncodedShards.open(tmp_path)
    resumed = ShardWriter(tmp_path, HEADER, shard_size=2)
    assert not resumed.complete and resumed.rows_written == 2  # shard 1 and those after it are written again
    assert f"{damaged}: " in caplog.text and "encoding again from shard 1 (row 3 on)" in caplog.text
    resumed.append(*_rows(2, 7))
    shards = resumed.close()
    assert shards.ids() == _rows(0, 7)[0]
    np.testing.assert_array_equal(shards.embeddings(), _rows(0, 7)[2])
    with (tmp_path / "part-00003.npy").open("ab") as handle:
        handle.write(b"\0" * 16)  # longer than its header says: damaged too
    with pytest.raises(ShardsFormatError, match=r"part-00003\.npy: .* bytes"):
        EncodedShards.open(tmp_path)
