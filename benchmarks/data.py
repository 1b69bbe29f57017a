"""The benchmark's training data: (docstring, code) pairs mined from this interpreter's standard library.

Only the train side of gtekit's held-out split is used, and the same ``n`` pairs (a seeded sample)
go to every system and every run.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from gtekit.data.extract.python_code import mine_python_pairs, split_by_module, stdlib_root
from gtekit.data.pairs import Pair, read_pairs


def stdlib_train_pairs(n: int, seed: int = 0) -> list[Pair]:
    """``n`` pairs drawn without replacement (seeded) from the train side of the mined standard library."""
    mined, _ = mine_python_pairs(stdlib_root())
    train, _ = split_by_module(mined)
    if n > len(train):
        raise ValueError(f"asked for {n} pairs but the standard library's train side has {len(train)}")
    return [Pair(p.docstring, p.code) for p in random.Random(seed).sample(train, n)]


def write_pairs(pairs: list[Pair], path: Path) -> Path:
    """Write pairs as a gtekit JSONL source (read back with :func:`read_benchmark_pairs`)."""
    with open(path, "w", encoding="utf-8") as file:
        for pair in pairs:
            file.write(json.dumps({"query": pair.query, "positive": pair.positive}) + "\n")
    return path


def read_benchmark_pairs(path: Path, n: int) -> list[Pair]:
    """The first ``n`` pairs of a file written by :func:`write_pairs`."""
    pairs, _ = read_pairs(path)
    if n > len(pairs):
        raise ValueError(f"{path} holds {len(pairs)} pairs, fewer than {n}")
    return pairs[:n]
