"""Embedding stores: embeddings with their ids and texts, in a folder that a killed run leaves usable.

gtekit's one on-disk format for embeddings. ``gtekit encode`` writes it (``gtekit.encode.shard_writer``),
``gtekit mine`` keeps its query and corpus embeddings in it (``gtekit.negatives.encode_store``), the
evaluation's embedding cache writes each batch of new rows as one such folder
(``gtekit.evaluation.embedding_cache``), and ``gtekit index build`` reads any of them::

    DIR/manifest.json      {"format": "gtekit-embeddings", "version": 1, "model": "<name or path>",
                            "dimension": d, "dtype": "float32", "normalized": true,
                            "kind": null | "query" | "document", "inputs": [...], "id_field": ...,
                            "text_field": ..., "options": {...}, "shard_size": n,
                            "shards": [{"embeddings": "part-00000.npy", "rows": "part-00000.parquet",
                            "count": n}, ...], "complete": true | false, "skipped": m,
                            "input_files": [{"path", "size", "mtime_ns", "sha256"}, ...]}
    DIR/part-NNNNN.npy     float32 (n, d), rows in input order (``part-NNNNN-TAG.npy`` when written with a tag)
    DIR/part-NNNNN.parquet columns ``id`` (string) and ``text`` (string): the same rows, same order
    DIR/skipped.jsonl      only when m > 0: one JSON object per input row left out as invalid,
                           {"id": ... or null, "file": ..., "line": ..., "problem": ...}

A shard entry may also hold ``"sha256"``, the checksum of its ``.npy`` file, which
``EncodedShards.open(..., verify=True)`` compares. Each shard's two files are written atomically
(temporary file, then rename, :func:`write_shard`) before the manifest is rewritten, atomically, to
list it (:func:`write_manifest`): a killed run leaves only whole shards listed, and ``"complete":
false``. Readers refuse an incomplete folder unless told to accept the listed shards, refuse a
listed shard whose files are missing, truncated or unreadable, and ignore manifest keys they do not
know. Scans (``iter_shards``, ``iter_embeddings``) hold one shard in memory; gathers (``rows``)
memory-map one shard file at a time.

Depends on numpy, pyarrow, ``atomic`` and ``folder_manifest``; knows nothing about models or encoding.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .atomic import atomic_path
from .folder_manifest import MANIFEST, read_folder_manifest

FORMAT = "gtekit-embeddings"
VERSION = 1
DTYPE = "float32"
DEFAULT_SHARD_SIZE = 100_000  # rows per shard: 147 MiB of float32 at 384 dimensions
# Keys of the manifest besides "shards" and "complete": fixed when a folder is started.
HEADER_KEYS = ("format", "version", "model", "dimension", "dtype", "normalized", "kind", "inputs", "id_field",
               "text_field")
SKIPPED_ROWS = "skipped.jsonl"  # the input rows left out as invalid, written when the folder is complete
HASH_BLOCK = 1 << 24  # bytes read at a time when checksumming a shard


class ShardsFormatError(ValueError):
    """A folder that is not an embedding store, is incomplete, or disagrees with its manifest."""


@dataclass(frozen=True)
class ShardInfo:
    """One shard as the manifest lists it: its two file names, its row count, and the .npy's checksum if kept."""

    embeddings: str
    rows: str
    count: int
    sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        entry = {"embeddings": self.embeddings, "rows": self.rows, "count": self.count}
        return entry | ({"sha256": self.sha256} if self.sha256 else {})


