"""Reading package data files row by row, with errors that name the file, the line (or entry) and the field.

:class:`SourceReport` is a miner's report that also knows whether the source skips invalid rows:
``report.invalid(path, line, field, reason)`` raises :class:`SourceFormatError` unless the source
sets ``skip_invalid: true``, in which case the row is counted as ``invalid`` (and the first few
messages kept). Helpers here decode text, split lines and check fields the same way for every
reader of ``offline_sources``. A text with a lone surrogate (JSON's ``"\\ud800"`` escape, a Python string
literal's ``\\ud800``) is an invalid row like any other: it has no UTF-8 encoding, so neither the
Parquet shards of the build nor the tokenizer can take it. Depends on the standard library,
``gtekit.io.text_checks`` and ``miners.base``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..io.text_checks import text_problem
from .extract.base import MineReport

MAX_EXAMPLES = 5  # skipped rows whose messages a report keeps


class SourceFormatError(ValueError):
    """Malformed input: the message names the file, the line or entry, and the field."""

    def __init__(self, path: str | Path, where: int | str | None, field: str | None, reason: str) -> None:
        super().__init__(str(path), where, field, reason)
        self.path, self.where, self.field, self.reason = str(path), where, field, reason

    def __str__(self) -> str:
        if self.where is None:
            place = self.path
        elif isinstance(self.where, int):
            place = f"{self.path}:{self.where}"  # a line
        else:
            place = f"{self.path} ({self.where})"  # an entry or a conversation
        return f"{place}: {'' if self.field is None else f'field {self.field!r}: '}{self.reason}"


@dataclass
class SourceReport(MineReport):
    """A miner's report plus the rows skipped as invalid (only with ``skip_invalid``)."""

    skip_invalid: bool = False
    examples: list[str] = field(default_factory=list)  # the first few invalid rows

    def invalid(self, path: str | Path, where: int | str | None, field: str | None, reason: str) -> None:
        error = SourceFormatError(path, where, field, reason)
        if not self.skip_invalid:
            raise error
        self.skip("invalid")
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(str(error))


def package_path(root: Path, relative: str) -> Path:
    """``relative`` in an unpacked wheel (``root/relative``) or sdist (``root/NAME-VERSION/relative``)."""
    for candidate in (root / relative, *sorted(root.glob(f"*/{relative}"))):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{relative} not found in the package unpacked at {root}")


def decode_text(path: Path, data: bytes, report: SourceReport) -> str:
    """The UTF-8 text of a whole file; with skip_invalid, bad bytes become U+FFFD (caught per row)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if not report.skip_invalid:
            line = data[: error.start].count(b"\n") + 1
            raise SourceFormatError(path, line, None, f"not valid UTF-8 ({error.reason} at byte "
                                                      f"{error.start})") from None
        return data.decode("utf-8-sig", errors="replace")


def text_lines(path: Path, data: bytes, report: SourceReport) -> Iterator[tuple[int, str]]:
    """(1-based number, text) of each line; an undecodable line is invalid."""
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            report.invalid(path, number, None, f"not valid UTF-8 ({error.reason} at byte {error.start})")


def checked_text(value: object, path: Path, where: int | str, name: str, report: SourceReport) -> str | None:
    """``value`` if it is a decoded string with a UTF-8 encoding; otherwise the row is reported invalid and
    None returned. Empty texts are returned: the cleaning counts them (``cleaning``, filter ``empty``)."""
    if value is None:
        report.invalid(path, where, name, "missing")
    elif not isinstance(value, str):
        report.invalid(path, where, name, f"expected a string, got {type(value).__name__}")
    elif "\ufffd" in value and report.skip_invalid:
        report.invalid(path, where, name, "not valid UTF-8")
    elif (problem := unencodable(value)) is not None:
        report.invalid(path, where, name, problem)
    else:
        return value
    return None


def unencodable(text: str) -> str | None:
    """Why ``text`` has no UTF-8 encoding (a lone surrogate), or None; empty texts are not judged here."""
    if text.isascii() or not text.strip():
        return None
    return text_problem(text)


def csv_rows(path: Path, text: str, needed: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    """(line, row) of a CSV file with a header; a needed column that is missing raises."""
    rows = csv.DictReader(io.StringIO(text, newline=""))
    missing = [name for name in needed if name not in (rows.fieldnames or [])]
    if missing:
        raise SourceFormatError(path, 1, missing[0], f"column missing from the header {rows.fieldnames}")
    for row in rows:
        yield rows.line_num, row
