"""Batches read and tokenized ahead of time, in DataLoader worker processes, while the step computes.

Drawing a batch (which source, which rows) is cheap; reading its rows from shards and tokenizing tens
of thousands of texts into length chunks is not, and a GPU would wait for it. The pieces:

- :class:`BatchPreparer` turns a drawn global batch into this rank's :class:`PreparedBatch`: it reads
  this rank's rows, tokenizes each column (with the source's prefixes) and sorts it into length chunks.
  It holds the sources, the tokenizer and the model's text settings but no weights, so it goes to a
  worker process as it is (forked, or pickled). Each pair gives its first K hard negatives, or with a
  curriculum (``gtekit.data.curriculum``) the K of the batch's step, a pure function of (pair, step).
  With ``text_ids`` it also gives every text an id (:func:`text_ids`), so that the loss can tell which
  texts of the batch are equal (``loss.mask_duplicates``), which their embeddings cannot.
- :class:`BatchStream` is the endless sequence of prepared batches from a sampler position. Each
  worker runs its own copy of the sampler from that position and draws every batch, but worker w of
  W prepares only batches t ≡ w (mod W); the DataLoader asks the workers in turn and delivers their
  results in order, so the batches come out in exactly the order one process would prepare them,
  whatever W is. Each batch carries the sampler state after it, which is what a checkpoint stores; the
  stream also knows the step of its first batch, so batch t is prepared for step ``first_step + t``.
- :class:`BatchLoader` is what the trainer calls: ``next()``, and ``close()`` to drop what was prepared
  ahead. The next ``next()`` after a close starts a fresh stream from the sampler it was given, which
  the trainer has rewound to the last batch it trained on, so stopping and resuming repeats and skips
  nothing.

With ``train.data_workers=0`` the stream runs in the training process, one batch ahead on a thread
(:class:`Prefetcher`); with ``train.prefetch=false`` every batch is prepared when asked for. Depends on
the data package, ``embedder.tokenize_texts`` and ``grad_cache.chunk_by_length``; never on the model.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import pickle
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Generic, TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..data.curriculum import EasyToHardNegatives
from ..data.pairs import Pair
from ..data.sampler import SourceSampler
from ..model.embedder import tokenize_texts
from ..model.model_files import EmbedderSettings
from .grad_cache import Chunk, chunk_by_length

T = TypeVar("T")
PREFETCH_PER_WORKER = 2


@dataclass
class PreparedBatch:
    """One step's input on this rank, ready for the encoder."""

    source: str  # the source every row of the global batch comes from
    rows: list[int]  # this rank's rows (example indices) of that source
    pairs: int  # pairs in the global batch
    groups: list[list[Chunk]]  # one list of chunks per column (queries, documents, negatives)
    tokens: int  # non-padding tokens on this rank
    sampler_state: dict  # the sampler's position after this batch: what a checkpoint must store
    skipped: list[str] = field(default_factory=list)  # bad rows of the global batch left out (skip_invalid)
    step: int = 0  # the 0-based training step it is prepared for (a curriculum's negatives depend on it)
    text_ids: list[torch.Tensor] = field(default_factory=list)  # with BatchPreparer.text_ids: one (n,) int64 per
    # column, in the columns' order (the hard negatives pair-major); equal texts have equal ids
    teacher_groups: list[list[Chunk]] = field(default_factory=list)  # with BatchPreparer.teacher_tokenizer: the
    # same columns in the teacher's own tokens, chunked alike

    def pin_memory(self) -> PreparedBatch:
        """The same batch with its token tensors in pinned memory (the DataLoader calls this for CUDA)."""
        def pinned(groups):
            return [[Chunk(chunk.indices, {k: v.pin_memory() for k, v in chunk.features.items()}) for chunk in group]
                    for group in groups]

        return replace(self, groups=pinned(self.groups), teacher_groups=pinned(self.teacher_groups))


