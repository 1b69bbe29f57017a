"""Which retrieved candidates become hard negatives: pure rules on (scores, candidate ids) arrays.

For each query, with s⁺ its positive's score (the lowest one when it has several: the hardest
positive sets the margins, as in sentence-transformers), a candidate is dropped, first rule first:

1. ``POSITIVE``: it is one of the query's known positives (the same corpus text);
   ``QUERY_TEXT``: it is the query's own text (a query is a false negative of itself);
2. ``ABSOLUTE_MARGIN``: ``score + absolute_margin > s⁺``;
3. ``RELATIVE_MARGIN``: ``score > s⁺ - |s⁺| · relative_margin``. For s⁺ > 0 this is Arctic-Embed's
   "drop candidates scoring above 0.95 × the positive" with ``relative_margin = 0.05``: such
   candidates are likely unlabelled positives (false negatives);
4. ``MAX_SCORE``: ``score > max_score``; ``MIN_SCORE``: ``score < min_score``.

The candidates left, in descending score order, are ranked 0, 1, 2, ...; those ranked in
``[range_min, range_max)`` form the window (``RANK_RANGE`` marks the others), and ``num_negatives``
of the window are taken: the highest-scoring (``top``), or a seeded random choice (``random``)
whose key hashes (seed, query id, candidate id), so it does not depend on chunking or run order.
These are exactly the rules of sentence-transformers' ``util.mine_hard_negatives`` (ranks count
candidates left after the rules, and a corpus text equal to the query is never a negative, since
sentence-transformers 6.3), so with the same search depth both select the same negatives.

Depends on numpy only: no model, no files.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

import numpy as np

MAX_RELATIVE_MARGIN = 0.5


class Sampling(StrEnum):
    TOP = "top"
    RANDOM = "random"

    @classmethod
    def parse(cls, value: str | Sampling) -> Sampling:
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown sampling {value!r}; valid: {', '.join(s.value for s in cls)}") from None


class Reason(IntEnum):
    """What happened to one candidate; dropping rules in the order they apply."""

    NONE = 0  # no candidate in this slot (fewer than k retrieved)
    POSITIVE = 1
    QUERY_TEXT = 2  # the query's own text
    ABSOLUTE_MARGIN = 3
    RELATIVE_MARGIN = 4
    MAX_SCORE = 5
    MIN_SCORE = 6
    RANK_RANGE = 7  # passed the rules, ranked outside [range_min, range_max)
    NOT_SAMPLED = 8  # in the window, not chosen
    SELECTED = 9


FALSE_NEGATIVE_REASONS = (Reason.ABSOLUTE_MARGIN, Reason.RELATIVE_MARGIN, Reason.MAX_SCORE)


@dataclass(frozen=True)
class SelectionRules:
    """The rules of the module docstring; ``None`` turns a rule off."""

    num_negatives: int = 15  # GTE §3.4: train group size 16 = one positive and 15 negatives
    range_min: int = 0
    range_max: int | None = None
    absolute_margin: float | None = None
    relative_margin: float | None = 0.05  # Arctic-Embed: drop candidates above 0.95 × the positive's score
    max_score: float | None = None
    min_score: float | None = None
    sampling: Sampling = Sampling.TOP
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "sampling", Sampling.parse(self.sampling))
        if self.num_negatives < 1:
            raise ValueError(f"num_negatives must be >= 1, got {self.num_negatives}")
        if self.range_min < 0:
            raise ValueError(f"range_min must be >= 0, got {self.range_min}")
        if self.range_max is not None and self.range_max - self.range_min < self.num_negatives:
            raise ValueError(f"cannot take {self.num_negatives} negatives from ranks [{self.range_min}, "
                             f"{self.range_max}): widen the range or lower num_negatives")
        margin = self.relative_margin
        if margin is not None and not 0 <= margin <= MAX_RELATIVE_MARGIN:
            raise ValueError(
                f"relative_margin must lie in [0, {MAX_RELATIVE_MARGIN}], got {margin}: it is the gap below the "
                f"positive's score, as a fraction of it. Arctic-Embed's 'drop candidates above 0.95 x the "
                f"positive' is relative_margin=0.05; {margin} would drop everything above "
                f"{1 - margin:.2g} x the positive")
        if self.max_score is not None and self.min_score is not None and self.min_score > self.max_score:
            raise ValueError(f"min_score {self.min_score} is above max_score {self.max_score}: nothing could pass")


@dataclass(frozen=True)
class Selection:
    """The outcome for Q queries of K candidates each."""

    ids: np.ndarray  # (Q, num_negatives) selected corpus ids in descending score order, -1 padded
    scores: np.ndarray  # (Q, num_negatives) their scores, -inf padded
    reasons: np.ndarray  # (Q, K) int8 Reason of every candidate, aligned with the input
    counts: np.ndarray  # (Q,) negatives selected per query


def select_negatives(scores: np.ndarray, ids: np.ndarray, positive_ids: np.ndarray, positive_scores: np.ndarray,
                     rules: SelectionRules, query_ids: np.ndarray | None = None,
                     query_corpus_ids: np.ndarray | None = None) -> Selection:
    """Apply ``rules`` to the candidates of Q queries.

    scores, ids: (Q, K) candidate scores and corpus ids (id -1: no candidate), any order within a row;
    positive_ids: (Q, P) the corpus ids of each query's known positives, -1 padded;
    positive_scores: (Q,) the score of each query's (hardest) positive;
    query_ids: (Q,) ids that seed random sampling (default 0..Q-1);
    query_corpus_ids: (Q,) the corpus id of each query's own text, -1 where the corpus lacks it (default: none).
    """
    scores = np.asarray(scores, dtype=np.float32)
    ids = np.asarray(ids, dtype=np.int64)
    n_queries, k = scores.shape
    order = np.argsort(-scores, axis=1, kind="stable")  # (Q, K) descending; rows from a search are already sorted
    scores = np.take_along_axis(scores, order, axis=1)
    ids = np.take_along_axis(ids, order, axis=1)
    positive = np.asarray(positive_scores, dtype=np.float32)[:, None]  # (Q, 1)

    reasons = np.full((n_queries, k), Reason.NONE, dtype=np.int8)
    open_ = ids >= 0  # (Q, K) candidates not dropped yet
    rules_in_order = [(Reason.POSITIVE, (ids[:, :, None] == positive_ids[:, None, :]).any(axis=2))]  # (Q, K)
    if query_corpus_ids is not None:
        query_corpus_ids = np.asarray(query_corpus_ids, dtype=np.int64)[:, None]  # (Q, 1)
        rules_in_order.append((Reason.QUERY_TEXT, (ids == query_corpus_ids) & (query_corpus_ids >= 0)))
    if rules.absolute_margin is not None:
        rules_in_order.append((Reason.ABSOLUTE_MARGIN, scores + rules.absolute_margin > positive))
    if rules.relative_margin is not None:
        rules_in_order.append((Reason.RELATIVE_MARGIN, scores > positive - np.abs(positive) * rules.relative_margin))
    if rules.max_score is not None:
        rules_in_order.append((Reason.MAX_SCORE, scores > rules.max_score))
    if rules.min_score is not None:
        rules_in_order.append((Reason.MIN_SCORE, scores < rules.min_score))
    for reason, dropped in rules_in_order:
        hit = open_ & dropped
        reasons[hit] = reason
        open_ &= ~hit

    rank = np.cumsum(open_, axis=1) - 1  # (Q, K) rank among the candidates left
    window = open_ & (rank >= rules.range_min)
    if rules.range_max is not None:
        window &= rank < rules.range_max
    reasons[open_ & ~window] = Reason.RANK_RANGE
    if rules.sampling is Sampling.TOP:
        chosen = window & (np.cumsum(window, axis=1) <= rules.num_negatives)
    else:
        query_ids = np.arange(n_queries) if query_ids is None else np.asarray(query_ids)
        keys = np.where(window, random_keys(rules.seed, query_ids, ids), np.uint64(np.iinfo(np.uint64).max))
        smallest = np.argsort(keys, axis=1, kind="stable")[:, :rules.num_negatives]  # (Q, n)
        chosen = np.zeros_like(window)
        np.put_along_axis(chosen, smallest, True, axis=1)
        chosen &= window
    reasons[window] = Reason.NOT_SAMPLED
    reasons[chosen] = Reason.SELECTED

    packed = np.argsort(~chosen, axis=1, kind="stable")[:, :rules.num_negatives]  # chosen first, in score order
    taken = np.take_along_axis(chosen, packed, axis=1)
    selected_ids = np.where(taken, np.take_along_axis(ids, packed, axis=1), -1)
    selected_scores = np.where(taken, np.take_along_axis(scores, packed, axis=1), -np.inf).astype(np.float32)
    unsorted = np.empty_like(reasons)
    np.put_along_axis(unsorted, order, reasons, axis=1)
    return Selection(selected_ids, selected_scores, unsorted, taken.sum(axis=1))


def random_keys(seed: int, query_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """A uniform uint64 per (seed, query, candidate): splitmix64 of their mix. (Q, K)"""
    with np.errstate(over="ignore"):
        x = (np.asarray(query_ids, dtype=np.uint64)[:, None] * np.uint64(0x9E3779B97F4A7C15)
             ^ ids.astype(np.uint64) * np.uint64(0xD1B54A32D192ED03)
             ^ np.uint64(seed % 2**64) * np.uint64(0x94D049BB133111EB))
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))
