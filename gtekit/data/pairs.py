"""Training sources: files of (query, positive, negatives) pairs, read and checked row by row.

A source is one file, and its name is the file name without the extension:

- ``NAME.jsonl`` or ``NAME.jsonl.gz``: one JSON object per line,
  ``{"query": str, "positive": str, "negatives": [str, ...]}`` with ``negatives`` optional.
  Lines holding only whitespace are not rows and are ignored. Other fields are ignored.
- ``NAME.parquet``: columns ``query`` and ``positive`` (string) and optionally ``negatives``
  (list<string>); other columns are ignored.

Every text must be a non-empty string that is not only whitespace and has a UTF-8 encoding (no
lone surrogate, which JSON's ``"\\ud800"`` escape makes; no bytes that are not UTF-8 in a Parquet
string column), and null is never a valid value (the checks of ``gtekit.data.rows``). A bad row
raises :class:`PairFormatError`, whose message names the file, the 1-based line (blank lines counted;
for Parquet: the 1-based row) and the field, e.g.
``data/msmarco.jsonl:3: field 'positive': empty or whitespace-only text``. With
``skip_invalid=True`` bad rows are skipped instead and every skip is reported in the result.
A damaged file (corrupt gzip, unreadable Parquet, missing column) always raises.
Mining scores (``positive_score``, ``negative_scores``) and a minimum number of negatives per row are
read and checked only when asked for (``gtekit.data.negative_scores``).

A file is read whole into memory and is one "shard" of its source. A built mixture folder (one
holding ``manifest.json``, written by ``gtekit data build``) is instead streamed: see
``gtekit.data.streaming``. Both kinds of source offer the sampler and the trainer the same
``name``, ``shard_sizes``, ``read_batch`` and ``iter_pairs``.

Depends on ``rows``, ``text_files``, ``negative_scores`` and ``streaming`` (for a mixture folder); pyarrow
is imported only to read Parquet. ``Pair`` and ``PairFormatError`` (``rows``) can be imported from here too.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import glob
import gzip
import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from .negative_scores import NegativeRequirements, pair_meeting
from .rows import FIELDS, Pair, PairFormatError, RowError, pair_from_values, type_name
from .streaming import ShardCache, is_mixture, open_mixture
from .text_files import arrow_strings

SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
_MISSING = object()


@dataclass
class Source:
    """One training source held in memory: its name (the file name without extension), file, pairs and skips."""

    name: str
    path: Path
    pairs: list[Pair]
    skipped: list[str]  # one message per skipped row (only with skip_invalid=True)

    @property
    def shard_sizes(self) -> list[int]:
        """Rows per shard: a file in memory is one shard."""
        return [len(self.pairs)]

    def read_batch(self, rows: Sequence[int], part: slice = slice(None)) -> tuple[list[Pair], list[str]]:
        """The pairs of examples ``rows[part]``; no row is bad (bad rows were skipped when the file was read)."""
        return [self.pairs[i] for i in list(rows)[part]], []

    def iter_pairs(self) -> Iterator[Pair]:
        return iter(self.pairs)


def source_name(path: str | Path) -> str:
    """The source name of a file: its name without ``.jsonl``, ``.jsonl.gz`` or ``.parquet``."""
    name = Path(path).name
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    raise PairFormatError(path, None, None, f"unsupported file type; supported: {', '.join(SUFFIXES)}")


def read_pairs(path: str | Path, *, skip_invalid: bool = False,
               requirements: NegativeRequirements | None = None) -> tuple[list[Pair], list[str]]:
    """Read one source file; return ``(pairs, problems)``.

    With ``skip_invalid=False`` the first bad row raises :class:`PairFormatError` and ``problems``
    is empty. With ``skip_invalid=True`` bad rows are left out and ``problems`` holds one message
    per row left out, so ``len(problems)`` is the number of rows skipped. ``requirements`` adds the
    rules of ``gtekit.data.negative_scores`` (minimum negatives, keeping the mining scores).
    """
    path = Path(path)
    source_name(path)  # raises on an unsupported extension
    extra = requirements.extra_fields if requirements is not None else ()
    rows = _parquet_rows(path, extra) if path.name.endswith(".parquet") else _jsonl_rows(path, extra)
    make_pair = partial(pair_meeting, requirements) if requirements is not None and requirements.active \
        else pair_from_values
    pairs: list[Pair] = []
    problems: list[str] = []
    with _gc_paused():
        for line, row in rows:
            try:
                if isinstance(row, RowError):
                    raise row
                pairs.append(make_pair(*row))
            except RowError as err:
                error = PairFormatError(path, line, err.field, err.reason)
                if not skip_invalid:
                    raise error from None
                problems.append(str(error))
    return pairs, problems


def load_sources(paths: Sequence[str | Path], *, skip_invalid: bool = False, resident_shards: int = 0,
                 requirements: NegativeRequirements | None = None) -> list:
    """Read every source named by ``paths``, in order: a list of :class:`Source` and ``ShardedSource``.

    Each entry is a file, a directory (its ``*.jsonl``, ``*.jsonl.gz`` and ``*.parquet`` files,
    sorted, not recursive) or a glob pattern (matches sorted), read into memory; or a built mixture
    folder (or its ``manifest.json``), whose sources are streamed (``gtekit.data.streaming``): only
    the manifest is read here, and all streamed sources share one cache of ``resident_shards`` decoded
    shards (0: one per streamed source, plus one). Raises ``ValueError`` when an entry matches nothing,
    when two sources have the same name, or when a source has no pairs (for instance because every
    row was skipped). ``requirements`` applies to every row of every source (``read_pairs``).
    """
    if isinstance(paths, str | Path):
        raise TypeError("load_sources takes a list of paths; wrap a single path in a list")
    cache = ShardCache()
    entries: list[tuple[str, Path, object]] = []  # (name, where, a file to read or a streamed source)
    for entry in paths:
        if is_mixture(entry):
            entries += [(source.name, source.path, source) for source in
                        open_mixture(entry, skip_invalid=skip_invalid, cache=cache, requirements=requirements)]
        else:
            entries += [(source_name(file), file, file) for file in _expand(entry)]
    if not entries:
        raise ValueError("no training sources given")
    seen: dict[str, Path] = {}
    for name, where, _ in entries:
        if name in seen:
            raise ValueError(f"two sources are both named {name!r}: {seen[name]} and {where}; "
                             "rename one (the source name is the file name without extension)")
        seen[name] = where
    streamed = sum(not isinstance(item, Path) for _, _, item in entries)
    cache.capacity = resident_shards or streamed + 1
    sources = []
    for name, _, item in entries:
        if not isinstance(item, Path):
            sources.append(item)
            continue
        pairs, skipped = read_pairs(item, skip_invalid=skip_invalid, requirements=requirements)
        if not pairs:
            detail = f"all {len(skipped)} rows were skipped; first: {skipped[0]}" if skipped else "no rows"
            raise ValueError(f"source {name!r} ({item}) is empty: {detail}")
        sources.append(Source(name=name, path=item, pairs=pairs, skipped=skipped))
    return sources


def _expand(entry: str | Path) -> list[Path]:
    """The source files named by one entry of ``load_sources``."""
    path = Path(entry)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(SUFFIXES))
        if not files:
            raise ValueError(f"directory {path} holds no source files ({', '.join(SUFFIXES)})")
        return files
    if path.is_file():
        return [path]
    if glob.has_magic(str(entry)):
        files = sorted(Path(match) for match in glob.glob(str(entry)) if Path(match).is_file())
        if not files:
            raise ValueError(f"pattern {str(entry)!r} matches no files")
        return files
    raise ValueError(f"no such file or directory: {entry}")


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector, which would otherwise rescan the millions of new objects
    that reading a large file creates (none of them in reference cycles) many times over."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _jsonl_rows(path: Path, extra: tuple[str, ...] = ()) -> Iterator[tuple[int, tuple[object, ...] | RowError]]:
    """(line number, field values or the line's error) for each non-blank line of a JSONL file: query,
    positive, negatives, then each of ``extra`` (None when missing)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    line = 0
    try:
        with opener(path, "rb") as file:
            for line, raw in enumerate(file, start=1):
                if raw.isspace():
                    continue
                try:
                    values: tuple[object, ...] | RowError = _parse_json_line(raw, first=line == 1, extra=extra)
                except RowError as err:
                    values = err
                yield line, values
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        where = f"after line {line}" if line else "before the first line"
        raise PairFormatError(path, None, None, f"corrupt or truncated gzip data {where} ({err})") from None


def _parse_json_line(raw: bytes, *, first: bool, extra: tuple[str, ...] = ()) -> tuple[object, ...]:
    """The (query, positive, negatives, *extra) values of one JSONL line; raises RowError."""
    if first and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        reason = f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at byte {err.start} of the line)"
        raise RowError(_undecodable_field(raw), reason) from None
    try:
        row = json.loads(text)
    except json.JSONDecodeError as err:
        raise RowError(None, f"not valid JSON ({err})") from None
    if not isinstance(row, dict):
        raise RowError(None, f"row is a JSON {type_name(row)}, expected an object with fields "
                              "'query', 'positive' and optionally 'negatives'")
    query, positive = row.get("query", _MISSING), row.get("positive", _MISSING)
    if query is _MISSING or positive is _MISSING:
        missing = "query" if query is _MISSING else "positive"
        raise RowError(missing, f"missing (row has fields: {', '.join(map(repr, row)) or 'none'})")
    values = (query, positive, row.get("negatives", ()))
    return values + tuple(row.get(name) for name in extra) if extra else values


