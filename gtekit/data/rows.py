"""One row of a training source: the :class:`Pair` it becomes, and the checks its values must pass.

Every text must be a non-empty string that is not only whitespace and has a UTF-8 encoding (no lone
surrogate; no bytes that are not UTF-8, which ``text_files`` marks as :class:`InvalidUtf8`), and null is
never a valid value. :func:`pair_from_values` checks one row's values and raises :class:`RowError`
(the field and the reason) for a bad one; the reader that knows the file and the line turns it into a
:class:`PairFormatError`. The readers of files (``pairs``), of streamed shards (``streaming``) and the
rules on hard negatives (``negative_scores``) all build their pairs and errors here.

Depends on ``gtekit.io.text_checks`` and ``text_files`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..io.text_checks import text_problem
from .text_files import InvalidUtf8

FIELDS = ("query", "positive", "negatives")
JSON_TYPE_NAMES = {type(None): "null", bool: "boolean", int: "number", float: "number",
                   str: "string", list: "list", dict: "object"}


@dataclass(frozen=True, slots=True)
class Pair:
    """One training example: a query, its positive document and optional hard negatives, with the scores
    they were mined with when the reader was asked to keep them (``gtekit.data.negative_scores``)."""

    query: str
    positive: str
    negatives: tuple[str, ...] = ()
    positive_score: float | None = None  # s⁺, the query's score with the positive
    negative_scores: tuple[float, ...] | None = None  # s⁻_j, one per negative


class PairFormatError(ValueError):
    """A bad row or a damaged file; the message names the file, the line (or row) and the field."""

    def __init__(self, path: str | Path, line: int | None, field: str | None, reason: str) -> None:
        super().__init__(str(path), line, field, reason)  # all in args, so the error pickles
        self.path, self.line, self.field, self.reason = str(path), line, field, reason

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        what = "" if self.field is None else f"field '{self.field}': "
        return f"{where}: {what}{self.reason}"


class RowError(Exception):
    """A problem with one row, before the file and line are known."""

    def __init__(self, field: str | None, reason: str) -> None:
        super().__init__(field, reason)
        self.field, self.reason = field, reason


def pair_from_values(query: object, positive: object, negatives: object) -> Pair:
    """Check the three field values of one row and build its Pair; raises RowError."""
    if (_is_text(query) and _is_text(positive) and isinstance(negatives, list | tuple)
            and all(map(_is_text, negatives))):
        return Pair(query, positive, tuple(negatives))  # the common case, checked in one go
    _checked_text(query, "query")
    _checked_text(positive, "positive")
    if not isinstance(negatives, list | tuple):
        raise RowError("negatives", f"expected a list of strings, got {type_name(negatives)}")
    for k, text in enumerate(negatives):
        _checked_text(text, f"negatives[{k}]")
    raise AssertionError("unreachable: a row failed the quick check but passed the detailed one")


def type_name(value: object) -> str:
    """What JSON calls the type of ``value`` (``null``, ``number``, ``object``, ...), for error messages."""
    return JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _is_text(value: object) -> bool:
    return (isinstance(value, str) and not value.isspace() and value != ""
            and (value.isascii() or text_problem(value) is None))


def _checked_text(value: object, field: str) -> None:
    if isinstance(value, InvalidUtf8):
        raise RowError(field, value.reason)
    if not isinstance(value, str):
        raise RowError(field, f"expected a string, got {type_name(value)}")
    if not value or value.isspace():
        raise RowError(field, "empty or whitespace-only text")
    problem = text_problem(value)
    if problem is not None:
        raise RowError(field, f"text {problem}")
