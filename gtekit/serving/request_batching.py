"""Coalesce concurrent requests into model calls: an asyncio queue in front of one worker thread.

Each request's texts become a *job* on a FIFO queue. A collector task takes the oldest job, then
more jobs (or parts of a large one) until ``max_batch_size`` texts are gathered, the token budget
is reached, or ``max_wait_ms`` have passed since the oldest of them arrived, and hands the batch to
a single worker thread that runs the encode function; the results are scattered back to each job's
future. While the worker runs, new requests queue up, so under load the next batch fills at once
with no extra wait; when idle, a lone request waits at most ``max_wait_ms`` for companions. The
event loop never runs the model. :meth:`BatchingEncoder.stop` refuses new jobs, finishes every
queued one, then stops the worker.

Token budget (``max_batch_tokens`` > 0): a batch is padded to its longest text, so its cost is
``texts x longest`` tokens (special tokens included, after truncation). Each job's texts are counted
(``count_tokens``, on a thread of its own) before it is queued; texts join a batch in arrival order
until the next one would take ``texts x longest`` past the budget, and that text opens the next
batch. A batch always holds at least one text, however long.

A batch whose encode call raises is encoded again one job (request) at a time, so that one bad
request fails alone and the others coalesced with it are still answered: the routes validate every
text before it is queued (``gtekit.io.text_checks``), this is the defence in depth behind that check.

Depends on numpy and asyncio; the encode function is given (see ``app.model_encode_function``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger("gtekit.serving")

EncodeFunction = Callable[[list[str]], tuple[np.ndarray, np.ndarray]]
"""texts (N,) -> (embeddings (N, d) float32, token counts (N,) int)."""
CountTokens = Callable[[list[str]], np.ndarray]
"""texts (N,) -> token counts (N,) int, as the encode function's model sees them."""
BatchObserver = Callable[[int, int, float], object]
"""Called after each successful model call with (texts, padded tokens = texts x longest, seconds)."""


class Overloaded(RuntimeError):
    """More texts are queued than the server accepts (``max_queued_texts``): retry later."""


class ShuttingDown(RuntimeError):
    """The server is stopping and takes no new work."""


@dataclass
class EncodedTexts:
    embeddings: np.ndarray  # (N, d) float32
    token_counts: np.ndarray  # (N,) int64


@dataclass
class BatchingStats:
    requests: int = 0
    texts: int = 0
    model_calls: int = 0
    largest_batch: int = 0
    rejected_overloaded: int = 0
    isolated_retries: int = 0  # failed batches of several jobs, encoded again one job at a time


@dataclass(eq=False)
class _Job:
    texts: list[str]
    future: asyncio.Future
    arrived: float  # loop.time() when queued
    embeddings: np.ndarray  # (N, d), filled as batches finish
    token_counts: np.ndarray  # (N,)
    lengths: np.ndarray | None = None  # (N,) tokens per text, counted before queuing (token budget only)
    taken: int = 0  # texts handed to batches so far
    finished: int = 0  # texts whose results are in


@dataclass
class _Batch:
    parts: list[tuple[_Job, int, int]] = field(default_factory=list)  # (job, start, end) slices
    size: int = 0
    longest: int = 0  # tokens of its longest text (token budget only)