@dataclass
class BatchPreparer:
    """Drawn global batch -> this rank's :class:`PreparedBatch`: read rows, tokenize, chunk by length."""

    sources: list  # gtekit.data Source or ShardedSource
    tokenizer: Any
    settings: EmbedderSettings  # the model's prefixes, delimiters and max_seq_length
    part: slice  # this rank's rows of the global batch
    chunk_size: int = 0  # 0: one chunk per column
    negatives_per_query: int = 0
    prefixes: dict[str, dict[str, str]] = field(default_factory=dict)  # {source: {kind: prefix}} overrides
    curriculum: EasyToHardNegatives | None = None  # None: each pair's first K negatives, as listed
    in_batch_only: frozenset[str] = frozenset()  # sources whose batches take no hard negatives (data.replay)
    text_ids: bool = False  # give every text an id (PreparedBatch.text_ids), for loss.mask_duplicates
    teacher_tokenizer: Any = None  # a distillation teacher's own tokenizer (another vocabulary than the model's):
    teacher_settings: EmbedderSettings | None = None  # the columns are tokenized for it too (teacher_groups)

    def columns(self, pairs: list[Pair], step: int = 0, source: str = "") -> list[tuple[list[str], str]]:
        """The batch as columns of (texts, kind): queries, positives and, if used, hard negatives (B·K)
        chosen for 0-based ``step``; a batch of a source in ``in_batch_only`` has none."""
        k = 0 if source in self.in_batch_only else self.negatives_per_query
        columns = [([p.query for p in pairs], "query"), ([p.positive for p in pairs], "document")]
        if k and self.curriculum is not None:
            columns.append(([n for p in pairs for n in self.curriculum.negatives(p, step)], "document"))
        elif k:
            columns.append(([n for p in pairs for n in _negatives(p, k)], "document"))
        return columns

    def __call__(self, source_index: int, indices: np.ndarray, sampler_state: dict, step: int = 0) -> PreparedBatch:
        """Prepare this rank's part of the global batch ``indices`` (global batch,) of source ``source_index``
        for 0-based ``step``."""
        source = self.sources[source_index]
        pairs, skipped = source.read_batch(indices, self.part)
        prefixes = self.prefixes.get(source.name, {})
        try:
            columns = self.columns(pairs, step, source.name)
        except ValueError as error:
            error.add_note(f"in source {source.name!r} ({source.path})")
            raise
        groups = self._chunked(columns, self.tokenizer, self.settings, prefixes)
        teacher_groups = []
        if self.teacher_tokenizer is not None:  # the teacher's own prefixes, from its settings
            teacher_groups = self._chunked(columns, self.teacher_tokenizer, self.teacher_settings, {})
        tokens = sum(int(chunk.features["attention_mask"].sum()) for group in groups for chunk in group)
        ids = [text_ids(texts) for texts, _ in columns] if self.text_ids else []
        return PreparedBatch(source.name, indices[self.part].tolist(), len(indices), groups, tokens, sampler_state,
                             skipped, step, ids, teacher_groups)

    def _chunked(self, columns: list[tuple[list[str], str]], tokenizer, settings: EmbedderSettings,
                 prefixes: dict[str, str]) -> list[list[Chunk]]:
        """Each column tokenized by ``tokenizer`` and cut into chunks of similar length (one without chunk_size)."""
        groups = []
        for texts, kind in columns:
            tokenize = partial(tokenize_texts, tokenizer, settings, kind=kind, prefix=prefixes.get(kind))
            groups.append(chunk_by_length(texts, self.chunk_size, tokenize) if self.chunk_size
                          else [Chunk(torch.arange(len(texts)), tokenize(texts))])
        return groups


class BatchStream(IterableDataset):
    """Prepared batches from the position ``sampler`` is at when the stream is made, without end.

    In DataLoader worker w of W only batches t ≡ w (mod W) are prepared (all are drawn, to keep the
    sampler in step); outside a worker, every batch. An error is passed on as an item, so that the
    training process raises the original exception, with the worker's traceback as a note."""

    def __init__(self, sampler: SourceSampler, prepare: BatchPreparer, first_step: int = 0) -> None:
        self.sampler = copy.deepcopy(sampler)  # a snapshot: the caller may move its sampler on
        self.prepare = prepare
        self.first_step = first_step  # the 0-based training step of the first batch

    def __iter__(self) -> Iterator[PreparedBatch | _Failure]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        sampler = copy.deepcopy(self.sampler)  # every iterator (worker) starts from the snapshot
        for t in itertools.count():
            source, indices = sampler.next_batch()  # (global batch,)
            if t % workers != worker:
                continue
            try:
                yield self.prepare(source, indices, sampler.state_dict(), self.first_step + t)
            except Exception as error:
                yield _Failure.of(error)
                return


