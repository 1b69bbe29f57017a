"""The streaming writer of ``gtekit encode``: rows appended in input order become the shards of an
embedding store (format: ``gtekit.io.embedding_store``), and a killed run resumes after its last
listed shard.

:class:`ShardWriter` resumes a folder (:attr:`ShardWriter.rows_written` rows are already done) if the
header it is given matches the manifest's, and no input file's size or SHA-256 changed
(``input_files``, checked where both runs could hash the file; a named pipe cannot be). A listed
shard whose files are missing, truncated or unreadable (a full disk, a bad copy) is named in a
warning and written again, with every shard after it.

Depends on numpy and ``gtekit.io``; knows nothing about models or encoding.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_path
from ..io.embedding_store import (
    DEFAULT_SHARD_SIZE,
    MANIFEST,
    SKIPPED_ROWS,
    EncodedShards,
    ShardInfo,
    ShardsFormatError,
    ShardsHeader,
    check_shard,
    read_manifest,
    remove_temporaries,
    shard_info,
    write_manifest,
    write_shard,
)

logger = logging.getLogger(__name__)


class ShardWriter:
    """Append (ids, texts, embeddings); every ``shard_size`` rows a shard is written and listed.

    >>> writer = ShardWriter(folder, ShardsHeader(model="all-MiniLM-L6-v2", dimension=384, normalized=True))
    >>> writer.rows_written          # rows already on disk from an interrupted run: skip that many inputs
    >>> writer.append(ids, texts, embeddings)
    >>> writer.close()               # writes the last, partial shard and marks the folder complete

    A folder holding shards of another header (model, inputs, options, ...) is an error rather than
    mixed, unless ``overwrite`` is set, which starts the folder afresh.
    """

    def __init__(self, folder: str | Path, header: ShardsHeader, *, shard_size: int = DEFAULT_SHARD_SIZE,
                 overwrite: bool = False) -> None:
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        if header.dimension < 1:
            raise ValueError(f"dimension must be >= 1, got {header.dimension}")
        self.folder = Path(folder)
        self.header = header
        self.shard_size = shard_size
        self.shards: list[ShardInfo] = []
        self.complete = False
        self._ids: list[str] = []
        self._texts: list[str] = []
        self._embeddings: list[np.ndarray] = []
        self._pending = 0
        if self.folder.exists() and not self.folder.is_dir():
            raise ShardsFormatError(f"{self.folder}: exists and is not a folder")
        if (self.folder / MANIFEST).is_file() and not overwrite:
            self._resume()
        else:
            if overwrite:
                self._remove_shard_files()
            self.folder.mkdir(parents=True, exist_ok=True)
            self._write_manifest()

    @property
    def rows_written(self) -> int:
        """Rows in the shards listed so far (the rows a resumed run skips)."""
        return sum(shard.count for shard in self.shards)

    def append(self, ids: Sequence[str], texts: Sequence[str], embeddings: np.ndarray) -> None:
        """Add rows; writes every shard that fills up. ``embeddings`` is (len(ids), dimension)."""
        if self.complete:
            raise ShardsFormatError(f"{self.folder}: already complete; nothing may be appended")
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or embeddings.shape != (len(ids), self.header.dimension) or len(texts) != len(ids):
            raise ValueError(f"append: {len(ids)} ids, {len(texts)} texts and embeddings of shape {embeddings.shape}; "
                             f"expected equal counts and dimension {self.header.dimension}")
        start = 0
        while start < len(ids):
            take = min(self.shard_size - self._pending, len(ids) - start)
            self._ids.extend(str(value) for value in ids[start:start + take])
            self._texts.extend(str(value) for value in texts[start:start + take])
            self._embeddings.append(embeddings[start:start + take])
            self._pending += take
            start += take
            if self._pending == self.shard_size:
                self.flush()

    def flush(self) -> None:
        """Write the rows held in memory as one shard (even if short of ``shard_size``) and list it."""
        if not self._pending:
            return
        self.shards.append(write_shard(self.folder, len(self.shards), self._ids, self._texts,
                                       np.concatenate(self._embeddings)))
        self._ids, self._texts, self._embeddings, self._pending = [], [], [], 0
        self._write_manifest()

    def close(self, skipped: Sequence[dict[str, Any]] = ()) -> EncodedShards:
        """Write the last shard, mark the folder complete and open it for reading. ``skipped``: the input
        rows left out as invalid, written to ``skipped.jsonl`` and counted in the manifest."""
        self.flush()
        path = self.folder / SKIPPED_ROWS
        if skipped:
            with atomic_path(path) as tmp:
                tmp.write_text("".join(json.dumps(row) + "\n" for row in skipped))
        else:
            path.unlink(missing_ok=True)
        self.complete = True
        self._write_manifest(skipped=len(skipped))
        return EncodedShards.open(self.folder)

    def _write_manifest(self, skipped: int = 0) -> None:
        write_manifest(self.folder, self.header, self.shard_size, self.shards, complete=self.complete,
                       skipped=skipped)

    def _resume(self) -> None:
        manifest = read_manifest(self.folder)
        remove_temporaries(self.folder)
        expected = self.header.to_json() | {"shard_size": self.shard_size}
        for key, value in expected.items():
            if key != "input_files" and manifest.get(key) != value:
                raise ShardsFormatError(
                    f"{self.folder}: holds shards written with {key}={manifest.get(key)!r}, not {value!r}; "
                    f"use another output folder, or overwrite it")
        changes = input_changes(manifest.get("input_files") or [], self.header.input_files)
        if changes:
            raise ShardsFormatError(
                f"{self.folder}: its shards were encoded from inputs that changed since: {'; '.join(changes)}. "
                "Its rows would no longer match them: write to a new output folder, or overwrite this one "
                "(gtekit encode --overwrite)")
        for entry in manifest["shards"]:
            shard = shard_info(self.folder, entry)
            try:
                check_shard(self.folder, shard, self.header.dimension)
            except ShardsFormatError as error:
                logger.warning("%s; encoding again from shard %d (row %s on)", error, len(self.shards),
                               f"{self.rows_written + 1:,}")
                return  # this shard and the ones after it are written again, under the same names
            self.shards.append(shard)
        self.complete = bool(manifest["complete"])

    def _remove_shard_files(self) -> None:
        if not self.folder.is_dir():
            return
        remove_temporaries(self.folder)
        for path in [*self.folder.glob("part-*.npy"), *self.folder.glob("part-*.parquet"), self.folder / SKIPPED_ROWS,
                     self.folder / MANIFEST]:
            path.unlink(missing_ok=True)


def input_changes(recorded: Sequence[Any], current: Sequence[dict[str, Any]]) -> list[str]:
    """What changed in each input file since ``recorded`` (``input_files`` of a manifest), one message per
    file: its size, its SHA-256, and then its modification time. A file either run could not hash (a named
    pipe), or that a manifest of an older version does not list, is not compared; a new time alone is no
    change."""
    before = {entry.get("path"): entry for entry in recorded if isinstance(entry, dict)}
    changes = []
    for now in current:
        then = before.get(now["path"], {})
        if "sha256" not in then or "sha256" not in now:
            continue
        what = []
        if then.get("size") != now["size"]:
            what.append(f"size {then.get('size')} -> {now['size']} bytes")
        if then["sha256"] != now["sha256"]:
            what.append("content (sha256) differs")
        if what and then.get("mtime_ns") != now["mtime_ns"]:
            what.append(f"modified {_time(then.get('mtime_ns'))} -> {_time(now['mtime_ns'])}")
        if what:
            changes.append(f"{now['path']}: {', '.join(what)}")
    return changes


def _time(nanoseconds: Any) -> str:
    if not isinstance(nanoseconds, int):
        return "at an unknown time"
    return datetime.fromtimestamp(nanoseconds / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
