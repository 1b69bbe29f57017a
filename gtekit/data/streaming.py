"""Streamed sources: a built mixture folder whose shards are read when a batch needs them.

``gtekit data build`` writes a mixture folder (schema: ``gtekit.data.manifest``)::

    DIR/manifest.json                  {"version": 1, "evaluation_tasks": [...],
                                        "sources": [{"name", "count", "shards": [{"file", "rows"}], ...}]}
    DIR/<source>/part-NNNNN.parquet    columns query, positive (string), doc_id, optionally negatives

:func:`open_mixture` turns it into one :class:`ShardedSource` per manifest entry, reading only the
manifest: a source knows its shard files and row counts, and no pair is held in memory. A batch
(:meth:`ShardedSource.read_batch`) reads the shards its rows fall in through a :class:`ShardCache`,
which keeps at most ``capacity`` decoded shards per process (least recently used goes first), so
memory is bounded by a few shards, not by the data. Example k of a source is row k of its shards
laid end to end in manifest order, the numbering :class:`~gtekit.data.sampler.SourceSampler` uses.

Rows are checked as ``gtekit.data.pairs`` checks them (non-empty, not only whitespace, no nulls, UTF-8),
for a whole shard at once, when it is decoded (``shard_checks``). A bad row raises
:class:`PairFormatError` naming the shard file, the 1-based row and the field. With
``skip_invalid=True`` a bad row that a batch draws is skipped instead, and counted: its place in the
batch goes to the next valid row of the same shard (in file order, wrapping around) that the batch does
not already hold, so every rank still gets the same number of rows; that row may then be seen twice in
the epoch. A source's ``requirements`` (``gtekit.data.negative_scores``: a minimum number of negatives,
mining scores kept) are checked the same way, so a row that fails them is an error or a skip like any
other bad row. Every rank decodes the shards its global batch touches and makes the same replacements;
it builds pairs only for its own part.

Depends on ``rows``, ``manifest``, ``negative_scores``, ``shard_checks`` (the checks of a decoded shard),
numpy and pyarrow; nothing here knows about models or training.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .manifest import MANIFEST_NAME, read_manifest
from .negative_scores import SCORE_FIELDS, NegativeRequirements
from .rows import FIELDS, Pair, PairFormatError
from .shard_checks import checked_rows, replace_invalid

READ_BATCH_ROWS = 8192  # rows per record batch when a whole source is streamed (iter_pairs)


@dataclass(frozen=True)
class Shard:
    """One Parquet file of a source and the number of rows the manifest gives it."""

    path: Path
    rows: int


@dataclass
class DecodedShard:
    """A shard in memory: its pair columns, and which rows fail the checks (only kept with skip_invalid)."""

    table: Any  # pyarrow.Table with columns query, positive and maybe negatives
    invalid: np.ndarray  # (rows,) bool


class ShardCache:
    """The decoded shards of one process, least recently used first out, at most ``capacity`` at once.

    Shared by every streamed source of a process; after a fork (a DataLoader worker) each process has
    its own, and pickling one (a spawned worker) drops what it holds. ``peak`` is the most shards it
    ever held and ``reads`` how many times it decoded one.
    """

    def __init__(self, capacity: int = 2) -> None:
        if capacity < 1:
            raise ValueError(f"a shard cache holds at least 1 shard, got capacity={capacity}")
        self.capacity = capacity
        self._shards: OrderedDict[Path, DecodedShard] = OrderedDict()
        self.peak = 0
        self.reads = 0

    def get(self, shard: Shard, decode) -> DecodedShard:
        """The decoded ``shard``, from memory or from ``decode(shard)``."""
        found = self._shards.get(shard.path)
        if found is not None:
            self._shards.move_to_end(shard.path)
            return found
        while len(self._shards) >= self.capacity:  # make room first: never capacity + 1 shards at once
            self._shards.popitem(last=False)
        decoded = decode(shard)
        self.reads += 1
        self._shards[shard.path] = decoded
        self.peak = max(self.peak, len(self._shards))
        return decoded

    @property
    def resident(self) -> int:
        return len(self._shards)

    def clear(self) -> None:
        self._shards.clear()

    def __getstate__(self) -> dict:
        return {"capacity": self.capacity, "_shards": OrderedDict(), "peak": 0, "reads": 0}


@dataclass
class ShardedSource:
    """A training source read shard by shard; ``pairs`` are never all in memory.

    The same interface as :class:`gtekit.data.pairs.Source` offers the sampler and the trainer:
    ``name``, ``path``, ``shard_sizes``, ``read_batch`` and ``iter_pairs``."""

    name: str
    path: Path  # the mixture folder's manifest
    shards: list[Shard]
    cache: ShardCache
    skip_invalid: bool = False
    metadata: dict = field(default_factory=dict)  # the manifest entry's other fields (licence, ...)
    excluded_tasks: tuple[str, ...] = ()  # evaluation tasks whose texts the build kept out (manifest)
    skipped: list[str] = field(default_factory=list)  # load-time skips: none, rows are checked when read
    requirements: NegativeRequirements = field(default_factory=NegativeRequirements)  # more rules for each row

    def __post_init__(self) -> None:
        sizes = np.array([shard.rows for shard in self.shards], dtype=np.int64)
        self._ends = np.cumsum(sizes)  # (num_shards,) where each shard ends among the source's examples
        self._starts = self._ends - sizes

    @property
    def shard_sizes(self) -> list[int]:
        return [shard.rows for shard in self.shards]

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def read_batch(self, rows: np.ndarray, part: slice = slice(None)) -> tuple[list[Pair], list[str]]:
        """The pairs of examples ``rows[part]`` and a message per bad row of ``rows`` skipped.

        ``rows`` is the whole global batch (example indices), so that every rank replaces the same
        bad rows by the same good ones (see the module docstring); only ``rows[part]`` become pairs."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"source {self.name!r} has {len(self)} examples; asked for {rows.min()}..{rows.max()}")
        shard_of = np.searchsorted(self._ends, rows, side="right")  # (batch,) shard of each example
        local = rows - self._starts[shard_of]
        mine = np.zeros(len(rows), dtype=bool)
        mine[part] = True
        pairs: list[Pair | None] = [None] * len(rows)
        skipped: list[str] = []
        for k in dict.fromkeys(shard_of.tolist()):  # each shard the batch touches, in order of first use
            at = np.flatnonzero(shard_of == k)  # positions in the batch of this shard's rows
            shard = self.shards[k]
            decoded = self.cache.get(shard, self._decode)
            wanted = local[at]
            if self.skip_invalid and decoded.invalid[wanted].any():
                wanted, messages = replace_invalid(shard.path, decoded.table, decoded.invalid, wanted,
                                                   self.requirements)
                skipped += messages
            keep = mine[at]
            for position, pair in zip(at[keep], _pairs(decoded.table, wanted[keep]), strict=True):
                pairs[position] = pair
        return [pair for pair, own in zip(pairs, mine, strict=True) if own], skipped

    def iter_pairs(self) -> Iterator[Pair]:
        """Every valid pair, shard by shard in manifest order, one record batch in memory at a time."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        for shard in self.shards:
            columns = _columns(shard, self.requirements)
            offset = 0
            for batch in pq.ParquetFile(shard.path).iter_batches(batch_size=READ_BATCH_ROWS, columns=columns):
                table = pa.Table.from_batches([batch])
                invalid = checked_rows(shard.path, table, self.skip_invalid, self.requirements, offset)
                yield from _pairs(table, np.flatnonzero(~invalid))
                offset += table.num_rows

    def _decode(self, shard: Shard) -> DecodedShard:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(shard.path, columns=_columns(shard, self.requirements))
        except (pa.ArrowException, OSError) as err:
            raise PairFormatError(shard.path, None, None, f"not a readable Parquet file ({err})") from None
        if table.num_rows != shard.rows:
            raise PairFormatError(shard.path, None, None, f"holds {table.num_rows} rows, but {MANIFEST_NAME} "
                                                          f"lists {shard.rows}; rebuild the mixture")
        return DecodedShard(table, checked_rows(shard.path, table, self.skip_invalid, self.requirements))


def open_mixture(folder: str | Path, *, skip_invalid: bool = False, cache: ShardCache | None = None,
                 resident_shards: int = 0, requirements: NegativeRequirements | None = None) -> list[ShardedSource]:
    """The sources of a built mixture folder (or its ``manifest.json``), reading nothing but the manifest.

    All sources share ``cache``, by default a new :class:`ShardCache` of ``resident_shards`` shards
    (0: one per source plus one, so each source keeps its current shard and a batch can cross into
    the next). Raises ``ValueError`` for a manifest that cannot be used and :class:`PairFormatError`
    for a shard file that is missing."""
    base = Path(folder)
    if base.name == MANIFEST_NAME and base.is_file():
        base = base.parent
    manifest_path = base / MANIFEST_NAME
    try:
        manifest = read_manifest(base)  # raises for a missing manifest or another version
    except json.JSONDecodeError as err:
        raise ValueError(f"{manifest_path}: not valid JSON ({err})") from None
    entries = manifest.get("sources")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{manifest_path}: expected a non-empty list 'sources' of "
                         "{name, count, shards: [{file, rows}]}")
    excluded = tuple(manifest.get("evaluation_tasks") or ())
    if cache is None:
        cache = ShardCache(resident_shards or len(entries) + 1)
    requirements = requirements or NegativeRequirements()
    sources = [_source_from_entry(entry, base, manifest_path, cache, skip_invalid, excluded, requirements)
               for entry in entries]
    names = [source.name for source in sources]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"{manifest_path}: sources {duplicates} are listed more than once")
    return sources


def is_mixture(path: str | Path) -> bool:
    """True for a mixture folder (one holding ``manifest.json``) or a ``manifest.json`` file."""
    path = Path(path)
    return (path.is_dir() and (path / MANIFEST_NAME).is_file()) or (path.is_file() and path.name == MANIFEST_NAME)


def _source_from_entry(entry: Any, base: Path, manifest_path: Path, cache: ShardCache, skip_invalid: bool,
                       excluded_tasks: tuple[str, ...], requirements: NegativeRequirements) -> ShardedSource:
    if not (isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("shards"), list)):
        raise ValueError(f"{manifest_path}: each source needs 'name' (string) and 'shards' (list), got {entry!r:.200}")
    name = entry["name"]
    shards = []
    for k, item in enumerate(entry["shards"]):
        rows = item.get("rows") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(item.get("file"), str) or not isinstance(rows, int) or rows < 0:
            raise ValueError(f"{manifest_path}: source {name!r} shard {k}: expected {{file, rows}}, got {item!r:.200}")
        shards.append(Shard(base / item["file"], rows))  # relative to the mixture folder (or absolute)
    count = entry.get("count")
    total = sum(shard.rows for shard in shards)
    if count is not None and count != total:
        raise ValueError(f"{manifest_path}: source {name!r} has count {count}, but its shards hold {total} rows")
    if total == 0:
        raise ValueError(f"source {name!r} ({manifest_path}) is empty: its shards hold no rows")
    for shard in shards:
        if not shard.path.is_file():
            raise PairFormatError(shard.path, None, None, f"shard of source {name!r} listed in {manifest_path} "
                                                          "is missing")
    metadata = {key: value for key, value in entry.items() if key not in ("name", "shards")}
    return ShardedSource(name, manifest_path, shards, cache, skip_invalid, metadata, excluded_tasks,
                         requirements=requirements)


def _columns(shard: Shard, requirements: NegativeRequirements) -> list[str]:
    """The pair columns ``shard`` has, and the score columns when kept; raises when query or positive is missing."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        present = pq.read_schema(shard.path).names
    except (pa.ArrowException, OSError) as err:
        raise PairFormatError(shard.path, None, None, f"not a readable Parquet file ({err})") from None
    for name in ("query", "positive"):
        if name not in present:
            raise PairFormatError(shard.path, None, name, f"missing column (columns present: {', '.join(present)})")
    return [name for name in (*FIELDS, *requirements.extra_fields) if name in present]


