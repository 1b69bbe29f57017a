"""Texts to embed: a .txt file (one text per line) or one string field of each JSONL row.

Errors name the file, the line and the field. Depends on nothing else in gtekit.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def read_texts(path: Path, field: str = "text") -> list[str]:
    """All texts of ``path``; empty lines of a .txt file are errors, not silently dropped."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    name = path.name
    is_jsonl = name.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson"))
    opener = gzip.open if name.endswith(".gz") else open
    texts = []
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid UTF-8 ({error.reason} at byte {error.start})") from None
            if is_jsonl:
                if not line.strip():
                    continue
                texts.append(_field(path, number, line, field))
            else:
                if not line.strip():
                    raise ValueError(f"{path}:{number}: empty line (one text per line expected)")
                texts.append(line)
    if not texts:
        raise ValueError(f"{path}: no texts")
    return texts


def _field(path: Path, number: int, line: str, field: str) -> str:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{number}: invalid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(row, dict) or field not in row:
        raise ValueError(f"{path}:{number}: missing field {field!r}")
    value = row[field]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{path}:{number}: field {field!r} must be a non-empty string, got {value!r}")
    return value
