"""Build a pre-training mixture: read every source, clean, split, de-duplicate, shard, then write the manifest.

For each source in mixture order::

    reader -> cleaning (empty, control chars, token length, query == positive)
           -> held-out split by doc_id ------------------------------> held-out pairs (kept aside)
           -> evaluation overlap (texts an evaluation task scores on)
           -> de-duplication against every pair kept so far (first source wins)
           -> DIR/<source>/part-NNNNN.parquet

Then the held-out pairs of every source lose exact duplicates of any training pair (and of each
other) and go to ``DIR/held-out/<source>/``, a tree that training never reads. They are validation
data, not evaluation data, so the evaluation-overlap filter does not apply to them: the stdlib
source's held-out modules *are* the PythonStdlibCodeSearch task.

The output folder belongs to the build: it is emptied first (only if it is empty or an earlier
build's, marked by ``.gtekit-data-build``), every shard is written atomically, and the manifest is
written last, so a build that stops part-way leaves no manifest and readers refuse the folder.
Held-out pairs and token lengths of the whole mix are held in memory (fine for millions of pairs).

This is the stage that ties readers and cleaning together. The evaluation guard comes in as an
:class:`EvaluationGuard` (the hashes of the texts the guard's tasks score on, and the hash function):
``gtekit.evaluation.mixture_guard`` makes one from a mixture's ``evaluation_guard``, so nothing here
imports evaluation. :class:`DataBuildSettings` are the settings of ``gtekit data build`` and of a data
stage of ``gtekit run``; ``gtekit.evaluation.mixture_guard.build_mixture_file`` runs them.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import numpy as np

from ..config import ConfigError
from .cleaning import CLEANING_FILTERS, CountTokens, PairCleaner, PairDeduplicator, load_token_counter
from .extract.base import MinedPair
from .manifest import MANIFEST_NAME, MANIFEST_VERSION, percentiles, write_manifest
from .mixture import MixtureSpec, SourceSpec
from .offline_sources import READERS, provenance, source_root
from .pair_shards import ShardWriter
from .source_reading import SourceReport

BUILD_MARKER = ".gtekit-data-build"
HELD_OUT_DIR = "held-out"
BATCH = 4096  # pairs tokenized at a time
FILTERS = (*CLEANING_FILTERS, "evaluation_overlap", "duplicate_within", "duplicate_across")
HELD_OUT_FILTERS = ("duplicate_within", "duplicate_of_training")


@dataclass
class DataBuildSettings:
    """A mixture YAML to build into a folder (``gtekit data build MIXTURE -o OUTPUT``)."""

    mixture: str = ""  # required: a mixture YAML (recipes/data/offline-mix.yaml is one)
    rows_per_shard: int | None = None  # default: the mixture's rows_per_shard
    output_dir: str | None = None  # the folder built into (a pipeline stage: default output_dir/<stage name>)

    def __post_init__(self) -> None:
        if not self.mixture:
            raise ConfigError("mixture is required (a mixture YAML, e.g. recipes/data/offline-mix.yaml)")
        if self.rows_per_shard is not None and self.rows_per_shard < 1:
            raise ConfigError(f"rows_per_shard must be at least 1, got {self.rows_per_shard}")


@dataclass(frozen=True)
class EvaluationGuard:
    """What a build keeps out of training: every pair whose query or positive hashes (``text_hash``) to one of
    ``hashes``, the texts that the evaluation ``tasks`` score on."""

    tasks: tuple[str, ...] = ()  # recorded in the manifest as evaluation_tasks
    hashes: frozenset[int] = frozenset()
    text_hash: Callable[[str], int] | None = None  # required when hashes is not empty


NO_GUARD = EvaluationGuard()  # nothing kept out, no task recorded


def build_mixture(spec: MixtureSpec, output: str | Path, *, guard: EvaluationGuard,
                  count_tokens: CountTokens | None = None, mixture_file: str | None = None,
                  log: Callable[[str], None] | None = None) -> dict:
    """Build ``spec`` into ``output``; return the manifest (also written to ``output/manifest.json``).

    ``guard`` holds the hashes of the texts of the spec's ``evaluation_guard`` tasks
    (``gtekit.evaluation.mixture_guard.mixture_guard``), or ``NO_GUARD``; ``count_tokens`` replaces the
    spec's tokenizer (tests)."""
    if guard.hashes and guard.text_hash is None:
        raise ValueError("an evaluation guard with hashes needs the text_hash that made them")
    start = time.monotonic()
    log = log or (lambda message: None)
    output = Path(output)
    _prepare_output(output)
    count_tokens = count_tokens or load_token_counter(spec.tokenizer)
    protected_hashes = frozenset(guard.hashes)
    text_hash = guard.text_hash if protected_hashes else None
    dedup = PairDeduplicator()
    entries, held_out = [], []
    for index, source in enumerate(spec.sources):
        log(f"{source.name}: reading ({source.reader})")
        entry, pairs = _build_source(index, source, spec, output, count_tokens, protected_hashes, text_hash, dedup)
        entries.append(entry)
        held_out.append(pairs)
        log(f"{source.name}: {entry['count']:,} pairs kept, {len(pairs):,} held out (before de-duplication), removed "
            + ", ".join(f"{k} {v:,}" for k, v in entry["filters"].items() if v))
    seen_held_out = PairDeduplicator()
    for entry, pairs in zip(entries, held_out, strict=True):
        entry["held_out"] |= _write_held_out(entry["name"], pairs, output, spec.rows_per_shard, dedup, seen_held_out)
    manifest = {
        "version": MANIFEST_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "gtekit_version": _gtekit_version(),
        "build_seconds": round(time.monotonic() - start, 1),
        "mixture": spec.to_dict(),
        "mixture_file": mixture_file,
        "tokenizer": spec.tokenizer,
        "evaluation_tasks": list(guard.tasks),
        "total": {"count": sum(e["count"] for e in entries), "held_out": sum(e["held_out"]["count"] for e in entries)},
        "sources": entries,
    }
    write_manifest(output, manifest)
    return manifest


