"""Texts to embed: a .txt file (one text per line) or one string field of each JSONL row.

The line-level pieces (decoding with the line named, one JSON object per line, a non-empty text
field) are shared with the streaming reader of ``gtekit encode`` (``gtekit.inference.inputs``).
Errors name the file, the line and the field. Depends on nothing else in gtekit.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".json.gz")
MISSING = object()  # a field absent from its row, as opposed to one holding null


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
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8").rstrip("\r\n")
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
    """``value`` of ``field`` (``MISSING`` if absent): a string with more than white space."""
    if value is MISSING:
        raise ValueError(f"{path}:{number}: missing field {field!r}")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{path}:{number}: field {field!r} must be a non-empty string, got {value!r}")
    return value
