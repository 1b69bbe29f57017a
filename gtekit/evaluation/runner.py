"""Run evaluation tasks on a model, through the embedding cache.

``evaluate_tasks(model, tasks)`` -> ``{task name: {"main_score": ..., every metric, task info}}``;
``evaluate_tasks_with_units`` also returns each task's main score per resample of its units, for paired
bootstrap intervals (``metrics.bootstrap``).
Imports the embedder's interface only (``encode``); knows nothing about training.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np

from .embedding_cache import EmbeddingCache, cache_disabled
from .metrics.bootstrap import UnitScores
from .tasks.task_types import Encode, Task

logger = logging.getLogger(__name__)


def make_encode(model, *, cache: EmbeddingCache | None = None, batch_size: int = 64) -> Encode:
    """``encode(texts, kind)`` -> L2-normalised float32 embeddings, read from ``cache`` when present."""

    def encode(texts: Sequence[str], kind: str | None = None) -> np.ndarray:
        texts = list(texts)
        if cache is not None:
            return cache.cached_encode(model, texts, kind=kind, batch_size=batch_size, normalize=True)
        return model.encode(texts, batch_size=batch_size, normalize=True, kind=kind)

    return encode


def evaluate_tasks(model, tasks: Sequence[Task], *, use_cache: bool = True, batch_size: int = 64,
                   cache_root=None) -> dict[str, dict]:
    """Evaluate ``model`` on ``tasks``; each result carries the task's provenance and wall time."""
    return evaluate_tasks_with_units(model, tasks, use_cache=use_cache, batch_size=batch_size,
                                     cache_root=cache_root)[0]


def evaluate_tasks_with_units(model, tasks: Sequence[Task], *, use_cache: bool = True, batch_size: int = 64,
                              cache_root=None) -> tuple[dict[str, dict], dict[str, UnitScores]]:
    """:func:`evaluate_tasks`, and {task name: its main score as a function of the units counted}."""
    cache = EmbeddingCache(cache_root) if use_cache and not cache_disabled() else None
    encode = make_encode(model, cache=cache, batch_size=batch_size)
    results: dict[str, dict] = {}
    units: dict[str, UnitScores] = {}
    for task in tasks:
        started = time.perf_counter()
        logger.info("evaluating %s on %s", getattr(model, "source", "model"), task.info.name)
        scores, units[task.info.name] = task.evaluate_with_units(encode)
        results[task.info.name] = {**scores, **task.info.as_dict(),
                                   "evaluation_time": round(time.perf_counter() - started, 2)}
    return results, units
