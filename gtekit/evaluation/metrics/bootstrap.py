"""Paired bootstrap confidence intervals for the change in a task's main score between two models.

A task's main score is a statistic of its units -- queries (retrieval, reranking, code search), pairs
(STS, pair classification) or items (classification, clustering, zero-shot) -- and two models are scored
on the same units. :class:`UnitScores` holds that statistic as a function of which units are counted,
so the score can be recomputed on a resample. The paired bootstrap (Efron & Tibshirani 1993, §16;
Koehn 2004 for system comparisons) draws R resamples of the units with replacement, the *same*
resample for both models, and takes the percentile interval of the differences:

    Δ = s_B(all units) − s_A(all units)
    Δ*_r = s_B(I_r) − s_A(I_r),   I_r = n indices drawn uniformly with replacement, r = 1..R
    95% interval = [2.5th, 97.5th percentile of Δ*_r]

A change is *significant* when its interval excludes 0. For an average over tasks, each replicate
resamples every task (each task its own draw) and averages the per-task differences, so the interval
of the average reflects every task's noise. Draws are seeded by (seed, task name), so a task's interval
does not depend on which other tasks were evaluated.

No model knowledge; depends on numpy only. mteb reports no intervals.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 1000
CONFIDENCE = 0.95
SEED = 0


@dataclass(frozen=True)
class UnitScores:
    """A main score as a function of the units counted: ``statistic(indices)`` with ``indices`` an int
    array into ``range(units)`` (repeats allowed); ``statistic(np.arange(units))`` is the main score."""

    units: int
    statistic: Callable[[np.ndarray], float]

    def full(self) -> float:
        return float(self.statistic(np.arange(self.units)))


def mean_of(values: Sequence[float] | np.ndarray) -> UnitScores:
    """The common case: the main score is the mean of one value per unit (AP per query, 0/1 per item)."""
    per_unit = np.asarray(values, dtype=np.float64)
    return UnitScores(len(per_unit), lambda indices: float(per_unit[indices].mean()))


@dataclass(frozen=True)
class Interval:
    """Δ = other − base on the full units, and its paired-bootstrap percentile interval."""

    delta: float
    low: float
    high: float
    resamples: int
    confidence: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict[str, float | int | bool]:
        return {"delta": self.delta, "low": self.low, "high": self.high, "significant": self.significant,
                "resamples": self.resamples, "confidence": self.confidence}


def resample_indices(units: int, key: str, *, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(resamples, units) indices drawn with replacement; the same for the same (units, key, seed)."""
    if units < 1:
        raise ValueError(f"a task needs at least one unit to resample, got {units}")
    if resamples < 1:
        raise ValueError(f"resamples must be positive, got {resamples}")
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    return rng.integers(0, units, size=(resamples, units))


def replicate_deltas(base: UnitScores, other: UnitScores, key: str, *, resamples: int = RESAMPLES,
                     seed: int = SEED) -> np.ndarray:
    """Δ*_r for r = 1..R: both models on the same resamples of the task's units."""
    if base.units != other.units:
        raise ValueError(f"task {key!r}: the models were scored on {base.units} and {other.units} units; "
                         "a paired comparison needs the same units")
    draws = resample_indices(base.units, key, resamples=resamples, seed=seed)
    return np.array([other.statistic(indices) - base.statistic(indices) for indices in draws])


def percentile_interval(delta: float, deltas: np.ndarray, confidence: float = CONFIDENCE) -> Interval:
    """The percentile interval of replicate differences (NaN replicates, e.g. a constant resample, left out)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    tail = 100 * (1 - confidence) / 2
    low, high = np.nanpercentile(deltas, [tail, 100 - tail])
    return Interval(float(delta), float(low), float(high), len(deltas), confidence)


def paired_interval(base: UnitScores, other: UnitScores, key: str, *, resamples: int = RESAMPLES, seed: int = SEED,
                    confidence: float = CONFIDENCE) -> Interval:
    """Δ and its interval for one task (``key``: the task's name, which seeds its draws)."""
    deltas = replicate_deltas(base, other, key, resamples=resamples, seed=seed)
    return percentile_interval(other.full() - base.full(), deltas, confidence)


def paired_average_interval(tasks: dict[str, tuple[UnitScores, UnitScores]], *, resamples: int = RESAMPLES,
                            seed: int = SEED, confidence: float = CONFIDENCE) -> Interval:
    """Δ of the unweighted mean over tasks ({name: (base, other)}) and its interval: replicate r averages each
    task's Δ*_r, every task resampled on its own draw."""
    if not tasks:
        raise ValueError("no task to average")
    per_task = np.stack([replicate_deltas(base, other, name, resamples=resamples, seed=seed)
                         for name, (base, other) in tasks.items()])  # (T, R)
    delta = float(np.mean([other.full() - base.full() for base, other in tasks.values()]))
    return percentile_interval(delta, per_task.mean(axis=0), confidence)


def deltas_to_baseline(baseline: dict[str, UnitScores], other: dict[str, UnitScores], *,
                       resamples: int = RESAMPLES, seed: int = SEED,
                       confidence: float = CONFIDENCE) -> dict[str, dict]:
    """{"tasks": {task: interval}, "average": interval} of ``other`` − ``baseline`` over the tasks both hold
    (each interval as :meth:`Interval.as_dict`); the average is the unweighted mean over those tasks."""
    shared = {name: (baseline[name], other[name]) for name in baseline if name in other}
    tasks = {name: paired_interval(base, new, name, resamples=resamples, seed=seed, confidence=confidence).as_dict()
             for name, (base, new) in shared.items()}
    out: dict[str, dict] = {"tasks": tasks}
    if len(shared) > 1:
        out["average"] = paired_average_interval(shared, resamples=resamples, seed=seed,
                                                 confidence=confidence).as_dict()
    return out
