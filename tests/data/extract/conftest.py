"""Fixtures for the miner tests: write a tree of fixture files; run `gtekit data extract` and read what it wrote."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gtekit.cli.main import main


@pytest.fixture
def write_tree() -> Callable[[Path, dict[str, str | bytes]], Path]:
    """``write_tree(root, {relative path: text or bytes})`` writes the files and returns ``root``."""

    def write(root: Path, files: dict[str, str | bytes]) -> Path:
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return root

    return write


@pytest.fixture
def mine_cli(tmp_path: Path, capsys) -> Callable[..., tuple[int, str, Path]]:
    """``mine_cli(ARGS...)`` runs ``gtekit data extract ARGS... -o OUT``; returns (exit code, output, OUT)."""

    def run(*args: str) -> tuple[int, str, Path]:
        out = tmp_path / "mined"
        code = main(["data", "extract", *args, "-o", str(out)])
        captured = capsys.readouterr()
        return code, captured.out + captured.err, out

    return run


@pytest.fixture
def read_rows() -> Callable[[Path], list[dict]]:
    """``read_rows(path)``: the JSON rows of a .jsonl file."""
    return lambda path: [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
