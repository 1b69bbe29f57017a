"""The checks of a streamed shard, column by column in Arrow, and what a batch does with its bad rows.

A decoded shard (a pyarrow Table of ``query``, ``positive``, maybe ``negatives`` and the mining scores) is
checked whole: a null, empty or whitespace-only text, or one whose bytes are not UTF-8, makes its row bad
(:func:`invalid_texts`), as do the rules of a source's ``NegativeRequirements`` (``negative_scores``). The
error of a bad row (:func:`row_error`) is the one the row-by-row reader of ``pairs`` gives, with the row
number and the field, because the row is checked again in Python (``negative_scores.pair_meeting``). With
``skip_invalid`` a batch's bad rows are replaced (:func:`replace_invalid`) by the next good rows of the
same shard, the same way on every rank.

Depends on ``rows``, ``negative_scores``, ``text_files``, numpy and pyarrow (imported when first used).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .negative_scores import SCORE_FIELDS, NegativeRequirements, failing_rows, pair_meeting
from .rows import PairFormatError, RowError
from .text_files import InvalidUtf8, arrow_strings


def checked_rows(path: Path, table, skip_invalid: bool, requirements: NegativeRequirements,
                 offset: int = 0) -> np.ndarray:
    """Which rows of ``table`` (rows ``offset`` on of the shard at ``path``) fail the checks, (rows,) bool;
    without ``skip_invalid`` the first such row raises :class:`PairFormatError` with its row and field."""
    invalid = invalid_texts(path, table)
    if requirements.active:
        invalid |= failing_rows(table, requirements, path)
    if invalid.any() and not skip_invalid:
        raise row_error(path, table, int(np.argmax(invalid)), requirements, offset)
    return invalid


def invalid_texts(path: Path, table) -> np.ndarray:
    """Rows with a null, empty or whitespace-only text or one whose bytes are not UTF-8, (rows,) bool,
    computed column-wise by Arrow (``utf8_is_space`` agrees with ``str.isspace`` on every code point)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def bad_texts(array) -> np.ndarray:
        if pa.types.is_null(array.type):
            return np.ones(len(array), dtype=bool)
        not_utf8 = _not_utf8(array)
        if not_utf8.any():  # bad anyway; made blank, as Arrow's text functions refuse them
            array = pc.if_else(pa.array(not_utf8), pa.scalar("", array.type), array)
        blank = pc.or_kleene(pc.equal(pc.utf8_length(array), 0), pc.utf8_is_space(array))
        return pc.fill_null(blank, True).to_numpy(zero_copy_only=False)

    invalid = np.zeros(table.num_rows, dtype=bool)
    for name in table.column_names:
        if name in SCORE_FIELDS:  # checked by negative_scores.failing_rows
            continue
        column = table.column(name).combine_chunks()
        if name in ("query", "positive"):
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
                    or pa.types.is_null(column.type)):
                raise PairFormatError(path, None, name, f"column of type {column.type}, expected string")
            invalid |= bad_texts(column)
            continue
        if pa.types.is_null(column.type):
            invalid[:] = True
            continue
        if not ((pa.types.is_list(column.type) or pa.types.is_large_list(column.type))
                and (pa.types.is_string(column.type.value_type) or pa.types.is_large_string(column.type.value_type)
                     or pa.types.is_null(column.type.value_type))):
            raise PairFormatError(path, None, name, f"column of type {column.type}, expected list<string>")
        invalid |= column.is_null().to_numpy(zero_copy_only=False)
        parents = pc.list_parent_indices(column).to_numpy()  # (values,) the row of each negative
        invalid[parents[bad_texts(pc.list_flatten(column))]] = True
    return invalid


def row_error(path: Path, table, row: int, requirements: NegativeRequirements,
              offset: int = 0) -> PairFormatError:
    """The error of a bad row, with the field and reason the row-by-row reader gives."""
    values = [arrow_strings(table.column(name).slice(row, 1))[0] for name in ("query", "positive")]
    negatives = arrow_strings(table.column("negatives").slice(row, 1))[0] if "negatives" in table.column_names else []
    extra = [table.column(name)[row].as_py() if name in table.column_names else None
             for name in requirements.extra_fields]
    try:
        pair_meeting(requirements, *values, negatives, *extra)
    except RowError as err:
        return PairFormatError(path, offset + row + 1, err.field, err.reason)
    raise AssertionError(f"{path}: row {offset + row + 1} failed Arrow's check but passed Python's")


def _not_utf8(array) -> np.ndarray:
    """(values,) bool: the strings of an Arrow string array whose bytes are not UTF-8."""
    import pyarrow as pa

    try:
        array.validate(full=True)  # the common case: all valid, checked in C++
        return np.zeros(len(array), dtype=bool)
    except pa.ArrowInvalid:
        return np.array([isinstance(value, InvalidUtf8) for value in arrow_strings(array)], dtype=bool)


def replace_invalid(path: Path, table, invalid: np.ndarray, wanted: np.ndarray,
                    requirements: NegativeRequirements) -> tuple[np.ndarray, list[str]]:
    """``wanted`` (rows of the shard at ``path``, decoded as ``table``, whose bad rows are ``invalid``) with each
    bad row replaced by the next good one the batch does not hold, and a message per replacement."""
    wanted = wanted.copy()
    size = len(invalid)
    taken = set(wanted.tolist())
    messages = []
    for i in np.flatnonzero(invalid[wanted]):
        bad = int(wanted[i])
        candidate = next((row for row in ((bad + step) % size for step in range(1, size))
                          if not invalid[row] and row not in taken), None)
        message = str(row_error(path, table, bad, requirements))
        if candidate is None:
            raise PairFormatError(path, bad + 1, None, f"no valid row of the shard is left to take the place "
                                                             f"of this bad row ({message})")
        taken.add(candidate)
        wanted[i] = candidate
        messages.append(f"{message} (skipped; row {candidate + 1} took its place)")
    return wanted, messages
