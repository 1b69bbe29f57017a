"""The source sampler: which source each batch comes from, and which examples it holds.

GTE draws every batch from a single source, so in-batch negatives come from the same task and
domain as the positives and the model cannot solve a batch by telling sources apart.

Works on source and shard sizes only; depends on numpy and on nothing else in gtekit.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

STATE_VERSION = 2
_SHARD_ORDER, _ROW_ORDER = 0, 1  # seed domains, so no shard order shares a seed with a row order


class SourceSampler:
    """Seeded multinomial choice of one source per batch, then a batch of that source's examples.

    Source i, of n_i examples, is chosen with probability (GTE Eq. 4)

        p_i = n_i^α / Σ_j n_j^α

    so α = 0 is uniform over sources, α = 1 is proportional to size, and the default α = 0.5
    sits between. Optional ``weights`` w_i multiply n_i^α before renormalising:
    p_i = w_i n_i^α / Σ_j w_j n_j^α (a weight of 0 turns a source off). Optional ``caps`` c_i
    make a source count as min(n_i, c_i) examples, here and in its epochs (below).

    ``sizes[i]`` is source i's number of examples, or the list of its shards' row counts (a shard
    is a file; an int is one shard). Example k of a source is row k of the shards laid end to end
    in the order given. Each epoch visits a source in a two-level order that can be streamed:

    1. a permutation of its shards, a pure function of (seed, i, epoch);
    2. inside each shard, a permutation of its rows, a pure function of (seed, i, epoch, shard).

    A batch takes the next ``batch_size`` examples of that order, so it may end in one shard and
    go on in the next. Only the shard order and the current shard's row permutation are computed,
    never a permutation of all n_i examples, and both are recomputed from (epoch, cursor) alone.
    With a cap, an epoch is the first min(n_i, c_i) examples of this order (a different subset each
    epoch, since the shard order changes). A batch never spans two epochs: when fewer than
    ``batch_size`` examples are left in the current epoch of a source, they are skipped and its next
    epoch starts, so each epoch of a source leaves out fewer than ``batch_size`` of its examples.
    Every source that can be drawn must count at least ``batch_size`` examples (a source of weight 0 is
    never drawn, so its size does not matter); ``names``, when given, only make error messages clearer.

    The whole state is the source-choice RNG state plus each source's epoch and cursor (position
    in its epoch's order), and ``state_dict()`` is a few hundred bytes of plain JSON. Every rank of
    a distributed job builds the same sampler with the same seed, so all ranks draw the same source
    and the same global batch of indices; each rank then takes its own slice of that batch.
    """

    def __init__(self, sizes: Sequence[int | Sequence[int]], batch_size: int, *, alpha: float = 0.5,
                 seed: int = 0, weights: Sequence[float] | None = None, names: Sequence[str] | None = None,
                 caps: Sequence[int | None] | None = None) -> None:
        if len(sizes) == 0:
            raise ValueError("SourceSampler needs at least one source")
        if names is not None and len(names) != len(sizes):
            raise ValueError(f"got {len(names)} names for {len(sizes)} sources")
        if caps is not None and len(caps) != len(sizes):
            raise ValueError(f"got {len(caps)} caps for {len(sizes)} sources")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if not 0 <= alpha < float("inf"):  # also rejects NaN
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.shard_sizes = [_shard_sizes(size) for size in sizes]  # each (num_shards,), int64
        self.sizes = [int(shards.sum()) for shards in self.shard_sizes]
        self.epoch_sizes = list(self.sizes)  # examples one epoch visits: min(n_i, c_i)
        for i, cap in enumerate(caps or []):
            if cap is not None:
                if cap < 1:
                    raise ValueError(f"{_describe(i, names)} has cap {cap}; a cap must be at least 1")
                self.epoch_sizes[i] = min(self.sizes[i], int(cap))
        self._probabilities = source_probabilities(self.epoch_sizes, float(alpha), weights)
        for i, size in enumerate(self.epoch_sizes):
            if size < batch_size and self._probabilities[i] > 0:
                capped = "" if size == self.sizes[i] else f" (capped from {self.sizes[i]})"
                raise ValueError(f"{_describe(i, names)} has {size} examples{capped}, fewer than the batch size "
                                 f"{batch_size}; every batch comes from one source, so drop it or lower the batch size")
        self.batch_size = int(batch_size)
        self.alpha = float(alpha)
        self.seed = int(seed)
        self.names = None if names is None else list(names)
        self._starts = [np.concatenate([[0], np.cumsum(shards)[:-1]]) for shards in self.shard_sizes]
        self._rng = np.random.Generator(np.random.PCG64(self.seed))
        self._epochs = [0] * len(self.sizes)
        self._cursors = [0] * len(self.sizes)
        self._shard_orders: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}  # source -> (epoch, order, ends)
        self._row_orders: dict[int, tuple[int, int, np.ndarray]] = {}  # source -> (epoch, shard, permutation)

    @property
    def probabilities(self) -> np.ndarray:
        """p_i for each source, shape (num_sources,), summing to 1."""
        return self._probabilities.copy()

    def next_batch(self) -> tuple[int, np.ndarray]:
        """Draw the next batch: (source index, example indices of shape (batch_size,), int64)."""
        source = int(self._rng.choice(len(self.sizes), p=self._probabilities))
        if self._cursors[source] + self.batch_size > self.epoch_sizes[source]:  # too few left: next epoch
            self._epochs[source] += 1
            self._cursors[source] = 0
        start = self._cursors[source]
        self._cursors[source] = start + self.batch_size
        return source, self.examples(source, self._epochs[source], start, self.batch_size)

    def examples(self, source: int, epoch: int, start: int, count: int) -> np.ndarray:
        """Positions ``start .. start+count-1`` of ``source``'s order in ``epoch``: example indices (count,)."""
        order, ends = self._shard_order(source, epoch)  # (num_shards,) each
        sizes = self.shard_sizes[source]
        out = np.empty(count, dtype=np.int64)
        filled = 0
        while filled < count:
            position = start + filled
            j = int(np.searchsorted(ends, position, side="right"))  # the j-th shard of the order holds it
            shard = int(order[j])
            offset = position - int(ends[j] - sizes[shard])
            take = min(count - filled, int(sizes[shard]) - offset)
            rows = self._row_order(source, epoch, shard)[offset : offset + take]
            out[filled : filled + take] = self._starts[source][shard] + rows
            filled += take
        return out

    def state_dict(self) -> dict:
        """The sampler's position, as plain JSON-serialisable values."""
        rng_state = self._rng.bit_generator.state
        return {
            "version": STATE_VERSION,
            "sizes": list(self.sizes),
            "shards": [_fingerprint(shards) for shards in self.shard_sizes],
            "epoch_sizes": list(self.epoch_sizes),
            "batch_size": self.batch_size,
            "seed": self.seed,
            "rng": {
                "bit_generator": rng_state["bit_generator"],
                "state": {key: int(value) for key, value in rng_state["state"].items()},
                "has_uint32": int(rng_state["has_uint32"]),
                "uinteger": int(rng_state["uinteger"]),
            },
            "epochs": list(self._epochs),
            "cursors": list(self._cursors),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from a ``state_dict()``; sizes, shards, caps, batch size and seed must match this sampler."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"sampler state version {state.get('version')!r} is not {STATE_VERSION} (a checkpoint "
                             "of an older gtekit, whose example order differs: it cannot be continued exactly)")
        mine = {"sizes": self.sizes, "shards": [_fingerprint(s) for s in self.shard_sizes],
                "epoch_sizes": self.epoch_sizes, "batch_size": self.batch_size, "seed": self.seed}
        for key, value in mine.items():
            if state.get(key) != value:
                raise ValueError(f"sampler state was saved with {key}={state.get(key)}, but this sampler has "
                                 f"{key}={value}; the data mix or config changed since the checkpoint")
        self._rng.bit_generator.state = state["rng"]
        self._epochs = [int(epoch) for epoch in state["epochs"]]
        self._cursors = [int(cursor) for cursor in state["cursors"]]

    def _shard_order(self, source: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """Source ``source``'s shards in their ``epoch`` order, and where each ends in that order (cumulative rows)."""
        cached = self._shard_orders.get(source)
        if cached is None or cached[0] != epoch:
            rng = np.random.default_rng([self.seed, _SHARD_ORDER, source, epoch])
            order = rng.permutation(len(self.shard_sizes[source]))  # (num_shards,)
            cached = (epoch, order, np.cumsum(self.shard_sizes[source][order]))
            self._shard_orders[source] = cached
        return cached[1], cached[2]

    def _row_order(self, source: int, epoch: int, shard: int) -> np.ndarray:
        """The order of ``shard``'s rows in ``epoch`` (shard, row-in-shard), shape (rows in shard,)."""
        cached = self._row_orders.get(source)
        if cached is None or cached[:2] != (epoch, shard):
            rng = np.random.default_rng([self.seed, _ROW_ORDER, source, epoch, shard])
            size = int(self.shard_sizes[source][shard])
            dtype = np.int32 if size <= np.iinfo(np.int32).max else np.int64  # half the memory
            cached = (epoch, shard, rng.permutation(size).astype(dtype))
            self._row_orders[source] = cached  # one shard's permutation per source is ever kept
        return cached[2]


def source_probabilities(sizes: Sequence[int], alpha: float,
                         weights: Sequence[float] | None = None) -> np.ndarray:
    """p_i = w_i n_i^α / Σ_j w_j n_j^α (GTE Eq. 4, with w_i = 1 when no weights are given)."""
    scores = np.asarray(sizes, dtype=np.float64) ** alpha  # (num_sources,)
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != scores.shape:
            raise ValueError(f"got {w.size} weights for {scores.size} sources")
        if not (np.all(w >= 0) and np.all(np.isfinite(w)) and w.sum() > 0):
            raise ValueError(f"weights must be >= 0 with a positive sum, got {list(weights)}")
        scores = scores * w
    return scores / scores.sum()


def _shard_sizes(size: int | Sequence[int]) -> np.ndarray:
    shards = np.array([size] if np.ndim(size) == 0 else list(size), dtype=np.int64)
    if shards.size == 0 or np.any(shards < 0):
        raise ValueError(f"a source needs at least one shard and no negative sizes, got {size!r}")
    return shards


def _fingerprint(shards: np.ndarray) -> str:
    """'<number of shards>:<crc32 of their sizes>': the shard layout in a few bytes of state."""
    return f"{len(shards)}:{zlib.crc32(shards.astype('<i8').tobytes()):08x}"


def _describe(i: int, names: Sequence[str] | None) -> str:
    return f"source {i}" if names is None else f"source {i} ({names[i]!r})"
