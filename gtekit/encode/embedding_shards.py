"""Encoded shards: embeddings with their ids and texts, in a folder that a killed run leaves usable.

The folder written by ``gtekit encode MODEL INPUT... -o DIR`` and read by ``gtekit index build`` and
the server::

    DIR/manifest.json      {"format": "gtekit-embeddings", "version": 1, "model": "<name or path>",
                            "dimension": d, "dtype": "float32", "normalized": true,
                            "kind": null | "query" | "document", "inputs": [...], "id_field": ...,
                            "text_field": ..., "shards": [{"embeddings": "part-00000.npy",
                            "rows": "part-00000.parquet", "count": n}, ...], "complete": true | false,
                            "skipped": m, "input_files": [{"path", "size", "mtime_ns", "sha256"}, ...]}
    DIR/part-NNNNN.npy     float32 (n, d), rows in input order
    DIR/part-NNNNN.parquet columns ``id`` (string) and ``text`` (string): the same rows, same order
    DIR/skipped.jsonl      only when m > 0: one JSON object per input row left out as invalid,
                           {"id": ... or null, "file": ..., "line": ..., "problem": ...}

Each shard's two files are written atomically (temporary file, then rename) before the manifest is
rewritten, atomically, to list it; so a killed run leaves only whole shards listed, and a rerun
resumes after the last listed shard (:attr:`ShardWriter.rows_written` rows are already done) if the
header it is given matches the manifest's, and no input file's size or SHA-256 changed (``input_files``,
checked where both runs could hash the file; a named pipe cannot be). A listed shard whose files are
missing, truncated or unreadable (a full disk, a bad copy) is named in a warning and written again on
resume, with every shard after it; readers refuse such a folder. The
manifest may carry more keys than those above (e.g. ``options``, the settings the rows were encoded
with); readers ignore keys they do not know.

Depends on numpy, pyarrow and ``gtekit.io.atomic``; knows nothing about models or encoding.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..io.atomic import atomic_path
from ..io.folder_manifest import MANIFEST, read_folder_manifest

logger = logging.getLogger(__name__)

FORMAT = "gtekit-embeddings"
VERSION = 1
DTYPE = "float32"
DEFAULT_SHARD_SIZE = 100_000  # rows per shard: 147 MiB of float32 at 384 dimensions
# Keys of the manifest besides "shards" and "complete": fixed when a folder is started.
HEADER_KEYS = ("format", "version", "model", "dimension", "dtype", "normalized", "kind", "inputs", "id_field",
               "text_field")
SKIPPED_ROWS = "skipped.jsonl"  # the input rows left out as invalid, written when the folder is complete


class ShardsFormatError(ValueError):
    """A folder that is not encoded shards, is incomplete, or disagrees with its manifest."""


@dataclass(frozen=True)
class ShardInfo:
    """One shard as the manifest lists it: its two file names and its row count."""

    embeddings: str
    rows: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"embeddings": self.embeddings, "rows": self.rows, "count": self.count}


@dataclass(frozen=True)
class ShardsHeader:
    """What a folder of shards holds, fixed when it is started: the model, its output, and the inputs.

    ``options`` holds any further settings the rows were encoded with (precision, maximum length, ...);
    a resumed run must use the same header, so rows written before and after an interruption agree.
    """

    model: str
    dimension: int
    normalized: bool
    kind: str | None = None
    inputs: tuple[str, ...] = ()
    id_field: str | None = None
    text_field: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    input_files: tuple[dict[str, Any], ...] = ()  # {"path", "size", "mtime_ns", "sha256"} of each input

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "model": self.model, "dimension": self.dimension,
                "dtype": DTYPE, "normalized": self.normalized, "kind": self.kind, "inputs": list(self.inputs),
                "id_field": self.id_field, "text_field": self.text_field, "options": dict(self.options),
                "input_files": [dict(entry) for entry in self.input_files]}


def shard_names(number: int) -> tuple[str, str]:
    """The file names of shard ``number``: ``(part-NNNNN.npy, part-NNNNN.parquet)``."""
    return f"part-{number:05d}.npy", f"part-{number:05d}.parquet"


# ------------------------------------------------------------------------------------------------ writing
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
        embeddings_name, rows_name = shard_names(len(self.shards))
        array = np.ascontiguousarray(np.concatenate(self._embeddings), dtype=np.float32)
        with atomic_path(self.folder / embeddings_name) as tmp, open(tmp, "wb") as handle:
            np.save(handle, array)
        table = pa.table({"id": pa.array(self._ids, type=pa.string()), "text": pa.array(self._texts, type=pa.string())})
        with atomic_path(self.folder / rows_name) as tmp:
            pq.write_table(table, tmp)
        self.shards.append(ShardInfo(embeddings_name, rows_name, self._pending))
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

    # -------------------------------------------------------------------------------------------- internals
    def _write_manifest(self, skipped: int = 0) -> None:
        manifest = self.header.to_json() | {"shard_size": self.shard_size,
                                            "shards": [shard.to_json() for shard in self.shards],
                                            "complete": self.complete, "skipped": skipped}
        with atomic_path(self.folder / MANIFEST) as tmp:
            tmp.write_text(json.dumps(manifest, indent=1) + "\n")

    def _resume(self) -> None:
        manifest = _read_manifest(self.folder)
        self._remove_temporaries()
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
            shard = _shard_info(self.folder, entry)
            try:
                _check_shard_files(self.folder, shard, self.header.dimension)
            except ShardsFormatError as error:
                logger.warning("%s; encoding again from shard %d (row %s on)", error, len(self.shards),
                               f"{self.rows_written + 1:,}")
                return  # this shard and the ones after it are written again, under the same names
            self.shards.append(shard)
        self.complete = bool(manifest["complete"])

    def _remove_shard_files(self) -> None:
        if not self.folder.is_dir():
            return
        self._remove_temporaries()
        for path in [*self.folder.glob("part-*.npy"), *self.folder.glob("part-*.parquet"), self.folder / SKIPPED_ROWS,
                     self.folder / MANIFEST]:
            path.unlink(missing_ok=True)

    def _remove_temporaries(self) -> None:
        """Remove the temporary files of a killed run (``gtekit.io.atomic``: ``.tmp-PID-NAME``, renamed once whole)."""
        for pattern in (".tmp-*-part-*", f".tmp-*-{MANIFEST}", f".tmp-*-{SKIPPED_ROWS}"):
            for path in self.folder.glob(pattern):
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


# ------------------------------------------------------------------------------------------------ reading
@dataclass(frozen=True)
class EncodedShards:
    """A folder of encoded shards, opened for reading with :meth:`open`; one shard in memory at a time
    when iterated."""

    folder: Path
    manifest: dict[str, Any]
    shards: tuple[ShardInfo, ...]

    @classmethod
    def open(cls, folder: str | Path, *, allow_partial: bool = False) -> EncodedShards:
        """Read and check ``folder``'s manifest and shard files; an incomplete folder (a run that was
        interrupted or is still going) is an error unless ``allow_partial`` (then: the listed shards)."""
        folder = Path(folder)
        manifest = _read_manifest(folder)
        if not manifest["complete"] and not allow_partial:
            raise ShardsFormatError(f"{folder}: incomplete (\"complete\": false in {MANIFEST}; the encoding was "
                                    f"interrupted or is still running); rerun it to finish, or accept partial output")
        shards = tuple(_shard_info(folder, entry) for entry in manifest["shards"])
        for shard in shards:
            _check_shard_files(folder, shard, manifest["dimension"])
        return cls(folder, manifest, shards)

    @property
    def dimension(self) -> int:
        return int(self.manifest["dimension"])

    @property
    def model(self) -> str:
        return str(self.manifest["model"])

    @property
    def kind(self) -> str | None:
        return self.manifest["kind"]

    @property
    def normalized(self) -> bool:
        return bool(self.manifest["normalized"])

    @property
    def complete(self) -> bool:
        return bool(self.manifest["complete"])

    def __len__(self) -> int:
        return sum(shard.count for shard in self.shards)

    def iter_shards(self) -> Iterator[tuple[list[str], list[str], np.ndarray]]:
        """(ids, texts, embeddings (n, dimension) float32) for each shard, in order."""
        for shard in self.shards:
            table = pq.read_table(self.folder / shard.rows, columns=["id", "text"])
            embeddings = np.load(self.folder / shard.embeddings)
            yield table.column("id").to_pylist(), table.column("text").to_pylist(), embeddings

    def embeddings(self, mmap: bool = True) -> np.ndarray:
        """All embeddings (N, dimension) float32: memory-mapped read-only for a single shard (with ``mmap``),
        otherwise the shards concatenated in memory."""
        mode = "r" if mmap else None
        parts = [np.load(self.folder / shard.embeddings, mmap_mode=mode) for shard in self.shards]
        if not parts:
            return np.empty((0, self.dimension), dtype=np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def ids(self) -> list[str]:
        return self._column("id")

    def texts(self) -> list[str]:
        return self._column("text")

    def _column(self, name: str) -> list[str]:
        values: list[str] = []
        for shard in self.shards:
            values.extend(pq.read_table(self.folder / shard.rows, columns=[name]).column(name).to_pylist())
        return values


def _read_manifest(folder: Path) -> dict[str, Any]:
    manifest = read_folder_manifest(folder, format_name=FORMAT, version=VERSION,
                                    required=(*HEADER_KEYS, "shards", "complete"), error=ShardsFormatError,
                                    what="encoded shards", written_by="`gtekit encode`")
    path = folder / MANIFEST
    if manifest["dtype"] != DTYPE:
        raise ShardsFormatError(f"{path}: dtype {manifest['dtype']!r}; expected {DTYPE!r}")
    return manifest


def _shard_info(folder: Path, entry: Any) -> ShardInfo:
    try:
        return ShardInfo(str(entry["embeddings"]), str(entry["rows"]), int(entry["count"]))
    except (KeyError, TypeError, ValueError):
        raise ShardsFormatError(f"{folder / MANIFEST}: bad shard entry {entry!r}; expected "
                                "{\"embeddings\", \"rows\", \"count\"}") from None


def _check_shard_files(folder: Path, shard: ShardInfo, dimension: int) -> None:
    """Both files exist and hold ``shard.count`` rows (reads only the .npy header and parquet footer)."""
    embeddings_path, rows_path = folder / shard.embeddings, folder / shard.rows
    for path in (embeddings_path, rows_path):
        if not path.is_file():
            raise ShardsFormatError(f"{path}: listed in {folder / MANIFEST} but missing")
    try:
        array = np.load(embeddings_path, mmap_mode="r")
    except (ValueError, OSError) as error:
        raise ShardsFormatError(f"{embeddings_path}: not a readable .npy file, truncated or damaged "
                                f"({error})") from None
    if array.shape != (shard.count, dimension) or array.dtype != np.float32:
        raise ShardsFormatError(f"{embeddings_path}: {array.dtype} {array.shape}; the manifest says float32 "
                                f"({shard.count}, {dimension})")
    size, expected = embeddings_path.stat().st_size, array.offset + array.nbytes
    if size != expected:
        raise ShardsFormatError(f"{embeddings_path}: {size:,} bytes, but its header says {expected:,}: damaged")
    try:
        metadata = pq.read_metadata(rows_path)
    except (pa.ArrowException, OSError) as error:
        raise ShardsFormatError(f"{rows_path}: not a readable Parquet file, truncated or damaged ({error})") from None
    if metadata.num_rows != shard.count or not {"id", "text"} <= set(metadata.schema.names):
        raise ShardsFormatError(f"{rows_path}: {metadata.num_rows} rows with columns {metadata.schema.names}; "
                                f"the manifest says {shard.count} rows with columns id, text")
