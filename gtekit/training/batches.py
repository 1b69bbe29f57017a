"""Batches drawn and tokenized ahead of time, on a worker thread, while the current step computes.

Drawing a batch (which source, which rows) is cheap; tokenizing tens of thousands of texts and
sorting them into length chunks is not, and a GPU would wait for it. :class:`Prefetcher` runs the
preparation of batch t+1 on one worker thread while step t runs on the main thread. The tokenizer
is never used by both threads at once: :meth:`Prefetcher.settle` waits for the worker, and the
trainer calls it before validation, checkpoints or anything else that tokenizes.

Depends on the standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass
class PreparedBatch:
    """One step's input on this rank, ready for the encoder."""

    source: str  # the source every row of the global batch comes from
    rows: list[int]  # this rank's rows of that source
    pairs: int  # pairs in the global batch
    groups: list[list[Any]]  # one list of grad_cache.Chunk per column (queries, documents, negatives)
    tokens: int  # non-padding tokens on this rank
    sampler_state: dict  # the sampler's position after this batch: what a checkpoint must store


class Prefetcher(Generic[T]):
    """``next()`` returns ``prepare()``'s next result, and starts the one after it in the background.

    With ``enabled=False`` everything runs on the calling thread, in the same order. ``close()``
    drops a result prepared ahead, so whoever owns the state ``prepare`` advances must rewind it.
    """

    def __init__(self, prepare: Callable[[], T], enabled: bool = True) -> None:
        self._prepare = prepare
        self._enabled = enabled
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future[T] | None = None

    def next(self) -> T:
        if self._pending is None:
            item = self._prepare()
        else:
            item, self._pending = self._pending.result(), None
        if self._enabled:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="gtekit-batches")
            self._pending = self._executor.submit(self._prepare)
        return item

    def settle(self) -> None:
        """Wait until the worker is idle (its result stays for the next ``next()``)."""
        if self._pending is not None:
            self._pending.exception()  # waits; an error is raised by the next next()

    def close(self) -> None:
        """Stop the worker and drop anything prepared ahead; ``next()`` starts afresh."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._pending = None
