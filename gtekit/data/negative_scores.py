"""What training may ask of each row's hard negatives beyond the pair format: a minimum number of
them, and the scores they were mined with.

``gtekit mine --with-scores`` writes two more fields per row (JSONL keys, or Parquet columns):

- ``positive_score``: a number, the query's score with its positive (s⁺);
- ``negative_scores``: a list of numbers, the query's score with each of ``negatives`` (s⁻_j), in the
  same order.

The readers ignore both (as any other field) unless :class:`NegativeRequirements` asks to keep them.
Then a value that is present must be a finite number, and ``negative_scores`` must hold one score per
negative; a missing field (or null) means "not scored". With ``min_count`` > 0 a row holding fewer
negatives is a bad row like any other: an error naming the file, line (or row) and field
``negatives``, or a skip with ``skip_invalid``.

The checks exist twice and agree: on one row in Python (:func:`pair_meeting`: JSONL, Parquet files
read whole) and on a whole decoded shard in Arrow (:func:`failing_rows`: streamed sources, which
re-check the first bad row in Python for its message). Depends on ``gtekit.data.rows`` and numpy;
pyarrow only for tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .rows import Pair, PairFormatError, RowError, pair_from_values, type_name

SCORE_FIELDS = ("positive_score", "negative_scores")


@dataclass(frozen=True)
class NegativeRequirements:
    """Rules a reader applies to every row on top of the pair format (nothing, by default)."""

    min_count: int = 0  # a row with fewer negatives is bad
    keep_scores: bool = False  # read positive_score / negative_scores into the Pair

    @property
    def extra_fields(self) -> tuple[str, ...]:
        """The fields to read besides query, positive and negatives."""
        return SCORE_FIELDS if self.keep_scores else ()

    @property
    def active(self) -> bool:
        return self.min_count > 0 or self.keep_scores


def pair_meeting(requirements: NegativeRequirements, query: object, positive: object, negatives: object,
                 positive_score: object = None, negative_scores: object = None) -> Pair:
    """The checked Pair of one row's values, with its scores when they are kept; raises RowError."""
    pair = pair_from_values(query, positive, negatives)
    if len(pair.negatives) < requirements.min_count:
        raise RowError("negatives", f"{len(pair.negatives)} negatives, fewer than the {requirements.min_count} "
                                     "required")
    if not requirements.keep_scores or (positive_score is None and negative_scores is None):
        return pair
    if negative_scores is not None:
        if not isinstance(negative_scores, list | tuple):
            raise RowError("negative_scores", f"expected a list of numbers, got {type_name(negative_scores)}")
        negative_scores = tuple(_number(value, f"negative_scores[{k}]") for k, value in enumerate(negative_scores))
        if len(negative_scores) != len(pair.negatives):
            raise RowError("negative_scores", f"{len(negative_scores)} scores for {len(pair.negatives)} negatives; "
                                               "one score per negative, in the same order")
    if positive_score is not None:
        positive_score = _number(positive_score, "positive_score")
    return Pair(pair.query, pair.positive, pair.negatives, positive_score, negative_scores)


def failing_rows(table, requirements: NegativeRequirements, path: str | Path) -> np.ndarray:
    """(rows,) bool: the rows of an Arrow ``table`` (columns as read from ``path``) that
    :func:`pair_meeting` would reject for its own rules (the pair format is checked elsewhere).
    A score column of the wrong type raises :class:`PairFormatError`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    bad = np.zeros(table.num_rows, dtype=bool)
    names = table.column_names
    counts = np.zeros(table.num_rows, dtype=np.int64)  # negatives per row
    if "negatives" in names and not pa.types.is_null(table.column("negatives").type):
        counts = _filled(pc.list_value_length(table.column("negatives").combine_chunks()), 0)
    bad |= counts < requirements.min_count
    if not requirements.keep_scores:
        return bad
    if "positive_score" in names:
        column = table.column("positive_score").combine_chunks()
        if not _numeric(column.type):
            raise PairFormatError(path, None, "positive_score", f"column of type {column.type}, expected a number")
        bad |= column.is_valid().to_numpy(zero_copy_only=False) & ~_finite(column)
    if "negative_scores" in names:
        column = table.column("negative_scores").combine_chunks()
        if pa.types.is_null(column.type):
            return bad
        if not ((pa.types.is_list(column.type) or pa.types.is_large_list(column.type))
                and _numeric(column.type.value_type)):
            raise PairFormatError(path, None, "negative_scores",
                                  f"column of type {column.type}, expected list<double>")
        present = column.is_valid().to_numpy(zero_copy_only=False)
        bad |= present & (_filled(pc.list_value_length(column), 0) != counts)
        parents = pc.list_parent_indices(column).to_numpy()  # (values,) the row of each score
        bad[parents[~_finite(pc.list_flatten(column))]] = True
    return bad


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError(field, f"expected a number, got {type_name(value)}")
    if not math.isfinite(value):
        raise RowError(field, f"not a finite number ({value})")
    return float(value)


def _numeric(arrow_type) -> bool:
    import pyarrow as pa

    return pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type) or pa.types.is_null(arrow_type)


def _finite(array) -> np.ndarray:
    """(len,) bool: each value is a finite number (null: False)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_null(array.type):
        return np.zeros(len(array), dtype=bool)
    if pa.types.is_integer(array.type):
        return array.is_valid().to_numpy(zero_copy_only=False)
    return _filled(pc.is_finite(array), False)


def _filled(array, value) -> np.ndarray:
    import pyarrow.compute as pc

    return pc.fill_null(array, value).to_numpy(zero_copy_only=False)