class BatchingEncoder:
    """``await encoder.encode(texts)`` -> :class:`EncodedTexts`, with concurrent calls batched together."""

    def __init__(self, encode: EncodeFunction, dimension: int, *, max_batch_size: int = 32,
                 max_wait_ms: float = 5.0, max_queued_texts: int = 16_384, max_batch_tokens: int = 0,
                 count_tokens: CountTokens | None = None, on_batch: BatchObserver | None = None) -> None:
        if max_batch_tokens and count_tokens is None:
            raise ValueError("a token budget (max_batch_tokens > 0) needs count_tokens")
        self._encode, self.dimension = encode, dimension
        self.max_batch_size, self.max_wait_s = max_batch_size, max_wait_ms / 1000
        self.max_queued_texts, self.max_batch_tokens = max_queued_texts, max_batch_tokens
        self._count_tokens, self._on_batch = count_tokens, on_batch
        self.stats = BatchingStats()
        self.queued_texts = 0  # texts not yet handed to the model (queued, or in the batch being gathered)
        self._queue: asyncio.Queue[_Job | None] | None = None
        self._partial: _Job | None = None  # a job larger than one batch, partly taken
        self._collector: asyncio.Task | None = None
        self._worker: ThreadPoolExecutor | None = None
        self._counter: ThreadPoolExecutor | None = None  # counts tokens for the budget, beside the model's thread
        self._closing = False

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gtekit-encode")
        if self.max_batch_tokens:
            self._counter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gtekit-count-tokens")
        self._collector = asyncio.create_task(self._collect_forever(), name="gtekit-batch-collector")

    async def run_in_worker(self, function: Callable, *args):
        """Run ``function(*args)`` on the model's thread (e.g. a warm-up), in turn with the batches."""
        return await asyncio.get_running_loop().run_in_executor(self._worker, function, *args)

    async def stop(self) -> None:
        """Refuse new jobs, finish the queued ones, then stop the collector and the worker thread."""
        if self._collector is None:
            return
        self._closing = True
        self._queue.put_nowait(None)  # after every queued job
        await self._collector
        self._worker.shutdown(wait=True)
        if self._counter is not None:
            self._counter.shutdown(wait=True)
        self._collector = None

    # ----------------------------------------------------------------- requests
    async def encode(self, texts: list[str]) -> EncodedTexts:
        self._admit(len(texts))
        loop = asyncio.get_running_loop()
        lengths = None
        if self.max_batch_tokens:
            lengths = np.asarray(await loop.run_in_executor(self._counter, self._count_tokens, texts), np.int64)
            self._admit(len(texts))  # meanwhile the queue may have filled, or the server begun to stop
        job = _Job(texts, loop.create_future(), loop.time(), np.empty((len(texts), self.dimension), np.float32),
                   np.zeros(len(texts), np.int64), lengths)
        self.queued_texts += len(texts)
        self.stats.requests += 1
        self._queue.put_nowait(job)
        await job.future  # a cancelled request (client gone) cancels the future: its texts are skipped
        return EncodedTexts(job.embeddings, job.token_counts)

    def _admit(self, count: int) -> None:
        """Raise unless ``count`` more texts may be queued now."""
        if self._closing or self._collector is None:
            raise ShuttingDown("the server is shutting down")
        if self.queued_texts + count > self.max_queued_texts:
            self.stats.rejected_overloaded += 1
            raise Overloaded(f"{self.queued_texts} texts are already waiting (limit {self.max_queued_texts})")

    # ----------------------------------------------------------------- the collector
    async def _collect_forever(self) -> None:
        while True:
            batch = await self._gather()
            if batch is None:
                return
            if batch.size:
                await self._run(batch)

    async def _gather(self) -> _Batch | None:
        """The next batch; None once the stop marker is reached and nothing is left."""
        batch, deadline = _Batch(), None
        while batch.size < self.max_batch_size and not self._tokens_full(batch):
            job = self._partial or await self._next_job(deadline)
            if job is None:  # the stop marker, or the deadline passed
                if deadline is None:
                    return None
                break
            if job.future.done():  # cancelled by its client, or failed in an earlier batch
                self.queued_texts -= len(job.texts) - job.taken
                self._partial = None
                continue
            take, batch.longest = self._take(batch, job)
            if take == 0:  # its next text would pass the token budget: it opens the next batch
                self._partial = job
                break
            batch.parts.append((job, job.taken, job.taken + take))
            job.taken += take
            batch.size += take
            self._partial = job if job.taken < len(job.texts) else None
            if deadline is None:
                deadline = job.arrived + self.max_wait_s
        return batch

    def _take(self, batch: _Batch, job: _Job) -> tuple[int, int]:
        """How many of ``job``'s next texts join ``batch``, and the batch's longest text then: up to
        ``max_batch_size`` texts and, with a token budget, while ``texts x longest <= max_batch_tokens``
        (always one text when the batch is empty)."""
        take = min(self.max_batch_size - batch.size, len(job.texts) - job.taken)
        if not self.max_batch_tokens:
            return take, 0
        longest = batch.longest
        for offset, length in enumerate(job.lengths[job.taken:job.taken + take].tolist()):
            padded = (batch.size + offset + 1) * max(longest, length)
            if padded > self.max_batch_tokens and batch.size + offset > 0:
                return offset, longest
            longest = max(longest, length)
        return take, longest

    def _tokens_full(self, batch: _Batch) -> bool:
        """Whether no further text can join ``batch`` within the token budget (one more, however short,
        would make ``(texts + 1) x longest`` pass it): then the batch goes without waiting."""
        return bool(self.max_batch_tokens) and batch.size > 0 and (batch.size + 1) * batch.longest > \
            self.max_batch_tokens

    async def _next_job(self, deadline: float | None) -> _Job | None:
        """The next queued job: waits for one when the batch is empty, else at most until ``deadline``."""
        if deadline is None:
            job = await self._queue.get()
            if job is None:
                self._queue.put_nowait(None)  # stay at the stop marker for the final check
            return job
        if not self._queue.empty():
            job = self._queue.get_nowait()
        else:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return None
            try:
                job = await asyncio.wait_for(self._queue.get(), timeout=remaining)
            except TimeoutError:
                return None
        if job is None:
            self._queue.put_nowait(None)
        return job

    async def _run(self, batch: _Batch) -> None:
        self.queued_texts -= batch.size  # handed to the model: no longer waiting
        error = await self._encode_parts(batch.parts)
        if error is None:
            return
        if len(batch.parts) == 1:  # one job's texts: that job fails; the server keeps serving
            logger.error("encoding %d texts of one request failed", batch.size, exc_info=error)
            _fail(batch.parts[0][0], error)
            return
        # A batch of several jobs: find the guilty one by encoding each job's part on its own.
        self.stats.isolated_retries += 1
        logger.warning("encoding a batch of %d texts from %d requests failed (%s: %s); encoding each request "
                       "on its own", batch.size, len(batch.parts), type(error).__name__, error)
        for part in batch.parts:
            if part[0].future.done():  # cancelled meanwhile, or failed in an earlier part
                continue
            error = await self._encode_parts([part])
            if error is not None:
                logger.error("encoding %d texts of one request failed", part[2] - part[1], exc_info=error)
                _fail(part[0], error)

    async def _encode_parts(self, parts: list[tuple[_Job, int, int]]) -> Exception | None:
        """Encode the texts of ``parts`` in one model call and scatter the results to their jobs; the error
        instead, if the call raised (nothing is scattered then)."""
        texts = [text for job, start, end in parts for text in job.texts[start:end]]
        try:
            embeddings, token_counts, seconds = await self.run_in_worker(self._timed_encode, texts)
        except Exception as error:
            return error
        if self._on_batch is not None:
            self._on_batch(len(texts), len(texts) * int(np.max(token_counts, initial=0)), seconds)
        self.stats.model_calls += 1
        self.stats.texts += len(texts)
        self.stats.largest_batch = max(self.stats.largest_batch, len(texts))
        offset = 0
        for job, start, end in parts:
            job.embeddings[start:end] = embeddings[offset:offset + end - start]
            job.token_counts[start:end] = token_counts[offset:offset + end - start]
            offset += end - start
            job.finished += end - start
            if job.finished == len(job.texts) and not job.future.done():
                job.future.set_result(None)
        return None


    def _timed_encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, float]:
        """The encode function and its duration in seconds, measured on the worker thread."""
        started = time.perf_counter()
        embeddings, token_counts = self._encode(texts)
        return embeddings, token_counts, time.perf_counter() - started


def _fail(job: _Job, error: Exception) -> None:
    if not job.future.done():
        job.future.set_exception(error)
