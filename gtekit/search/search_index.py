"""Search a built index folder: :class:`SearchIndex` answers query embeddings with ranked :class:`Hit` lists.

Search with rescoring (sentence-transformers' ``semantic_search_faiss`` with ``rescore=True``): the
compact index proposes ``rescore_multiplier · k`` candidates, each candidate's exact cosine with the
float32 query is computed from the rescore store (float32, or int8 codes dequantized as
(code + 128)·step + min), and the best k are kept. Without rescoring, the index's own scores are
returned: exact for float32 flat / hnsw, approximate otherwise (binary: (d - 2h) / d for Hamming
distance h).

The faiss index is read into memory; the rescore store is memory-mapped, so rescoring reads only the
candidates' rows; texts are read by Parquet row group when hits need them (a small cache keeps the
latest groups). Searches may run from several threads. Depends on this package only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .faiss_index import read_index, search_index, set_search_parameters
from .index_folder import IndexFormatError, IndexManifest
from .settings import RescoreStore
from .topk import rescore_top_k
from .vector_precision import dequantize_int8

TEXT_GROUPS_CACHED = 64  # Parquet row groups of texts kept in memory


@dataclass(frozen=True)
class Hit:
    """One search result: the document's id, its score (cosine; higher is better) and its text if stored."""

    id: str
    score: float
    text: str | None