@dataclass(frozen=True)
class ShardsHeader:
    """What a store holds, fixed when it is started: the model, its output, and the inputs.

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


def shard_names(number: int, tag: str | None = None) -> tuple[str, str]:
    """The file names of shard ``number``: ``(part-NNNNN.npy, part-NNNNN.parquet)``, ``part-NNNNN-TAG.*`` with a tag."""
    stem = f"part-{number:05d}" + (f"-{tag}" if tag else "")
    return f"{stem}.npy", f"{stem}.parquet"


# ------------------------------------------------------------------------------------------------ writing
def write_shard(folder: Path, number: int, ids: Sequence[str], texts: Sequence[str], embeddings: np.ndarray, *,
                tag: str | None = None, checksum: bool = False) -> ShardInfo:
    """Write shard ``number``'s two files atomically (not yet listed in the manifest); ``checksum``: keep
    the .npy's SHA-256 in its entry."""
    embeddings_name, rows_name = shard_names(number, tag)
    array = np.ascontiguousarray(embeddings, dtype=np.float32)
    with atomic_path(folder / embeddings_name) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)
    table = pa.table({"id": pa.array([str(value) for value in ids], type=pa.string()),
                      "text": pa.array([str(value) for value in texts], type=pa.string())})
    with atomic_path(folder / rows_name) as tmp:
        pq.write_table(table, tmp)
    digest = file_sha256(folder / embeddings_name) if checksum else None
    return ShardInfo(embeddings_name, rows_name, len(array), digest)


