"""The training guard: recipes refuse to train on texts that an evaluation task scores on.

For each named task (or suite) the normalised texts it evaluates on (test queries, documents,
sentences) are hashed once and cached on disk; a training source whose queries, positives or
negatives repeat any of them is refused, naming the source, the task and an example.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..packages import cache_dir
from .offline_data import normalise

GUARD_VERSION = "1"


def text_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha1(normalise(text).encode("utf-8")).digest()[:8], "little")


def protected_hashes(task_name: str) -> np.ndarray:
    """Sorted uint64 hashes of the texts ``task_name`` evaluates on (cached under the gtekit cache)."""
    path = cache_dir() / "guard" / f"{task_name}-v{GUARD_VERSION}.npy"
    if path.is_file():
        return np.load(path)
    from .tasks import get_tasks

    (task,) = get_tasks([task_name])
    hashes = np.unique(np.fromiter((text_hash(t) for t in task.texts()), dtype=np.uint64))
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, hashes)
    return hashes


def expand_task_names(names: Sequence[str]) -> list[str]:
    """Task names, with suite names replaced by their tasks."""
    from .tasks import SUITES, TASKS

    expanded: list[str] = []
    for name in names:
        if name in SUITES:
            expanded += SUITES[name]
        elif name in TASKS:
            expanded.append(name)
        else:
            raise ValueError(f"data.guard_tasks: unknown task or suite {name!r}; suites: {', '.join(SUITES)}; "
                             f"tasks: {', '.join(TASKS)}")
    return list(dict.fromkeys(expanded))


def check_no_evaluation_overlap(sources: Iterable, task_names: Sequence[str]) -> None:
    """Raise ValueError if a training source repeats a text that one of the tasks evaluates on."""
    tasks = expand_task_names(task_names)
    protected = {name: protected_hashes(name) for name in tasks}
    for source in sources:
        texts = [t for pair in source.pairs for t in (pair.query, pair.positive, *pair.negatives)]
        hashes = np.fromiter((text_hash(t) for t in texts), dtype=np.uint64, count=len(texts))
        for name, evaluated in protected.items():
            hits = np.isin(hashes, evaluated)
            if hits.any():
                example = texts[int(np.argmax(hits))]
                raise ValueError(
                    f"training source {source.name!r} ({Path(source.path)}) repeats {int(hits.sum())} text(s) that "
                    f"evaluation task {name} scores on, e.g. {example[:80]!r}. Never train on an evaluation split: "
                    f"remove them, or take {name} out of data.guard_tasks if this is intended.")
