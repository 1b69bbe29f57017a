"""Build a search index folder (layout: ``gtekit.search.index_folder``) from encoded shards or numpy arrays.

Streaming, shard by shard: memory holds the faiss index, one shard of float32 input, and for IVF-PQ
a training sample (at most ``IndexSettings.train_rows`` rows), never the whole float32 corpus.

1. When the precision or the rescore store is int8, or the kind is ivfpq, a first pass over the
   shards takes the per-dimension (min, max) calibration ranges over the whole corpus and a seeded
   random training sample (one shard in memory at a time);
2. the index is created (and trained on the sample); a second pass L2-normalises each shard (rows
   already of norm 1 are left bit for bit), adds it to the index in batches, appends its ids and
   texts to rows.parquet and its vectors (float32, or int8 codes) to the rescore store .npy file;
3. the faiss file, the calibration ranges and manifest.json are written, and the folder, built under
   a temporary name, is renamed into place.

The input is anything shaped like an embedding store, ``gtekit.io.embedding_store.EncodedShards`` (``model``,
``dimension``, ``len()``, ``iter_shards()``), e.g. :class:`ArrayShards` for arrays in memory.
:func:`build_index_folder` is ``gtekit index build``: the shards folder and the index folder of an
``IndexBuildSettings``. Depends on ``gtekit.io`` and this package; knows nothing about models.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ..io.atomic import atomic_path
from ..io.embedding_store import EncodedShards
from .faiss_index import add_rows, factory_string, new_index, write_index
from .index_folder import CALIBRATION_FILE, INDEX_FILE, RESCORE_FILE, ROWS_FILE, IndexManifest, is_index_folder
from .settings import EmbeddingPrecision, IndexBuildSettings, IndexKind, IndexSettings, RescoreStore
from .vector_precision import RangeTracker, quantize, unit_rows

logger = logging.getLogger(__name__)

ADD_BATCH_ROWS = 65_536  # rows handed to faiss per add() call
ROW_GROUP_ROWS = 2_048  # rows per Parquet row group: a text lookup reads one group
ROWS_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string())])


class EmbeddingSource(Protocol):
    """What the builder reads: ``gtekit.io.embedding_store.EncodedShards`` or :class:`ArrayShards`."""

    @property
    def model(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def __len__(self) -> int: ...

    def iter_shards(self) -> Iterator[tuple[list[str], list[str | None], np.ndarray]]: ...


@dataclass(frozen=True)
class ArrayShards:
    """Embeddings (N, d) in memory (or memory-mapped) as an index source, ``rows_per_shard`` rows at a time.
    ids default to the row numbers "0", "1", ...; texts to none."""

    embeddings: np.ndarray
    ids: Sequence[str] | None = None
    texts: Sequence[str | None] | None = None
    model: str = ""
    rows_per_shard: int = 100_000

    def __post_init__(self) -> None:
        if np.ndim(self.embeddings) != 2:
            raise ValueError(f"embeddings must be (N, d), got shape {np.shape(self.embeddings)}")
        for name in ("ids", "texts"):
            values = getattr(self, name)
            if values is not None and len(values) != len(self.embeddings):
                raise ValueError(f"{len(values)} {name} for {len(self.embeddings)} embeddings")

    @property
    def dimension(self) -> int:
        return int(self.embeddings.shape[1])

    def __len__(self) -> int:
        return len(self.embeddings)

    def iter_shards(self) -> Iterator[tuple[list[str], list[str | None], np.ndarray]]:
        for start in range(0, len(self), self.rows_per_shard):
            stop = min(start + self.rows_per_shard, len(self))
            ids = [str(i) for i in range(start, stop)] if self.ids is None else [str(i) for i in self.ids[start:stop]]
            texts = [None] * (stop - start) if self.texts is None else list(self.texts[start:stop])
            yield ids, texts, np.asarray(self.embeddings[start:stop], dtype=np.float32)


def build_index(source: EmbeddingSource, output_dir: str | Path, settings: IndexSettings | None = None, *,
                store_texts: bool = True, source_info: dict | None = None, progress: bool = False) -> IndexManifest:
    """Build the index of ``source`` into ``output_dir`` (replaced if it is an index already; see the module
    docstring). ``source_info`` is recorded in the manifest's ``source``. Returns the manifest written."""
    started = time.perf_counter()
    output_dir = Path(output_dir)
    count, dimension = len(source), int(source.dimension)
    if count == 0:
        raise ValueError("no embeddings to index: the input holds 0 rows")
    _check_output(output_dir)
    resolved = (settings or IndexSettings()).resolve(count, dimension)
    precision, store = resolved.precision, resolved.rescore_store
    ranges, sample = _first_pass(source, resolved, count, dimension)
    index = new_index(resolved, dimension, ranges)
    if not index.is_trained:
        logger.info("training %s on %d of %d rows", factory_string(resolved, dimension), len(sample), count)
        index.train(np.ascontiguousarray(sample))
    del sample
    with atomic_path(output_dir) as tmp:
        tmp.mkdir()
        row = 0
        with pq.ParquetWriter(tmp / ROWS_FILE, ROWS_SCHEMA) as rows_writer, _NpyWriter(
                tmp / RESCORE_FILE if store is not RescoreStore.NONE else None, (count, dimension),
                np.int8 if store is RescoreStore.INT8 else np.float32) as vectors, \
                tqdm(total=count, unit="row", desc="index", disable=not progress) as bar:
            for ids, texts, embeddings in source.iter_shards():
                embeddings = unit_rows(_checked_shard(ids, texts, embeddings, dimension, row, count))
                n = len(embeddings)
                for start in range(0, n, ADD_BATCH_ROWS):
                    add_rows(index, embeddings[start:start + ADD_BATCH_ROWS], precision, ranges)
                if store is not RescoreStore.NONE:
                    vectors.write(embeddings if store is RescoreStore.FLOAT32 else quantize(
                        embeddings, EmbeddingPrecision.INT8, ranges))
                texts = texts if store_texts else [None] * n
                rows_writer.write_table(pa.table({"id": ids, "text": texts}, schema=ROWS_SCHEMA),
                                        row_group_size=ROW_GROUP_ROWS)
                row += n
                bar.update(n)
        if row != count:
            raise ValueError(f"the input announced {count} rows but its shards hold {row}")
        write_index(index, tmp / INDEX_FILE, binary=precision.is_binary)
        if ranges is not None:
            np.save(tmp / CALIBRATION_FILE, ranges)
        files = {"index": INDEX_FILE, "rows": ROWS_FILE,
                 "rescore": RESCORE_FILE if store is not RescoreStore.NONE else None,
                 "calibration": CALIBRATION_FILE if ranges is not None else None}
        manifest = IndexManifest(
            model=str(source.model or ""), dimension=dimension, count=count, settings=resolved,
            factory=factory_string(resolved, dimension), texts=store_texts, files=files,
            source=dict(source_info or {}), build_seconds=time.perf_counter() - started,
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            sizes={name: (tmp / name).stat().st_size for name in files.values() if name})
        manifest.write(tmp)
    logger.info("built %s over %d rows in %.1f s", manifest.factory, count, manifest.build_seconds)
    return manifest


