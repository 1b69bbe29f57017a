"""Texts to encode, streamed with their ids from .txt, .jsonl(.gz) and .parquet files, never loaded whole.

- ``.txt``: one text per line; an empty or whitespace-only line is an error (line numbers are ids).
- ``.jsonl``, ``.jsonl.gz``, ``.ndjson``, ``.json.gz``: one JSON object per line, the text in
  ``text_field``; blank lines are not rows and are passed over (their numbers are not ids).
- ``.parquet``: the text in column ``text_field``, read one record batch at a time.

A record's id is its ``id_field`` value (JSONL and Parquet; a string or an integer) or, by default,
``"<file>:<n>"``: the file as given and its line number (rows of a Parquet file counted from 1 too).
A text must be a string with more than whitespace and a UTF-8 encoding (no lone surrogate, which
JSON's ``"\\ud800"`` escape makes; no bytes that are not UTF-8). A bad row is an error naming the file,
the line (or row) and the field; when the caller passes a ``skipped`` list, it is left out and listed
there (:class:`SkippedRow`) instead, so the output never lacks a row unaccounted for. A damaged or
missing file is always an error. :func:`input_fingerprint` hashes an input file, so that a resumed encoding
can tell whether it changed. Depends on pyarrow, ``gtekit.io.text_checks`` and the line readers of
``gtekit.data.text_files``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from ..data.text_files import (
    JSONL_SUFFIXES,
    MISSING,
    arrow_strings,
    checked_text,
    decoded_line,
    json_object,
    numbered_raw_lines,
    text_line,
)
from ..io.text_checks import text_problem

PARQUET_BATCH_ROWS = 8192
COUNT_CHUNK_BYTES = 1 << 22


class InputFormat(Enum):
    TXT = "txt"
    JSONL = "jsonl"
    PARQUET = "parquet"


SUFFIXES: dict[tuple[str, ...], InputFormat] = {
    (".txt",): InputFormat.TXT,
    JSONL_SUFFIXES: InputFormat.JSONL,
    (".parquet",): InputFormat.PARQUET,
}


@dataclass(frozen=True)
class TextRecord:
    """One text to encode and the id it is stored under."""

    id: str
    text: str


@dataclass(frozen=True)
class SkippedRow:
    """A row left out because it is not a valid record: where it is, its id when it has a readable one, and why."""

    file: str
    line: int  # 1-based line (Parquet: row)
    id: str | None
    problem: str  # the error it would have raised, naming the file, line and field

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "file": self.file, "line": self.line, "problem": self.problem}


def input_format(path: str | Path) -> InputFormat:
    """The format of ``path`` from its name; an unknown suffix lists the valid ones."""
    name = Path(path).name
    for suffixes, kind in SUFFIXES.items():
        if name.endswith(suffixes):
            return kind
    valid = ", ".join(suffix for suffixes in SUFFIXES for suffix in suffixes)
    raise ValueError(f"{path}: unknown input type; valid: {valid}")


def check_inputs(paths: Sequence[str | Path], text_field: str, id_field: str | None) -> None:
    """Fail before any encoding on a missing file, an unknown suffix or a Parquet file lacking a column."""
    if not paths:
        raise ValueError("no input files")
    for path in paths:
        if not Path(path).exists() or Path(path).is_dir():  # a named pipe is fine: it is streamed like a file
            raise FileNotFoundError(f"{path}: no such file")
        if input_format(path) is InputFormat.PARQUET:
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            for column in (text_field, id_field):
                if column is not None and column not in names:
                    raise ValueError(f"{path}: no column {column!r}; columns: {', '.join(names)}")


def iter_records(paths: Sequence[str | Path], *, text_field: str = "text", id_field: str | None = None,
                 skipped: list[SkippedRow] | None = None) -> Iterator[TextRecord]:
    """Every record of ``paths``, file after file, in file order. A bad row raises a ValueError naming the
    file, line and field; with a ``skipped`` list, it is appended there instead and left out."""
    for path in paths:
        kind = input_format(path)
        if kind is InputFormat.TXT:
            yield from _txt_records(str(path), skipped)
        elif kind is InputFormat.JSONL:
            yield from _jsonl_records(str(path), text_field, id_field, skipped)
        else:
            yield from _parquet_records(str(path), text_field, id_field, skipped)


def input_fingerprint(path: str | Path) -> dict[str, Any]:
    """``{"path", "size", "mtime_ns", "sha256"}`` of an input file, the SHA-256 of its bytes read in chunks:
    what a resumed encoding checks the file against. Anything but a regular file (a named pipe can be read
    once only) gets ``{"path"}`` alone, and cannot be checked."""
    if not Path(path).is_file():
        return {"path": str(path)}
    with open(path, "rb") as handle:
        status = os.fstat(handle.fileno())
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return {"path": str(path), "size": status.st_size, "mtime_ns": status.st_mtime_ns, "sha256": digest}


def count_records(paths: Sequence[str | Path]) -> int | None:
    """The number of records, for a progress bar: exact for .parquet (its footer), the number of lines
    for uncompressed text files (an upper bound for JSONL with blank lines); None if any file is gzipped
    or not a regular file (a named pipe can be read once only)."""
    total = 0
    for path in paths:
        kind = input_format(path)
        if not Path(path).is_file():
            return None
        if kind is InputFormat.PARQUET:
            import pyarrow.parquet as pq

            total += pq.read_metadata(path).num_rows
        elif str(path).endswith(".gz"):
            return None
        else:
            total += _count_lines(Path(path))
    return total


def _count_lines(path: Path) -> int:
    lines, last = 0, b"\n"
    with open(path, "rb") as handle:
        while chunk := handle.read(COUNT_CHUNK_BYTES):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def _txt_records(path: str, skipped: list[SkippedRow] | None) -> Iterator[TextRecord]:
    for number, raw in numbered_raw_lines(path):
        try:
            record = TextRecord(f"{path}:{number}", text_line(path, number, decoded_line(path, number, raw)))
        except ValueError as error:
            _skip(skipped, error, path, number, f"{path}:{number}")
            continue
        yield record


def _jsonl_records(path: str, text_field: str, id_field: str | None,
                   skipped: list[SkippedRow] | None) -> Iterator[TextRecord]:
    for number, raw in numbered_raw_lines(path):
        row: dict | None = None
        try:
            line = decoded_line(path, number, raw)
            if not line.strip():
                continue
            row = json_object(path, number, line)
            record = _record(path, number, row.get(text_field, MISSING), text_field,
                             row.get(id_field, MISSING) if id_field else None, id_field)
        except ValueError as error:
            _skip(skipped, error, path, number, _readable_id(path, number, row, id_field))
            continue
        yield record


def _skip(skipped: list[SkippedRow] | None, error: ValueError, path: str, number: int, ident: str | None) -> None:
    """Raise ``error``, or list the row in ``skipped`` when the caller keeps such a list."""
    if skipped is None:
        raise error
    skipped.append(SkippedRow(path, number, ident, str(error)))


def _readable_id(path: str, number: int, row: dict | None, id_field: str | None) -> str | None:
    """The id of a bad row, where it has one (its default id, or a valid ``id_field`` value)."""
    if id_field is None:
        return f"{path}:{number}"
    value = row.get(id_field) if row is not None else None
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def _parquet_records(path: str, text_field: str, id_field: str | None,
                     skipped: list[SkippedRow] | None) -> Iterator[TextRecord]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    columns = [text_field] if id_field is None else [text_field, id_field]
    missing = [column for column in columns if column not in parquet.schema_arrow.names]
    if missing:
        raise ValueError(f"{path}: no column {missing[0]!r}; columns: {', '.join(parquet.schema_arrow.names)}")
    number = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns):
        texts = arrow_strings(batch.column(text_field))
        ids = arrow_strings(batch.column(id_field)) if id_field else [None] * len(texts)
        for text, value in zip(texts, ids, strict=True):
            number += 1
            try:
                record = _record(path, number, text, text_field, value, id_field)
            except ValueError as error:
                _skip(skipped, error, path, number, _readable_id(path, number, {id_field: value}, id_field))
                continue
            yield record


def _record(path: str, number: int, text: object, text_field: str, value: object, id_field: str | None) -> TextRecord:
    text = checked_text(path, number, text, text_field)
    if id_field is None:
        return TextRecord(f"{path}:{number}", text)
    if value is MISSING:
        raise ValueError(f"{path}:{number}: missing id field {id_field!r}")
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise ValueError(f"{path}:{number}: id field {id_field!r} must be a non-empty string or an integer, "
                         f"got {value!r}")
    if isinstance(value, str) and not value.isascii() and value.strip() and (problem := text_problem(value)):
        raise ValueError(f"{path}:{number}: id field {id_field!r} {problem}")
    return TextRecord(str(value), text)
