"""Sharded Parquet files of pairs: ``part-NNNNN.parquet`` with columns query, positive, doc_id (zstd).

Each shard is written to a temporary name beside it and renamed into place
(``gtekit.io.atomic.atomic_path``), so a shard file is either complete or absent.
Depends on pyarrow and ``gtekit.io.atomic`` only.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..io.atomic import atomic_path
from .extract.base import MinedPair

COLUMNS = ("query", "positive", "doc_id")
SCHEMA = pa.schema([(name, pa.string()) for name in COLUMNS])
COMPRESSION = "zstd"


def shard_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def write_shard(path: Path, pairs: list[MinedPair]) -> None:
    """Write ``pairs`` to ``path`` atomically."""
    table = pa.Table.from_pydict({name: [getattr(p, name) for p in pairs] for name in COLUMNS}, schema=SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression=COMPRESSION)


def read_shard(path: str | Path) -> pa.Table:
    """One shard as a ``pyarrow.Table`` (query, positive, doc_id); a damaged or foreign file raises."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise ValueError(f"{path}: not a readable Parquet shard ({error})") from None
    missing = [name for name in COLUMNS if name not in table.column_names]
    if missing:
        raise ValueError(f"{path}: column {missing[0]!r} missing (shards hold {', '.join(COLUMNS)})")
    return table.select(list(COLUMNS))


class ShardWriter:
    """Buffers pairs and writes ``folder/part-NNNNN.parquet`` every ``rows_per_shard`` rows."""

    def __init__(self, folder: Path, rows_per_shard: int, relative_to: Path) -> None:
        if rows_per_shard < 1:
            raise ValueError(f"rows_per_shard must be at least 1, got {rows_per_shard}")
        self.folder = Path(folder)
        self.rows_per_shard = rows_per_shard
        self.relative_to = Path(relative_to)
        self.shards: list[dict] = []  # [{"file": path relative to relative_to, "rows": n}]
        self._buffer: list[MinedPair] = []

    def add(self, pairs: Iterable[MinedPair]) -> None:
        self._buffer.extend(pairs)
        while len(self._buffer) >= self.rows_per_shard:
            self._write(self._buffer[: self.rows_per_shard])
            del self._buffer[: self.rows_per_shard]

    def close(self) -> list[dict]:
        """Write what is left; return the shards written, in order."""
        if self._buffer:
            self._write(self._buffer)
            self._buffer = []
        return self.shards

    def _write(self, pairs: list[MinedPair]) -> None:
        path = self.folder / shard_name(len(self.shards))
        write_shard(path, pairs)
        self.shards.append({"file": path.relative_to(self.relative_to).as_posix(), "rows": len(pairs)})
