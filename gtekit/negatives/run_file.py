"""The run file: every query's retrieved candidates, so selection can be redone without encoding or search.

``run.parquet`` has one row per (query, candidate), sorted by query id then rank::

    query_id      int64    index into the mined queries (unique query texts, in order of first appearance)
    candidate_id  int64    index into the corpus (unique texts: the corpus file's, then the positives)
    rank          int32    0-based position in the query's retrieved list, by descending score
    score         float32  inner product of the L2-normalised embeddings (cosine)

Known positives are kept (selection drops them). The schema metadata ``gtekit`` holds a JSON object
naming what produced the candidates (the two stores' fingerprints, k, the index) and the query chunks,
one row group each: a rerun whose inputs match reuses the file. Written atomically.

Depends on pyarrow and ``gtekit.io.atomic``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..io.atomic import atomic_path

METADATA_KEY = b"gtekit"
COLUMNS = (("query_id", pa.int64()), ("candidate_id", pa.int64()), ("rank", pa.int32()), ("score", pa.float32()))


def write_run(path: str | Path, results: Iterable[tuple[int, np.ndarray, np.ndarray]], produced_by: dict,
              chunks: list[tuple[int, int]]) -> Path:
    """Write ``results`` ((first query id, scores (Q, k), ids (Q, k)) per query chunk, as ``index.search``
    yields them) to ``path``; ``produced_by`` (JSON-able) and the chunk bounds go into the metadata."""
    path = Path(path)
    metadata = {**produced_by, "chunks": [list(bounds) for bounds in chunks]}
    schema = pa.schema([pa.field(name, kind) for name, kind in COLUMNS],
                       metadata={METADATA_KEY: json.dumps(metadata).encode()})
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for (start, scores, ids), (expected, stop) in zip(results, chunks, strict=True):
            if start != expected or len(ids) != stop - start:
                raise ValueError(f"search returned queries from {start} ({len(ids)}), expected [{expected}, {stop})")
            rows, ranks = np.nonzero(ids >= 0)  # row-major: by query, then rank
            table = pa.table({
                "query_id": pa.array(rows + start, pa.int64()), "candidate_id": pa.array(ids[rows, ranks], pa.int64()),
                "rank": pa.array(ranks, pa.int32()), "score": pa.array(scores[rows, ranks], pa.float32()),
            }, schema=schema)
            # one row group per chunk, however large (pyarrow would split it at 2^20 rows)
            writer.write_table(table, row_group_size=max(1, table.num_rows))
    return path


def run_metadata(path: str | Path) -> dict | None:
    """The metadata of the run file at ``path``, or None if there is no readable run file."""
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException):
        return None
    raw = metadata.get(METADATA_KEY)
    return json.loads(raw) if raw else None


def read_run(path: str | Path) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(first query id, scores (Q, k), ids (Q, k)) per query chunk, as written; one chunk in memory at a time."""
    metadata = run_metadata(path)
    if metadata is None:
        raise ValueError(f"{path}: not a gtekit run file (no '{METADATA_KEY.decode()}' metadata)")
    k = metadata["k"]
    file = pq.ParquetFile(path)
    if file.num_row_groups != len(metadata["chunks"]):
        raise ValueError(f"{path}: {file.num_row_groups} row groups for {len(metadata['chunks'])} query chunks")
    for group, (start, stop) in enumerate(metadata["chunks"]):
        table = file.read_row_group(group)
        rows = table.column("query_id").to_numpy() - start
        ranks = table.column("rank").to_numpy()
        scores = np.full((stop - start, k), -np.inf, dtype=np.float32)
        ids = np.full((stop - start, k), -1, dtype=np.int64)
        scores[rows, ranks] = table.column("score").to_numpy()
        ids[rows, ranks] = table.column("candidate_id").to_numpy()
        yield start, scores, ids
