"""Write-then-rename: a failed write leaves the previous output intact and no temporary behind."""

from __future__ import annotations

import pytest

from gtekit.io.atomic import atomic_path


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
