"""Encoding at scale: texts -> windows -> length-sorted padded batches -> embeddings, in input order.

The pipeline, per window of ``window_size`` texts:

1. a background thread tokenises the next window and pads its batches (``batching``) while the
   model computes the current one (the Rust tokenizer releases the GIL);
2. the batches run on the model (``backends``: PyTorch at fp32 / bf16 / int8, or ONNX Runtime):
   in this process (:class:`InProcessRunner`), or spread over
   ``processes`` worker processes started with ``spawn`` (:class:`ProcessPoolRunner`), each holding
   its own copy of the model and ``torch.set_num_threads(cores // processes)`` threads; results come
   back in submission order, a bounded number of batches in flight. A worker ends by itself when the
   process that started it is gone (killed, it could not shut the pool down);
3. each window's embeddings are put back in input order (batches run longest first) and, unless
   ``normalize`` is off, L2-normalised (``F.normalize``, as ``Embedder.encode``).

Windows never straddle a multiple of ``boundary`` rows (the shard size of ``gtekit encode``), so a run
resumed at a shard boundary forms exactly the batches an uninterrupted run forms, and gives the same
numbers. Depends on torch, numpy, ``gtekit.model.embedder`` and the ``inference`` modules; knows nothing
of training or of files.
"""

from __future__ import annotations

import copy
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context

import numpy as np
import torch
import torch.nn.functional as F

from ..model.device import resolve_device
from ..model.embedder import Embedder, check_texts
from .backends import BatchEncoder, load_model
from .length_batches import Batch, window_batches
from .settings import DEFAULT_BATCH_SIZE, DEFAULT_MAX_BATCH_TOKENS, DEFAULT_WINDOW_SIZE, Backend, ComputePrecision
from .text_inputs import TextRecord

PREFETCH_WINDOWS = 2
PARENT_CHECK_SECONDS = 0.2  # how often a worker process checks that the process that started it is there