class BatchLoader:
    """``next()`` gives the next :class:`PreparedBatch` of a stream opened on first use; ``close()`` drops it.

    ``open_stream()`` makes the stream from the current sampler position; ``workers`` processes prepare
    it (``PREFETCH_PER_WORKER`` batches ahead each), or with 0 workers a thread one batch ahead, or with
    ``prefetch=False`` the calling thread when asked."""

    def __init__(self, open_stream: Callable[[], BatchStream], workers: int = 1, prefetch: bool = True,
                 pin_memory: bool = False) -> None:
        if workers < 0:
            raise ValueError(f"train.data_workers must be >= 0, got {workers}")
        self._open_stream = open_stream
        self.workers = workers if prefetch else 0
        self._prefetch = prefetch
        self._pin_memory = pin_memory
        self._batches: Iterator | None = None  # DataLoader iterator or in-process stream
        self._thread: Prefetcher | None = None

    def next(self) -> PreparedBatch:
        if self._batches is None and self._thread is None:
            self._open()
        item = self._thread.next() if self._thread is not None else next(self._batches)
        if isinstance(item, _Failure):
            self.close()
            item.raise_error()
        return item

    def settle(self) -> None:
        """Wait until a prefetching thread is idle (worker processes never share the tokenizer)."""
        if self._thread is not None:
            self._thread.settle()

    def close(self) -> None:
        """Stop the workers and drop every batch prepared ahead; ``next()`` opens a fresh stream."""
        if self._thread is not None:
            self._thread.close()
            self._thread = None
        shutdown = getattr(self._batches, "_shutdown_workers", None)  # DataLoader's own clean exit
        if shutdown is not None:
            shutdown()
        self._batches = None

    def _open(self) -> None:
        stream = self._open_stream()
        if self.workers == 0:
            batches = iter(stream)
            if self._prefetch:
                self._thread = Prefetcher(partial(next, batches))
            else:
                self._batches = batches
            return
        # its own generator: the loader draws its worker seed from it, and never from torch's global random
        # state, which dropout uses and checkpoints restore
        loader = DataLoader(stream, batch_size=None, num_workers=self.workers, collate_fn=_as_is,
                            prefetch_factor=PREFETCH_PER_WORKER, pin_memory=self._pin_memory,
                            generator=torch.Generator().manual_seed(0))
        self._batches = iter(loader)


@dataclass
class _Failure:
    """An exception raised while preparing a batch, carried to the training process."""

    error: BaseException
    where: str

    @classmethod
    def of(cls, error: BaseException) -> _Failure:
        where = traceback.format_exc()
        try:
            pickle.dumps(error)
        except Exception:
            error = RuntimeError(f"{type(error).__name__}: {error}")
        return cls(error, where)

    def raise_error(self) -> None:
        if self.error.__traceback__ is None:  # it came from a worker process: say where it was raised there
            self.error.add_note(f"raised in a DataLoader worker while preparing a batch:\n{self.where}")
        raise self.error


class Prefetcher(Generic[T]):
    """``next()`` returns ``prepare()``'s next result, and starts the one after it on a worker thread.

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


def text_ids(texts: Sequence[str]) -> torch.Tensor:
    """One int64 per text (n,), equal for equal texts (before prefixes): the first 8 bytes of its BLAKE2b
    digest, so two different texts share an id with probability 2⁻⁶⁴."""
    digests = [hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest() for text in texts]
    return torch.tensor([int.from_bytes(digest, "little", signed=True) for digest in digests], dtype=torch.int64)


def _as_is(item: T) -> T:
    return item


def _negatives(pair: Pair, k: int) -> tuple[str, ...]:
    if len(pair.negatives) < k:
        raise ValueError(f"data.negatives_per_query={k} but a pair has only {len(pair.negatives)} "
                         f"negatives (query {pair.query[:60]!r})")
    return pair.negatives[:k]