def _build_source(index: int, source: SourceSpec, spec: MixtureSpec, output: Path, count_tokens: CountTokens,
                  protected: frozenset[int], text_hash: Callable[[str], int] | None,
                  dedup: PairDeduplicator) -> tuple[dict, list[MinedPair]]:
    reader = READERS[source.reader]
    root = source_root(source)
    report = SourceReport(skip_invalid=source.skip_invalid)
    cleaner = PairCleaner(source.cleaning, count_tokens)
    writer = ShardWriter(output / source.name, spec.rows_per_shard, relative_to=output)
    removed = Counter({name: 0 for name in FILTERS[len(CLEANING_FILTERS):]})
    held_out: list[MinedPair] = []
    query_lengths: list[np.ndarray] = []
    positive_lengths: list[np.ndarray] = []
    read = 0
    for batch in _batches(reader.read(root, source.options, report), BATCH):
        read += len(batch)
        pairs, query_tokens, positive_tokens = cleaner.clean(batch)
        keep = np.zeros(len(pairs), dtype=bool)  # (n,) goes to training
        for i, pair in enumerate(pairs):
            if reader.is_held_out(pair.doc_id, source.held_out):
                held_out.append(pair)
            elif text_hash is not None and not protected.isdisjoint((text_hash(pair.query), text_hash(pair.positive))):
                removed["evaluation_overlap"] += 1
            elif (duplicate := dedup.add(index, pair)) is not None:
                removed[duplicate] += 1
            else:
                keep[i] = True
        writer.add(pair for pair, kept in zip(pairs, keep, strict=True) if kept)
        query_lengths.append(query_tokens[keep])
        positive_lengths.append(positive_tokens[keep])
    shards = writer.close()
    count = sum(shard["rows"] for shard in shards)
    if count == 0:
        raise ValueError(f"source {source.name!r} has no training pairs left: {read} read, "
                         f"removed {dict(cleaner.removed + removed)}, {len(held_out)} held out, "
                         f"skipped {dict(report.skipped)}")
    entry = {
        "name": source.name, "kind": source.kind.value, "licence": source.licence, "weight": source.weight,
        "provenance": provenance(source, root),
        "documents": report.documents,
        "read": read,
        "skipped": dict(sorted(report.skipped.items())),
        "invalid_examples": report.examples,
        "filters": {name: {**cleaner.removed, **removed}[name] for name in FILTERS},
        "modified": dict(cleaner.modified),
        "count": count,
        "shards": shards,
        "held_out": {"fraction": source.held_out},
        "lengths": {"query": percentiles(np.concatenate(query_lengths)),
                    "positive": percentiles(np.concatenate(positive_lengths))},
    }
    return entry, held_out


def _write_held_out(name: str, pairs: list[MinedPair], output: Path, rows_per_shard: int,
                    training: PairDeduplicator, seen: PairDeduplicator) -> dict:
    removed = Counter({reason: 0 for reason in HELD_OUT_FILTERS})
    writer = ShardWriter(output / HELD_OUT_DIR / name, rows_per_shard, relative_to=output)
    kept = []
    for pair in pairs:
        if pair in training:
            removed["duplicate_of_training"] += 1
        elif seen.add(0, pair) is not None:
            removed["duplicate_within"] += 1
        else:
            kept.append(pair)
    writer.add(kept)
    return {"count": len(kept), "files": writer.close(), "filters": dict(removed)}


def _prepare_output(output: Path) -> None:
    """Make ``output`` an empty build folder: first drop its manifest, then everything else."""
    output.mkdir(parents=True, exist_ok=True)
    entries = list(output.iterdir())
    if entries and not (output / BUILD_MARKER).is_file():
        raise ValueError(f"{output} is not empty and was not written by `gtekit data build`; "
                         "give a new or empty folder")
    (output / MANIFEST_NAME).unlink(missing_ok=True)  # from here on the folder holds no finished build
    for entry in entries:
        if entry.name in (BUILD_MARKER, MANIFEST_NAME):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    (output / BUILD_MARKER).write_text("written by `gtekit data build`; the whole folder is rebuilt on every run\n")


def _batches(pairs: Iterable[MinedPair], size: int) -> Iterator[list[MinedPair]]:
    iterator = iter(pairs)
    while batch := list(islice(iterator, size)):
        yield batch


def _gtekit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gtekit")
    except PackageNotFoundError:
        return "unknown"


def size_on_disk(directory: str | Path) -> int:
    """Bytes of every file under ``directory``."""
    return sum(path.stat().st_size for path in Path(directory).rglob("*") if path.is_file())