@dataclass(frozen=True)
class EncodeOptions:
    """How texts are encoded; ``max_seq_length`` and ``precision`` change the numbers, the rest only the speed
    (and, through batch shapes, the last bits of float rounding)."""

    kind: str | None = None  # "query" / "document": the model's prefix or delimiters
    batch_size: int = DEFAULT_BATCH_SIZE
    max_batch_tokens: int | None = DEFAULT_MAX_BATCH_TOKENS  # padded tokens per forward pass at most
    normalize: bool = True
    max_seq_length: int | None = None  # None: the model's own
    precision: ComputePrecision = ComputePrecision.FP32
    device: str | None = None  # None: cuda if available (torch backend), else cpu (resolved_device)
    window_size: int = DEFAULT_WINDOW_SIZE
    backend: Backend = Backend.TORCH
    prefetch_windows: int = PREFETCH_WINDOWS  # windows tokenised ahead in a background thread; 0: inline

    def __post_init__(self) -> None:
        object.__setattr__(self, "precision", ComputePrecision.parse(self.precision))
        object.__setattr__(self, "backend", Backend.parse(self.backend))
        if self.kind not in (None, "query", "document"):
            raise ValueError(f"unknown text kind {self.kind!r}; valid: query, document")
        for name in ("batch_size", "window_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.prefetch_windows < 0:
            raise ValueError(f"prefetch_windows must be >= 0, got {self.prefetch_windows}")
        if self.max_seq_length is not None and self.max_seq_length < 2:
            raise ValueError(f"max_seq_length must be >= 2, got {self.max_seq_length}")

    def resolved_device(self) -> torch.device:
        """The device given; without one, ``resolve_device``'s choice (CUDA when available, else the CPU) for the
        torch backend, and the CPU for ONNX Runtime."""
        if not self.device and self.backend is not Backend.TORCH:
            return torch.device("cpu")
        return resolve_device(self.device or None)

    def load(self, model: str | Embedder, threads: int | None = None):
        """``backends.load_model`` with these options."""
        return load_model(model, backend=self.backend, precision=self.precision, device=self.resolved_device(),
                          max_seq_length=self.max_seq_length, threads=threads)


# ------------------------------------------------------------------------------------------------ runners
class InProcessRunner:
    """Runs every batch in this process, one after another."""

    def __init__(self, encoder: BatchEncoder) -> None:
        self.encoder = encoder

    def map(self, batches: Iterable[Batch]) -> Iterator[np.ndarray]:
        for batch in batches:
            yield self.encoder(batch.features)

    def close(self) -> None:
        pass


_WORKER_ENCODER: BatchEncoder | None = None


def _start_worker(model: str, options: EncodeOptions, threads: int, parent: int) -> None:
    global _WORKER_ENCODER
    _end_with_parent(parent)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _WORKER_ENCODER = options.load(model, threads=threads).encoder


def _end_with_parent(parent: int) -> None:
    """End this worker process as soon as ``parent`` (the process that started the pool) is gone.

    A watch thread sees the parent's death as a new parent process id (the orphan is adopted by init or
    a subreaper), also if it died before this worker got here. Not ``prctl(PR_SET_PDEATHSIG)``: Linux
    sends that signal when the *thread* that started the worker ends, which may be long before the pool
    does. The multiprocessing resource tracker ends by itself once its pipe's last writer (this worker
    among them) is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)  # no cleanup to wait for: the batches in flight belong to a run that has ended

    threading.Thread(target=watch, name="gtekit-parent-watch", daemon=True).start()


def _encode_in_worker(features: dict[str, np.ndarray]) -> np.ndarray:
    assert _WORKER_ENCODER is not None, "worker process not initialised"
    return _WORKER_ENCODER(features)


class ProcessPoolRunner:
    """Spreads batches over ``processes`` spawned worker processes; yields results in submission order."""

    def __init__(self, model: str, options: EncodeOptions, processes: int, threads: int | None = None) -> None:
        if processes < 2:
            raise ValueError(f"a process pool needs >= 2 processes, got {processes}")
        if options.resolved_device().type != "cpu":
            raise ValueError("--processes > 1 is for CPU encoding; on a GPU one process keeps it busy")
        threads = threads or max(1, available_cores() // processes)
        self.processes = processes
        self.executor = ProcessPoolExecutor(max_workers=processes, mp_context=get_context("spawn"),
                                            initializer=_start_worker,
                                            initargs=(model, options, threads, os.getpid()))

    def map(self, batches: Iterable[Batch]) -> Iterator[np.ndarray]:
        in_flight: deque[Future] = deque()
        for batch in batches:
            in_flight.append(self.executor.submit(_encode_in_worker, batch.features))
            if len(in_flight) >= 2 * self.processes:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------------------------------ pipeline
@dataclass
class _PreparedWindow:
    records: list[TextRecord]
    batches: list[Batch]


class TextEncoder:
    """Encodes texts with one model and one set of :class:`EncodeOptions`, in this process or several.

    >>> with TextEncoder("all-MiniLM-L6-v2", EncodeOptions(precision="int8"), processes=2) as encoder:
    ...     embeddings = encoder.encode(["a cat", "a dog"])   # (2, 384), input order
    """

    def __init__(self, model: str | Embedder, options: EncodeOptions | None = None, processes: int = 1) -> None:
        self.options = options or EncodeOptions()
        if processes < 1:
            raise ValueError(f"processes must be >= 1, got {processes}")
        if processes > 1 and not isinstance(model, str):
            raise ValueError("several processes load the model by name: pass its name or folder, not a model object")
        # with worker processes this process only tokenises: load the plain fp32 model for its tokenizer
        options = self.options if processes == 1 else replace(self.options, precision=ComputePrecision.FP32)
        loaded = options.load(model)
        self.tokenizer, self.settings, self.dimension = loaded.tokenizer, loaded.settings, loaded.dimension
        self.source = loaded.source
        if processes > 1:
            del loaded  # the workers load their own copies
            self.runner: InProcessRunner | ProcessPoolRunner = ProcessPoolRunner(model, self.options, processes)
        else:
            self.runner = InProcessRunner(loaded.encoder)

    def __enter__(self) -> TextEncoder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.runner.close()

    def encode(self, texts: Sequence[str] | str, batch_size: int | None = None, normalize: bool | None = None,
               kind: str | None = None, show_progress: bool | None = None) -> np.ndarray:
        """``texts`` (N,) -> float32 (N, H), in input order: ``Embedder.encode``'s interface, so a
        TextEncoder can stand in for a model. ``batch_size``, ``normalize``, ``kind``: None means the
        options' value. No progress bar (``show_progress`` is accepted and ignored)."""
        texts = [texts] if isinstance(texts, str) else texts
        check_texts(texts)
        changes = {"batch_size": batch_size, "normalize": normalize, "kind": kind}
        encoder = self.with_options(**{key: value for key, value in changes.items() if value is not None})
        records = [TextRecord(str(i), text) for i, text in enumerate(texts)]
        parts = [embeddings for _, embeddings in encoder.encode_records(records)]
        return np.concatenate(parts) if parts else np.empty((0, self.dimension), dtype=np.float32)

    def with_options(self, **changes) -> TextEncoder:
        """This encoder (same model, same processes) with other ``kind``, ``normalize``, ``batch_size``,
        ``max_batch_tokens`` or ``window_size``; the options that shape the model cannot change."""
        fixed = sorted(set(changes) & {"max_seq_length", "precision", "device", "backend"})
        if fixed:
            raise ValueError(f"{', '.join(fixed)} cannot change on a running encoder; make a new TextEncoder")
        other = copy.copy(self)
        other.options = replace(self.options, **changes)
        return other

    def encode_records(self, records: Iterable[TextRecord], *, start: int = 0,
                       boundary: int | None = None) -> Iterator[tuple[list[TextRecord], np.ndarray]]:
        """(records, embeddings) per window, in input order. ``start`` is the position of the first
        record (a resumed run), ``boundary`` a row multiple that no window crosses."""
        prepared = (self._prepare(window) for window in
                    windows(records, self.options.window_size, start=start, boundary=boundary))
        if self.options.prefetch_windows > 0:
            prepared = prefetch(prepared, depth=self.options.prefetch_windows)
        pending: deque[_PreparedWindow] = deque()

        def batches() -> Iterator[Batch]:
            for window in prepared:
                pending.append(window)
                yield from window.batches

        results = self.runner.map(batches())
        for first in results:
            window = pending.popleft()
            output = np.empty((len(window.records), self.dimension), dtype=np.float32)
            for number, batch in enumerate(window.batches):
                output[batch.index] = first if number == 0 else next(results)
            if self.options.normalize:
                output = F.normalize(torch.from_numpy(output), dim=-1).numpy()  # x / max(||x||, 1e-12)
            yield window.records, output

    def _prepare(self, records: list[TextRecord]) -> _PreparedWindow:
        options = self.options
        return _PreparedWindow(records, window_batches(
            self.tokenizer, self.settings, [record.text for record in records], kind=options.kind,
            batch_size=options.batch_size, max_batch_tokens=options.max_batch_tokens))


def available_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def windows(records: Iterable[TextRecord], size: int, *, start: int = 0,
            boundary: int | None = None) -> Iterator[list[TextRecord]]:
    """Consecutive lists of at most ``size`` records, cut at every multiple of ``boundary`` (counting
    rows from ``start``, the position of the first record)."""
    window: list[TextRecord] = []
    position = start
    for record in records:
        window.append(record)
        position += 1
        if len(window) == size or (boundary and position % boundary == 0):
            yield window
            window = []
    if window:
        yield window


def prefetch(items: Iterator, depth: int) -> Iterator:
    """Iterate ``items`` in a background thread, up to ``depth`` items ahead; its errors are raised here."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as error:  # handed to the consumer, raised there
            put((done, error))

    thread = threading.Thread(target=produce, name="gtekit-tokenize", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
