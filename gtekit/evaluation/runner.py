"""Run evaluation tasks on a model, through the embedding cache.

``evaluate_tasks(model, tasks)`` -> ``{task name: {"main_score": ..., every metric, task info}}``;
``evaluate_tasks_with_units`` also returns each task's main score per resample of its units, for paired
bootstrap intervals (``metrics.bootstrap``). With ``dimension`` m the tasks score the first m features of
each embedding, re-normalised (:func:`truncate`): a Matryoshka model's prefix (Kusupati et al. 2022),
from the same full embeddings (and cache entries) as the whole vector.
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


def make_encode(model, *, cache: EmbeddingCache | None = None, batch_size: int = 64,
                dimension: int | None = None) -> Encode:
    """``encode(texts, kind)`` -> L2-normalised float32 embeddings, read from ``cache`` when present; with
    ``dimension``, their first ``dimension`` features, re-normalised."""

    def encode(texts: Sequence[str], kind: str | None = None) -> np.ndarray:
        texts = list(texts)
        if cache is not None:
            embeddings = cache.cached_encode(model, texts, kind=kind, batch_size=batch_size, normalize=True)
        else:
            embeddings = model.encode(texts, batch_size=batch_size, normalize=True, kind=kind)
        return embeddings if dimension is None else truncate(embeddings, dimension)

    return encode


def truncate(embeddings: np.ndarray, dimension: int) -> np.ndarray:
    """x_{1:m} / ‖x_{1:m}‖ for each row of (N, H) float32 -> (N, m); the same for normalised or raw rows."""
    if not 1 <= dimension <= embeddings.shape[1]:
        raise ValueError(f"cannot truncate {embeddings.shape[1]}-dimensional embeddings to {dimension}: give a "
                         f"dimension in [1, {embeddings.shape[1]}]")
    prefix = embeddings[:, :dimension].astype(np.float32)
    norms = np.linalg.norm(prefix, axis=1, keepdims=True)  # (N, 1)
    return prefix / np.maximum(norms, np.float32(1e-12))  # a zero prefix stays zero, as torch's F.normalize


def evaluate_tasks(model, tasks: Sequence[Task], *, use_cache: bool = True, batch_size: int = 64,
                   cache_root=None, dimension: int | None = None) -> dict[str, dict]:
    """Evaluate ``model`` on ``tasks`` (its embeddings truncated to ``dimension``, when given); each result
    carries the task's provenance and wall time."""
    return evaluate_tasks_with_units(model, tasks, use_cache=use_cache, batch_size=batch_size,
                                     cache_root=cache_root, dimension=dimension)[0]


def evaluate_tasks_with_units(model, tasks: Sequence[Task], *, use_cache: bool = True, batch_size: int = 64,
                              cache_root=None, dimension: int | None = None
                              ) -> tuple[dict[str, dict], dict[str, UnitScores]]:
    """:func:`evaluate_tasks`, and {task name: its main score as a function of the units counted}."""
    cache = EmbeddingCache(cache_root) if use_cache and not cache_disabled() else None
    encode = make_encode(model, cache=cache, batch_size=batch_size, dimension=dimension)
    results: dict[str, dict] = {}
    units: dict[str, UnitScores] = {}
    for task in tasks:
        started = time.perf_counter()
        logger.info("evaluating %s on %s", getattr(model, "source", "model"), task.info.name)
        scores, units[task.info.name] = task.evaluate_with_units(encode)
        results[task.info.name] = {**scores, **task.info.as_dict(),
                                   "evaluation_time": round(time.perf_counter() - started, 2)}
    return results, units
