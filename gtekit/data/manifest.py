"""``DIR/manifest.json``: what a built mixture holds. Written last, atomically: no manifest, no build.

Schema (version 1; paths are relative to DIR, counts are pairs)::

    {
      "version": 1,
      "created": "2025-01-01T00:00:00+00:00",           # UTC
      "gtekit_version": "0.1.0",
      "build_seconds": 61.2,
      "mixture": {...},                                 # the mixture spec, defaults filled in
      "mixture_file": "recipes/data/offline-mix.yaml",  # or null
      "tokenizer": "all-MiniLM-L6-v2",
      "evaluation_tasks": ["STSBenchmark", ...],        # tasks whose evaluated texts were kept out
      "total": {"count": N, "held_out": M},
      "sources": [{
        "name": "gcide", "kind": "knowledge_base", "licence": "...", "weight": 1.0,
        "provenance": {"package": "...", "version": "...", "files": "...", "reader": "gcide"},
        "documents": 108194,                            # documents the reader saw
        "read": 108000,                                 # pairs the reader yielded
        "skipped": {"invalid": 0, ...},                 # rows the reader left out, by reason
        "invalid_examples": ["file:12: field 'x': ..."],
        "filters": {"empty": 0, "control_chars": 0, "too_short": 0, "too_long": 0,
                    "query_equals_positive": 0, "evaluation_overlap": 0,
                    "duplicate_within": 0, "duplicate_across": 0},
        "modified": {"control_chars": 0},               # pairs kept with control characters stripped
        "count": 105000,                                # training pairs = sum of shard rows
        "shards": [{"file": "gcide/part-00000.parquet", "rows": 100000}, ...],
        "held_out": {"fraction": 0.02, "count": 2100,
                     "files": [{"file": "held-out/gcide/part-00000.parquet", "rows": 2100}],
                     "filters": {"duplicate_within": 0, "duplicate_of_training": 0}},
        "lengths": {"query": {"p5": 1, "p50": 2, "p95": 5, "p99": 8},   # tokens, training pairs
                    "positive": {"p5": ..., "p50": ..., "p95": ..., "p99": ...}}
      }, ...]
    }

For every source: read = count + held_out.count + Σ filters + Σ held_out.filters.
Depends on numpy and ``gtekit.io.atomic`` only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
PERCENTILES = (5, 50, 95, 99)


def percentiles(lengths: np.ndarray) -> dict[str, int]:
    """p5/p50/p95/p99 of token lengths (nearest rank, so always a length that occurs); zeros if empty."""
    if len(lengths) == 0:
        return {f"p{q}": 0 for q in PERCENTILES}
    values = np.percentile(np.asarray(lengths), PERCENTILES, method="inverted_cdf")
    return {f"p{q}": int(v) for q, v in zip(PERCENTILES, values, strict=True)}


def write_manifest(directory: Path, manifest: dict) -> Path:
    path = Path(directory) / MANIFEST_NAME
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_manifest(directory: str | Path) -> dict:
    """The manifest of a built mixture; raises if the build never finished or the format is unknown."""
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {directory} is not a finished `gtekit data build` output "
                                "(a build that stopped part-way writes no manifest; run it again)")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("version") != MANIFEST_VERSION:
        raise ValueError(f"{path}: manifest version {manifest.get('version')!r}; this gtekit reads "
                         f"version {MANIFEST_VERSION}")
    return manifest


def shard_paths(directory: str | Path, source: dict, *, held_out: bool = False) -> list[Path]:
    """Absolute paths of one manifest source's training shards (or held-out files)."""
    files = source["held_out"]["files"] if held_out else source["shards"]
    return [Path(directory) / item["file"] for item in files]