def _undecodable_field(raw: bytes) -> str | None:
    """The field whose text holds the bytes that are not UTF-8, when the line is otherwise JSON."""
    try:
        row = json.loads(raw.decode("utf-8", "surrogateescape"))
    except json.JSONDecodeError:
        return None
    if not isinstance(row, dict):
        return None
    negatives = row.get("negatives")
    texts = [(field, row.get(field)) for field in ("query", "positive")]
    if isinstance(negatives, list):
        texts += [(f"negatives[{k}]", text) for k, text in enumerate(negatives)]
    for field, text in texts:
        if isinstance(text, str) and any("\udc80" <= char <= "\udcff" for char in text):
            return field
    return None


def _parquet_rows(path: Path, extra: tuple[str, ...] = ()) -> Iterator[tuple[int, tuple[object, ...]]]:
    """(row number, values) for each row of a Parquet file: query, positive, negatives, then each of
    ``extra`` (None when the column is missing)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        present = pq.read_schema(path).names
        for field in ("query", "positive"):
            if field not in present:
                raise PairFormatError(path, None, field,
                                      f"missing column (columns present: {', '.join(present) or 'none'})")
        columns = [field for field in (*FIELDS, *extra) if field in present]
        table = pq.read_table(path, columns=columns)
    except pa.ArrowException as err:
        raise PairFormatError(path, None, None, f"not a readable Parquet file ({err})") from None
    queries = arrow_strings(table.column("query"))
    positives = arrow_strings(table.column("positive"))
    negatives = arrow_strings(table.column("negatives")) if "negatives" in columns else [()] * len(queries)
    extras = [table.column(name).to_pylist() if name in columns else [None] * len(queries) for name in extra]
    yield from enumerate(zip(queries, positives, negatives, *extras, strict=True), start=1)
