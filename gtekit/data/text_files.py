"""Texts to embed: a .txt file (one text per line) or one string field of each JSONL row.

The line-level pieces (decoding with the line named, one JSON object per line, a text field that
can be embedded) are shared with the streaming reader of ``gtekit encode`` (``gtekit.encode.text_inputs``).
Errors name the file, the line and the field. :func:`arrow_strings` reads an Arrow string column whose
bytes may not all be UTF-8 (Parquet files written by other tools), for every Parquet reader of gtekit.
Depends on ``gtekit.io.text_checks`` only; pyarrow is imported only by :func:`arrow_strings`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..io.text_checks import text_problem

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".json.gz")
MISSING = object()  # a field absent from its row, as opposed to one holding null


@dataclass(frozen=True)
class InvalidUtf8:
    """A value of an Arrow string column whose bytes are not UTF-8, in place of the str it cannot be."""

    reason: str  # "not valid UTF-8 (byte 0xff at byte 3)"


def read_texts(path: Path, field: str = "text") -> list[str]:
    """All texts of ``path``; empty lines of a .txt file are errors, not silently dropped."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    is_jsonl = path.name.endswith(JSONL_SUFFIXES)
    texts = []
    for number, line in numbered_lines(path):
        if is_jsonl:
            if not line.strip():
                continue
            row = json_object(path, number, line)
            texts.append(checked_text(path, number, row.get(field, MISSING), field))
        else:
            texts.append(text_line(path, number, line))
    if not texts:
        raise ValueError(f"{path}: no texts")
    return texts


def numbered_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(line number from 1, the line without its end) of a UTF-8 file, gzipped if its name ends in .gz."""
    for number, raw in numbered_raw_lines(path):
        yield number, decoded_line(path, number, raw)


def numbered_raw_lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, the line's bytes with its end) of a file, gzipped if its name ends in .gz."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        yield from enumerate(handle, start=1)


def decoded_line(path: str | Path, number: int, raw: bytes) -> str:
    """Line ``number`` of ``path`` as text, without its end. Strict UTF-8 decoding also refuses the bytes of
    a lone surrogate (ED A0 80 ...), so a decoded line never holds one."""
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}:{number}: not valid UTF-8 ({error.reason} at byte {error.start})") from None


def text_line(path: str | Path, number: int, line: str) -> str:
    """A line of a .txt file: one text, never empty."""
    if not line.strip():
        raise ValueError(f"{path}:{number}: empty line (one text per line expected)")
    return line


def json_object(path: str | Path, number: int, line: str) -> dict:
    """The JSON object on a line of a JSONL file."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{number}: invalid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(row, dict):
        raise ValueError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
    return row


def checked_text(path: str | Path, number: int, value: object, field: str) -> str:
    """``value`` of ``field`` (``MISSING`` if absent): a string with more than white space that has a UTF-8
    encoding (JSON's ``"\\ud800"`` escape makes a lone surrogate, which the tokenizer refuses)."""
    if value is MISSING:
        raise ValueError(f"{path}:{number}: missing field {field!r}")
    if isinstance(value, InvalidUtf8):
        raise ValueError(f"{path}:{number}: field {field!r}: {value.reason}")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{path}:{number}: field {field!r} must be a non-empty string, got {value!r}")
    problem = None if value.isascii() else text_problem(value)
    if problem is not None:
        raise ValueError(f"{path}:{number}: field {field!r} {problem}")
    return value


def arrow_strings(column) -> list:
    """``column.to_pylist()`` for an Arrow string or list<string> column (array or chunked array), with an
    :class:`InvalidUtf8` for each string whose bytes are not UTF-8, where ``to_pylist`` would raise for the
    whole column. Columns of other types are converted as they are."""
    import pyarrow as pa

    try:
        column.validate(full=True)  # checks the UTF-8 of every string, in C++
        return column.to_pylist()
    except pa.ArrowInvalid:
        binary = _binary_type(column.type)
        if binary == column.type:
            raise
    return [_decoded(value) for value in column.cast(binary).to_pylist()]


def _binary_type(arrow_type):
    """``arrow_type`` with its strings as binary (the same bytes, not decoded)."""
    import pyarrow as pa

    if pa.types.is_string(arrow_type):
        return pa.binary()
    if pa.types.is_large_string(arrow_type):
        return pa.large_binary()
    if pa.types.is_list(arrow_type):
        return pa.list_(_binary_type(arrow_type.value_type))
    if pa.types.is_large_list(arrow_type):
        return pa.large_list(_binary_type(arrow_type.value_type))
    return arrow_type


def _decoded(value: object) -> object:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as error:
            return InvalidUtf8(f"not valid UTF-8 (byte 0x{value[error.start]:02x} at byte {error.start})")
    if isinstance(value, list):
        return [_decoded(item) for item in value]
    return value
