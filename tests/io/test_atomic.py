"""Write-then-rename: a failed write leaves the previous output intact and no temporary behind."""

from __future__ import annotations

import pytest

from gtekit.io.atomic import atomic_path, remove_leftovers


def test_file_is_replaced_only_on_success(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_folder_is_replaced_whole(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale.txt").write_text("x")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "weights").write_text("w")
    assert sorted(p.name for p in target.iterdir()) == ["weights"]


def test_leftovers_of_a_killed_write_are_removed_and_nothing_else(tmp_path):
    (tmp_path / ".tmp-123-run.parquet").write_bytes(b"half")
    (tmp_path / ".tmp-9-triples.jsonl").mkdir()
    (tmp_path / "run.parquet").write_bytes(b"whole")
    (tmp_path / ".tmp-5-other.json").write_text("{}")
    removed = remove_leftovers(tmp_path, ("run.parquet", "triples.jsonl"))
    assert sorted(p.name for p in removed) == [".tmp-123-run.parquet", ".tmp-9-triples.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp-5-other.json", "run.parquet"]
