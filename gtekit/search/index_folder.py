"""The INDEX_DIR folder written by ``gtekit index build`` and read by :class:`~gtekit.search.SearchIndex`::

    INDEX_DIR/manifest.json     {"format": "gtekit-index", "version": 1, "model": "<name or path>",
                                 "dimension": d, "count": N, "kind": "flat" | "hnsw" | "ivfpq",
                                 "precision": "float32" | "float16" | "int8" | "binary" | "ubinary",
                                 "factory": "<faiss factory string>", "parameters": {...},
                                 "texts": true | false, "files": {"index", "rows", "rescore", "calibration"},
                                 "source": {"path", "kind", "normalized"}, "build_seconds": s,
                                 "built_at": "<UTC ISO 8601>", "sizes": {"<file>": bytes, ...}}
    INDEX_DIR/index.faiss       the faiss index (``faiss.write_index``, or ``write_index_binary`` for the
                                binary precisions); row r of every file below is its vector id r
    INDEX_DIR/rows.parquet      columns ``id`` (string) and ``text`` (string; null when built without texts)
    INDEX_DIR/embeddings.npy    the rescore store, if any: float32 (N, d), or int8 (N, d) codes for
                                ``"rescore_store": "int8"``; memory-mapped when searching
    INDEX_DIR/calibration.npy   int8 calibration ranges (2, d) float32, per-dimension (min, max) over the
                                corpus, when the precision or the rescore store is int8

``parameters`` holds the resolved :class:`~gtekit.search.settings.IndexSettings` of the kind (e.g. nlist,
pq_m, pq_nbits, nprobe for ivfpq; hnsw_m, ef_construction, ef_search for hnsw) and the rescore store
and multiplier. The folder is built under a temporary name and renamed into place when whole; the
faiss file is itself written to a temporary name and renamed. Vectors are L2-normalised: scores are
cosines. Depends on ``settings`` only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..io.folder_manifest import MANIFEST, read_folder_manifest
from .settings import IndexSettings

FORMAT = "gtekit-index"
VERSION = 1
REQUIRED_KEYS = ("model", "dimension", "count", "kind", "precision", "factory", "parameters", "texts", "files")
INDEX_FILE = "index.faiss"
ROWS_FILE = "rows.parquet"
RESCORE_FILE = "embeddings.npy"
CALIBRATION_FILE = "calibration.npy"


class IndexFormatError(ValueError):
    """A folder that is not a gtekit search index, or one whose files disagree with its manifest."""


@dataclass(frozen=True)
class IndexManifest:
    """An index's manifest.json: what was built, from what, with which settings."""

    model: str
    dimension: int
    count: int
    settings: IndexSettings
    factory: str
    texts: bool
    files: dict[str, str | None]
    source: dict[str, Any] = field(default_factory=dict)
    build_seconds: float = 0.0
    built_at: str = ""
    sizes: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "model": self.model, "dimension": self.dimension,
                "count": self.count, "kind": self.settings.kind.value, "precision": self.settings.precision.value,
                "factory": self.factory, "parameters": self.settings.parameters(), "texts": self.texts,
                "files": self.files, "source": self.source, "build_seconds": round(self.build_seconds, 3),
                "built_at": self.built_at, "sizes": self.sizes}

    def write(self, folder: Path) -> None:
        (Path(folder) / MANIFEST).write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def read(cls, folder: str | Path) -> IndexManifest:
        path = Path(folder) / MANIFEST
        data = read_folder_manifest(folder, format_name=FORMAT, version=VERSION, required=REQUIRED_KEYS,
                                    error=IndexFormatError, what="a search index", written_by="`gtekit index build`")
        known = {item.name for item in fields(IndexSettings)}
        try:
            settings = IndexSettings(**{key: value for key, value in data["parameters"].items() if key in known})
        except (TypeError, ValueError) as error:
            raise IndexFormatError(f"{path}: bad \"parameters\": {error}") from None
        return cls(model=str(data["model"]), dimension=int(data["dimension"]), count=int(data["count"]),
                   settings=settings, factory=str(data["factory"]), texts=bool(data["texts"]),
                   files=dict(data["files"]), source=dict(data.get("source") or {}),
                   build_seconds=float(data.get("build_seconds", 0.0)), built_at=str(data.get("built_at", "")),
                   sizes=dict(data.get("sizes") or {}))


def is_index_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a manifest of this format (so that a rebuild may replace it)."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False