def write_manifest(folder: Path, header: ShardsHeader, shard_size: int, shards: Sequence[ShardInfo], *,
                   complete: bool, skipped: int = 0) -> None:
    """Rewrite ``folder``'s manifest atomically, listing ``shards``."""
    manifest = header.to_json() | {"shard_size": shard_size, "shards": [shard.to_json() for shard in shards],
                                   "complete": complete, "skipped": skipped}
    with atomic_path(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")


def remove_temporaries(folder: Path) -> None:
    """Remove the temporary files of a killed run (``gtekit.io.atomic``: ``.tmp-PID-NAME``, renamed once whole)."""
    for pattern in (".tmp-*-part-*", f".tmp-*-{MANIFEST}", f".tmp-*-{SKIPPED_ROWS}"):
        for path in folder.glob(pattern):
            path.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------ reading
@dataclass(frozen=True)
class EncodedShards:
    """An embedding store opened for reading with :meth:`open`; scans hold one shard in memory at a time,
    gathers (:meth:`rows`) memory-map one shard file at a time."""

    folder: Path
    manifest: dict[str, Any]
    shards: tuple[ShardInfo, ...]

    @classmethod
    def open(cls, folder: str | Path, *, allow_partial: bool = False, verify: bool = False) -> EncodedShards:
        """Read and check ``folder``'s manifest and shard files; an incomplete folder (a run that was
        interrupted or is still going) is an error unless ``allow_partial`` (then: the listed shards).
        ``verify``: also read every .npy whose entry holds a checksum, and compare."""
        folder = Path(folder)
        manifest = read_manifest(folder)
        if not manifest["complete"] and not allow_partial:
            raise ShardsFormatError(f"{folder}: incomplete (\"complete\": false in {MANIFEST}; the encoding was "
                                    f"interrupted or is still running); rerun it to finish, or accept partial output")
        shards = tuple(shard_info(folder, entry) for entry in manifest["shards"])
        for shard in shards:
            check_shard(folder, shard, manifest["dimension"], verify=verify)
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

    def shard_bounds(self) -> list[tuple[int, int]]:
        """The rows [start, stop) of each shard, in order."""
        stops = np.cumsum([shard.count for shard in self.shards], dtype=np.int64).tolist()
        return list(zip([0, *stops[:-1]], stops, strict=True))

    def iter_shards(self) -> Iterator[tuple[list[str], list[str], np.ndarray]]:
        """(ids, texts, embeddings (n, dimension) float32) for each shard, in order."""
        for shard in self.shards:
            table = pq.read_table(self.folder / shard.rows, columns=["id", "text"])
            embeddings = np.load(self.folder / shard.embeddings)
            yield table.column("id").to_pylist(), table.column("text").to_pylist(), embeddings

    def iter_embeddings(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, embeddings (n, dimension) float32) for each shard, in order; ids and texts unread."""
        for (start, _), shard in zip(self.shard_bounds(), self.shards, strict=True):
            yield start, np.load(self.folder / shard.embeddings)

    def embeddings(self, mmap: bool = True) -> np.ndarray:
        """All embeddings (N, dimension) float32: memory-mapped read-only for a single shard (with ``mmap``),
        otherwise the shards concatenated in memory."""
        mode = "r" if mmap else None
        parts = [np.load(self.folder / shard.embeddings, mmap_mode=mode) for shard in self.shards]
        if not parts:
            return np.empty((0, self.dimension), dtype=np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """The embeddings of rows ``ids`` (any shape, any order, repeats allowed): ``ids.shape + (dimension,)``."""
        ids = np.asarray(ids, dtype=np.int64)
        flat = ids.ravel()
        count = len(self)
        if flat.size and (flat.min() < 0 or flat.max() >= count):
            raise IndexError(f"row ids must lie in [0, {count}); got {flat.min()}..{flat.max()}")
        output = np.empty((flat.size, self.dimension), dtype=np.float32)
        bounds = self.shard_bounds()
        shard_of = np.searchsorted([stop for _, stop in bounds], flat, side="right")  # (n,)
        for shard in np.unique(shard_of):
            where = np.flatnonzero(shard_of == shard)
            mapped = np.load(self.folder / self.shards[shard].embeddings, mmap_mode="r")  # unmapped when dropped
            output[where] = mapped[flat[where] - bounds[shard][0]]
            del mapped
        return output.reshape(*ids.shape, self.dimension)

    def ids(self) -> list[str]:
        return self._column("id")

    def texts(self) -> list[str]:
        return self._column("text")

    def _column(self, name: str) -> list[str]:
        values: list[str] = []
        for shard in self.shards:
            values.extend(pq.read_table(self.folder / shard.rows, columns=[name]).column(name).to_pylist())
        return values


def read_manifest(folder: Path) -> dict[str, Any]:
    """``folder``'s manifest, checked for the format, version, dtype and required keys."""
    manifest = read_folder_manifest(folder, format_name=FORMAT, version=VERSION,
                                    required=(*HEADER_KEYS, "shards", "complete"), error=ShardsFormatError,
                                    what="encoded shards", written_by="`gtekit encode`")
    path = folder / MANIFEST
    if manifest["dtype"] != DTYPE:
        raise ShardsFormatError(f"{path}: dtype {manifest['dtype']!r}; expected {DTYPE!r}")
    return manifest


def shard_info(folder: Path, entry: Any) -> ShardInfo:
    """A manifest's shard entry, checked for its keys."""
    try:
        checksum = entry.get("sha256")
        return ShardInfo(str(entry["embeddings"]), str(entry["rows"]), int(entry["count"]),
                         str(checksum) if checksum else None)
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ShardsFormatError(f"{folder / MANIFEST}: bad shard entry {entry!r}; expected "
                                "{\"embeddings\", \"rows\", \"count\"}") from None


def check_shard(folder: Path, shard: ShardInfo, dimension: int, *, verify: bool = False) -> None:
    """Both files exist and hold ``shard.count`` rows (reads only the .npy header and parquet footer);
    ``verify``: the .npy also matches its checksum, when the entry holds one."""
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
    if verify and shard.sha256 and file_sha256(embeddings_path) != shard.sha256:
        raise ShardsFormatError(f"{embeddings_path}: its checksum does not match the manifest's: damaged")
    try:
        metadata = pq.read_metadata(rows_path)
    except (pa.ArrowException, OSError) as error:
        raise ShardsFormatError(f"{rows_path}: not a readable Parquet file, truncated or damaged ({error})") from None
    if metadata.num_rows != shard.count or not {"id", "text"} <= set(metadata.schema.names):
        raise ShardsFormatError(f"{rows_path}: {metadata.num_rows} rows with columns {metadata.schema.names}; "
                                f"the manifest says {shard.count} rows with columns id, text")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()