class SearchIndex:
    """A search index folder, loaded: ``SearchIndex.load(INDEX_DIR).search(query_embeddings, k)``."""

    def __init__(self, folder: Path, manifest: IndexManifest, index, rows: _RowTable,
                 vectors: np.ndarray | None, ranges: np.ndarray | None) -> None:
        self.folder = folder
        self.manifest = manifest
        self.settings = manifest.settings
        self._index = index
        self._rows = rows
        self._vectors = vectors
        self._ranges = ranges
        self._configure = threading.Lock()

    @classmethod
    def load(cls, folder: str | Path, *, nprobe: int | None = None, ef_search: int | None = None,
             rescore_multiplier: int | None = None) -> SearchIndex:
        """Open ``folder``; the keyword arguments override the search parameters recorded at build time."""
        folder = Path(folder)
        manifest = IndexManifest.read(folder)
        overrides = {name: value for name, value in (("nprobe", nprobe), ("ef_search", ef_search),
                                                     ("rescore_multiplier", rescore_multiplier)) if value is not None}
        manifest = replace(manifest, settings=replace(manifest.settings, **overrides))
        files = manifest.files
        for key in ("index", "rows", "rescore", "calibration"):
            if files.get(key) and not (folder / files[key]).is_file():
                raise IndexFormatError(f"{folder / files[key]}: listed in {folder / 'manifest.json'} but missing")
        index = read_index(folder / files["index"], binary=manifest.settings.precision.is_binary)
        if index.ntotal != manifest.count:
            raise IndexFormatError(f"{folder / files['index']}: holds {index.ntotal} vectors; the manifest says "
                                   f"{manifest.count}")
        vectors = np.load(folder / files["rescore"], mmap_mode="r") if files.get("rescore") else None
        if vectors is not None and vectors.shape != (manifest.count, manifest.dimension):
            raise IndexFormatError(f"{folder / files['rescore']}: shape {vectors.shape}; the manifest says "
                                   f"({manifest.count}, {manifest.dimension})")
        ranges = np.load(folder / files["calibration"]) if files.get("calibration") else None
        rows = _RowTable(folder / files["rows"], manifest.count, with_texts=manifest.texts)
        return cls(folder, manifest, index, rows, vectors, ranges)

    # ------------------------------------------------------------------------------------------ properties
    @property
    def model(self) -> str:
        return self.manifest.model

    @property
    def dimension(self) -> int:
        return self.manifest.dimension

    @property
    def can_rescore(self) -> bool:
        return self._vectors is not None

    def __len__(self) -> int:
        return self.manifest.count

    def __repr__(self) -> str:
        return (f"SearchIndex({str(self.folder)!r}, {len(self):,} x {self.dimension}, {self.manifest.factory}, "
                f"rescore store: {self.settings.rescore_store.value})")

    # ------------------------------------------------------------------------------------------ search
    def search(self, query_embeddings: np.ndarray, k: int, *, rescore: bool | None = None) -> list[list[Hit]]:
        """The best ``k`` documents for each query (q, d), best first. ``rescore`` (default: whenever the index
        keeps a rescore store) rescores ``rescore_multiplier · k`` candidates exactly; fewer than k hits come
        back only when the index holds fewer documents."""
        scores, rows = self.search_rows(query_embeddings, k, rescore=rescore)
        flat_rows = rows[rows >= 0]
        ids = self._rows.ids(flat_rows)
        texts = self._rows.texts(flat_rows)
        hits: list[list[Hit]] = []
        position = 0  # ids and texts follow rows[rows >= 0], query by query
        for query_scores, query_rows in zip(scores, rows, strict=True):
            found = np.flatnonzero(query_rows >= 0)
            hits.append([Hit(ids[position + n], float(query_scores[i]), texts[position + n])
                         for n, i in enumerate(found)])
            position += len(found)
        return hits

    def search_rows(self, query_embeddings: np.ndarray, k: int, *,
                    rescore: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` as arrays: (scores (q, k) float32 descending, row numbers (q, k) int64; -inf / -1 past
        the last hit). Row r is the r-th document the index was built from."""
        queries = self._checked_queries(query_embeddings)
        if not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        rescore = self.can_rescore if rescore is None else bool(rescore)
        if rescore and not self.can_rescore:
            raise ValueError(f"{self.folder}: built without a rescore store (rescore_store: none); search with "
                             "rescore off, or rebuild with --rescore-store float32 or int8")
        k = int(k)
        candidates = min(len(self), k * self.settings.rescore_multiplier if rescore else k)
        with self._configure:  # faiss search parameters live on the index: set and search under one lock
            set_search_parameters(self._index, self.settings, candidates)
            scores, rows = search_index(self._index, queries, candidates, self.settings.precision, self.dimension)
        if rescore:
            scores, rows = rescore_top_k(queries, rows, self._stored_vectors, min(k, candidates))
        if scores.shape[1] < k:  # fewer documents than k
            pad = k - scores.shape[1]
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
            rows = np.pad(rows, ((0, 0), (0, pad)), constant_values=-1)
        return scores, rows

    def _stored_vectors(self, rows: np.ndarray) -> np.ndarray:
        """Rows (B, C) of the rescore store as float32 (B, C, d)."""
        order = np.argsort(rows, axis=None)  # read the memory map in ascending order
        gathered = np.empty((rows.size, self.dimension), dtype=np.float32)
        values = self._vectors[rows.ravel()[order]]
        if self.settings.rescore_store is RescoreStore.INT8:
            values = dequantize_int8(values, self._ranges)
        gathered[order] = values
        return gathered.reshape(*rows.shape, self.dimension)

    def _checked_queries(self, query_embeddings: np.ndarray) -> np.ndarray:
        queries = np.asarray(query_embeddings)
        if queries.ndim == 1:
            queries = queries[None, :]
        if queries.ndim != 2 or queries.shape[1] != self.dimension:
            raise ValueError(f"query embeddings of shape {queries.shape}; this index holds {self.dimension}-"
                             f"dimensional embeddings of {self.model or 'an unnamed model'}: encode the queries "
                             "with the model the index was built from")
        if not np.issubdtype(queries.dtype, np.floating):
            raise ValueError(f"query embeddings must be floats, got {queries.dtype}")
        queries = queries.astype(np.float32)
        norms = np.linalg.norm(queries, axis=1, keepdims=True)
        return np.ascontiguousarray(queries / np.where(norms > 0, norms, 1))


class _RowTable:
    """rows.parquet: all ids in memory (an Arrow string array), texts read by row group on demand."""

    def __init__(self, path: Path, count: int, with_texts: bool) -> None:
        self.file = pq.ParquetFile(path)
        if self.file.metadata.num_rows != count:
            raise IndexFormatError(f"{path}: {self.file.metadata.num_rows} rows; the manifest says {count}")
        self._ids = self.file.read(columns=["id"]).column("id").combine_chunks()
        sizes = [self.file.metadata.row_group(i).num_rows for i in range(self.file.num_row_groups)]
        self._group_starts = np.cumsum([0, *sizes])  # (groups + 1,)
        self._with_texts = with_texts
        self._groups: OrderedDict[int, pa.Array] = OrderedDict()
        self._lock = threading.Lock()

    def ids(self, rows: np.ndarray) -> list[str]:
        return self._ids.take(pa.array(rows, type=pa.int64())).to_pylist()

    def texts(self, rows: np.ndarray) -> list[str | None]:
        if not self._with_texts:
            return [None] * len(rows)
        groups = np.searchsorted(self._group_starts, rows, side="right") - 1
        return [self._group(int(group))[int(row - self._group_starts[group])].as_py()
                for row, group in zip(rows, groups, strict=True)]

    def _group(self, number: int) -> pa.Array:
        with self._lock:  # one reader of the Parquet file at a time
            if number in self._groups:
                self._groups.move_to_end(number)
            else:
                table = self.file.read_row_group(number, columns=["text"])
                self._groups[number] = table.column("text").combine_chunks()
                while len(self._groups) > TEXT_GROUPS_CACHED:
                    self._groups.popitem(last=False)
            return self._groups[number]
