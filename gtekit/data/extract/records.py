"""Records from JSON, JSON lines and CSV/TSV files, and the fields of a record named by dotted paths.

The miners of records (question/answer, entity/description, title/content) read through this
module, so they accept the same formats and the same ``--field ROLE=PATH`` mappings:

- ``.jsonl``/``.ndjson``: one JSON object per line (blank lines ignored);
- ``.json``: a list of objects; an object of objects (``{"key": {...}}``, the key available as the
  field ``_key``); an object of texts or lists of texts (``{"term": "definition"}``: fields ``_key``
  and ``_value``);
  or one object (one record);
- ``.csv``/``.tsv``: a header row, then one record per row.

A path is a field name, or names joined by dots that go into nested objects; a list on the way is
gone through item by item, so ``pos.definitions.text`` gives every definition's text of every part
of speech. Numbers become text; empty strings, nulls and other values are left out.
Bad lines and rows are skipped and counted. Depends on the standard library and ``base``/``files``.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator, Mapping, Sequence

from .base import MineReport
from .input_files import InputFile

RECORD_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".tsv")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # news articles are longer than the 128 KiB default


def iter_records(file: InputFile, text: str, report: MineReport) -> Iterator[tuple[str, dict]]:
    """Yield (location, record) for every record of one file; ``location`` is ``name:line``,
    ``name#key`` or ``name[index]``. The file's suffix must be one of ``RECORD_SUFFIXES``."""
    suffix = file.suffix
    if suffix in (".jsonl", ".ndjson"):
        yield from _json_lines(file.name, text, report)
    elif suffix == ".json":
        yield from _json_document(file, text, report)
    elif suffix in (".csv", ".tsv"):
        yield from _csv_rows(file.name, text, "\t" if suffix == ".tsv" else ",", report)
    else:
        raise ValueError(f"not a record file: {file.name} (supported: {', '.join(RECORD_SUFFIXES)})")


def _json_lines(name: str, text: str, report: MineReport) -> Iterator[tuple[str, dict]]:
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            report.skip("invalid JSON line")
            continue
        if not isinstance(record, dict):
            report.skip("JSON line is not an object")
            continue
        yield f"{name}:{number}", record


def _json_document(file: InputFile, text: str, report: MineReport) -> Iterator[tuple[str, dict]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        report.fail(file.location, "invalid JSON file", str(error))
        return
    if isinstance(document, list):
        for index, record in enumerate(document):
            if isinstance(record, dict):
                yield f"{file.name}[{index}]", record
            else:
                report.skip("JSON list item is not an object")
    elif isinstance(document, dict) and document and all(isinstance(v, dict) for v in document.values()):
        for key, record in document.items():
            yield f"{file.name}#{key}", {"_key": key, **record}
    elif isinstance(document, dict) and document and all(_is_texts(v) for v in document.values()):
        for key, value in document.items():
            yield f"{file.name}#{key}", {"_key": key, "_value": value}
    elif isinstance(document, dict):
        yield file.name, document
    else:
        report.skip("JSON file holds neither objects nor a list")


def _is_texts(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _csv_rows(name: str, text: str, delimiter: str, report: MineReport) -> Iterator[tuple[str, dict]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            report.skip("empty CSV file")
            return
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                report.skip("CSV row with the wrong number of columns")
                continue
            yield f"{name}:{reader.line_num}", dict(zip(header, row, strict=True))
    except csv.Error:
        report.skip("malformed CSV (rest of file)")


def field_values(record: Mapping, path: str) -> list[str]:
    """The non-empty texts at ``path`` in ``record`` (see the module docstring), stripped, in order."""
    values: list[object] = [record]
    for key in path.split("."):
        found: list[object] = []
        for value in values:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict) and key in item:
                    found.append(item[key])
        values = found
    texts: list[str] = []
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool):
                continue
            if isinstance(item, int | float):
                item = str(item)
            if isinstance(item, str) and item.strip():
                texts.append(item.strip())
    return texts


def resolve_fields(roles: Mapping[str, Sequence[str]], mapping: Mapping[str, str] | None) -> dict[str, tuple[str, ...]]:
    """The candidate paths of each role: the one path given in ``mapping``, else the defaults in ``roles``.

    Raises ``ValueError`` for a role that is not one of ``roles``.
    """
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - set(roles))
    if unknown:
        raise ValueError(f"unknown field role(s) {', '.join(unknown)}; valid roles: {', '.join(roles)}")
    return {role: (mapping[role],) if role in mapping else tuple(defaults) for role, defaults in roles.items()}


def first_present(record: Mapping, candidates: Sequence[str]) -> list[str]:
    """The values of the first candidate path that gives any text, or ``[]``."""
    for path in candidates:
        values = field_values(record, path)
        if values:
            return values
    return []
