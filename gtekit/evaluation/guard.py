"""The training guard: recipes refuse to train on texts that an evaluation task scores on.

For each named task (or suite) the normalised texts it evaluates on, in its test and its dev split (queries,
documents, sentences), are hashed once and cached on disk; a training source whose queries, positives or
negatives repeat any of them is refused, naming the source, the task and an example.
Sources are read in blocks, so a streamed source never needs to fit in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path
from ..io.packages import cache_dir
from .tasks.offline_data import normalise

GUARD_VERSION = "2"  # 2: dev splits too
GUARD_BLOCK = 65536  # texts hashed at a time


def text_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha1(normalise(text).encode("utf-8")).digest()[:8], "little")


def protected_hashes(task_name: str) -> np.ndarray:
    """Sorted uint64 hashes of the texts ``task_name`` evaluates on, test and dev (cached under the gtekit cache)."""
    path = cache_dir() / "guard" / f"{task_name}-v{GUARD_VERSION}.npy"
    if path.is_file():
        return np.load(path)
    from .tasks.named_tasks import get_tasks

    texts = [text for split in ("test", "dev") for text in get_tasks([task_name], split)[0].texts()]
    hashes = np.unique(np.fromiter((text_hash(t) for t in texts), dtype=np.uint64))
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, hashes)
    return hashes


def expand_task_names(names: Sequence[str]) -> list[str]:
    """Task names, with suite names replaced by their tasks."""
    from .tasks.named_tasks import SUITES, TASKS

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
    """Raise ValueError if a training source repeats a text that one of the tasks evaluates on.

    A source is read through ``source.iter_pairs()``, ``GUARD_BLOCK`` texts at a time, so a streamed
    source (``gtekit.data.streaming``) is checked shard by shard in bounded memory. A streamed source
    is trusted, and not read, for the tasks its mixture's manifest lists under ``evaluation_tasks``:
    ``gtekit data build`` dropped every pair whose query or positive hashes (:func:`text_hash`) to one of
    those tasks' texts when it wrote the shards (its shards hold no negatives)."""
    from .tasks.named_tasks import SUITES

    tasks = expand_task_names(task_names)
    protected: dict[str, np.ndarray] = {}
    for source in sources:
        trusted = {task for name in getattr(source, "excluded_tasks", ()) for task in SUITES.get(name, [name])}
        checked = [name for name in tasks if name not in trusted]
        if not checked:
            continue
        for name in checked:
            if name not in protected:
                protected[name] = protected_hashes(name)
        hits = dict.fromkeys(checked, 0)
        examples: dict[str, str] = {}
        for texts in _text_blocks(source.iter_pairs()):
            hashes = np.fromiter((text_hash(t) for t in texts), dtype=np.uint64, count=len(texts))
            for name in checked:
                found = np.isin(hashes, protected[name])
                if found.any():
                    hits[name] += int(found.sum())
                    examples.setdefault(name, texts[int(np.argmax(found))])
        for name in checked:
            if hits[name]:
                raise ValueError(
                    f"training source {source.name!r} ({Path(source.path)}) repeats {hits[name]} text(s) that "
                    f"evaluation task {name} scores on, e.g. {examples[name][:80]!r}. Never train on an evaluation "
                    f"split: remove them, or take {name} out of data.guard_tasks if this is intended.")


def _text_blocks(pairs: Iterable) -> Iterable[list[str]]:
    """The texts of ``pairs`` (queries, positives, negatives), ``GUARD_BLOCK`` or so at a time."""
    block: list[str] = []
    for pair in pairs:
        block += (pair.query, pair.positive, *pair.negatives)
        if len(block) >= GUARD_BLOCK:
            yield block
            block = []
    if block:
        yield block