def build_index_folder(settings: IndexBuildSettings) -> IndexManifest:
    """Build the index of the encoded shards in ``settings.shards_dir`` into ``settings.output_dir``; the manifest's
    ``source`` records the shards folder (path, kind, normalized, complete). Returns the manifest written."""
    shards = EncodedShards.open(settings.shards_dir, allow_partial=settings.allow_partial)
    source = {"path": str(settings.shards_dir), "kind": shards.kind, "normalized": shards.normalized,
              "complete": shards.complete}
    return build_index(shards, settings.output_dir, settings.index, store_texts=settings.store_texts,
                       source_info=source, progress=settings.progress)


class _NpyWriter:
    """A .npy file of known shape written row block by row block, in order, with plain writes (a memory map
    would count every written page in the builder's resident memory). ``path`` None: writes nothing."""

    def __init__(self, path: Path | None, shape: tuple[int, int], dtype) -> None:
        self.path, self.shape, self.dtype = path, shape, np.dtype(dtype)
        self.rows = 0

    def __enter__(self) -> _NpyWriter:
        if self.path is not None:
            self.handle = open(self.path, "wb")  # closed by __exit__
            header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": self.shape}
            np.lib.format.write_array_header_1_0(self.handle, header)
        return self

    def write(self, block: np.ndarray) -> None:
        self.handle.write(np.ascontiguousarray(block, dtype=self.dtype).tobytes())
        self.rows += len(block)

    def __exit__(self, *exc_info) -> None:
        if self.path is not None:
            self.handle.close()
            if exc_info[0] is None and self.rows != self.shape[0]:
                raise ValueError(f"{self.path}: {self.rows} rows written, {self.shape[0]} expected")


def _first_pass(source: EmbeddingSource, settings: IndexSettings, count: int,
                dimension: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(int8 calibration ranges (2, d) or None, IVF-PQ training sample (n, d) or None) in one scan."""
    wants_ranges = EmbeddingPrecision.INT8 in (settings.precision, settings.rescore_store)
    wants_sample = settings.kind is IndexKind.IVFPQ
    if not (wants_ranges or wants_sample):
        return None, None
    tracker = RangeTracker(dimension)
    chosen = np.sort(np.random.default_rng(settings.seed).choice(count, size=settings.train_rows, replace=False)) \
        if wants_sample else np.empty(0, dtype=np.int64)
    sample = np.empty((len(chosen), dimension), dtype=np.float32)
    row = 0
    for ids, texts, embeddings in source.iter_shards():
        embeddings = unit_rows(_checked_shard(ids, texts, embeddings, dimension, row, count))
        tracker.update(embeddings)
        low, high = np.searchsorted(chosen, [row, row + len(embeddings)])
        sample[low:high] = embeddings[chosen[low:high] - row]
        row += len(embeddings)
    if row != count:
        raise ValueError(f"the input announced {count} rows but its shards hold {row}")
    return (tracker.ranges if wants_ranges else None), (sample if wants_sample else None)


def _checked_shard(ids: list, texts: list, embeddings: np.ndarray, dimension: int, row: int, count: int) -> np.ndarray:
    embeddings = np.asarray(embeddings)
    where = f"the shard starting at row {row}"
    if embeddings.ndim != 2 or embeddings.shape[1] != dimension:
        raise ValueError(f"{where}: embeddings of shape {embeddings.shape}, expected (n, {dimension})")
    if not len(ids) == len(texts) == len(embeddings):
        raise ValueError(f"{where}: {len(ids)} ids, {len(texts)} texts, {len(embeddings)} embeddings")
    if row + len(embeddings) > count:
        raise ValueError(f"{where}: more rows than the {count} the input announced")
    if not np.isfinite(embeddings).all():
        raise ValueError(f"{where}: embeddings hold NaN or infinite values")
    return embeddings


def _check_output(output_dir: Path) -> None:
    """Refuse to replace a folder that holds something other than an index."""
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"{output_dir}: exists and is not a folder")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not is_index_folder(output_dir):
        raise ValueError(f"{output_dir}: a non-empty folder that is not a search index; choose another output "
                         "folder (an existing index there would be replaced)")