def _pairs(table, rows: np.ndarray) -> list[Pair]:
    """Pairs of ``rows`` of a checked table (every text valid)."""
    if len(rows) == 0:
        return []
    taken = table.take(rows)
    queries = taken.column("query").to_pylist()
    positives = taken.column("positive").to_pylist()
    if "negatives" not in taken.column_names:
        return [Pair(q, p) for q, p in zip(queries, positives, strict=True)]
    negatives = taken.column("negatives").to_pylist()
    if not set(SCORE_FIELDS) & set(taken.column_names):
        return [Pair(q, p, tuple(n)) for q, p, n in zip(queries, positives, negatives, strict=True)]
    scores = [taken.column(name).to_pylist() if name in taken.column_names else [None] * len(rows)
              for name in SCORE_FIELDS]
    return [Pair(q, p, tuple(n), None if s is None else float(s), None if ns is None else tuple(map(float, ns)))
            for q, p, n, s, ns in zip(queries, positives, negatives, *scores, strict=True)]


def write_mixture(folder: str | Path, sources: dict[str, Iterable[Sequence[Pair]]], *,
                  evaluation_tasks: Sequence[str] = ()) -> Path:
    """Write a mixture folder that :func:`open_mixture` reads: ``{name: shards}``, each shard a sequence of
    pairs, written one at a time as ``DIR/<name>/part-NNNNN.parquet`` (query, positive, doc_id and, when a
    pair has them, negatives), then ``DIR/manifest.json`` with the fields read here. For tests, benchmarks
    and hand-made mixtures; ``gtekit data build`` writes the real ones, cleaned, with full provenance."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .manifest import MANIFEST_VERSION, write_manifest

    folder = Path(folder)
    entries = []
    for name, shards in sources.items():
        files, count = [], 0
        for k, pairs in enumerate(shards):
            columns = {"query": [p.query for p in pairs], "positive": [p.positive for p in pairs],
                       "doc_id": [f"{name}:{count + i}" for i in range(len(pairs))]}
            if any(p.negatives for p in pairs):
                columns["negatives"] = [list(p.negatives) for p in pairs]
            if any(p.negative_scores is not None for p in pairs):  # mining scores, as gtekit mine --with-scores
                columns["positive_score"] = [p.positive_score for p in pairs]
                columns["negative_scores"] = [None if p.negative_scores is None else list(p.negative_scores)
                                              for p in pairs]
            file = f"{name}/part-{k:05d}.parquet"
            (folder / name).mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table(columns), folder / file)
            files.append({"file": file, "rows": len(pairs)})
            count += len(pairs)
        entries.append({"name": name, "count": count, "shards": files})
    manifest = {"version": MANIFEST_VERSION, "evaluation_tasks": list(evaluation_tasks), "sources": entries,
                "total": {"count": sum(entry["count"] for entry in entries)}}
    return write_manifest(folder, manifest)
