"""The source sampler: which source each batch comes from, and which examples it holds.

GTE draws every batch from a single source, so in-batch negatives come from the same task and
domain as the positives and the model cannot solve a batch by telling sources apart.

Works on source sizes only; depends on numpy and on nothing else in gtekit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STATE_VERSION = 1


class SourceSampler:
    """Seeded multinomial choice of one source per batch, then a batch of that source's examples.

    Source i, of n_i examples, is chosen with probability (GTE Eq. 4)

        p_i = n_i^α / Σ_j n_j^α

    so α = 0 is uniform over sources, α = 1 is proportional to size, and the default α = 0.5
    sits between. Optional ``weights`` w_i multiply n_i^α before renormalising:
    p_i = w_i n_i^α / Σ_j w_j n_j^α (a weight of 0 turns a source off).

    Within a source, examples are visited in a fresh random permutation each epoch; the
    permutation of source i at epoch e is a pure function of (seed, i, e). A batch never spans
    two epochs: when fewer than ``batch_size`` examples are left in the current epoch of a source,
    they are skipped and its next epoch starts, so each epoch of a source leaves out fewer than
    ``batch_size`` of its examples (different ones each epoch). Every source must hold at least
    ``batch_size`` examples; ``names``, when given, only make error messages clearer.

    The whole state is the source-choice RNG state plus each source's epoch and cursor, and
    ``state_dict()`` is plain JSON. Every rank of a distributed job builds the same sampler with
    the same seed, so all ranks draw the same source and the same global batch of indices; each
    rank then takes its own slice of that batch.
    """

    def __init__(self, sizes: Sequence[int], batch_size: int, *, alpha: float = 0.5, seed: int = 0,
                 weights: Sequence[float] | None = None, names: Sequence[str] | None = None) -> None:
        if len(sizes) == 0:
            raise ValueError("SourceSampler needs at least one source")
        if names is not None and len(names) != len(sizes):
            raise ValueError(f"got {len(names)} names for {len(sizes)} sources")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if not 0 <= alpha < float("inf"):  # also rejects NaN
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        for i, size in enumerate(sizes):
            if size < batch_size:
                source = f"source {i}" if names is None else f"source {i} ({names[i]!r})"
                raise ValueError(f"{source} has {size} examples, fewer than the batch size {batch_size}; "
                                 "every batch comes from one source, so drop it or lower the batch size")
        self.sizes = [int(size) for size in sizes]
        self.batch_size = int(batch_size)
        self.alpha = float(alpha)
        self.seed = int(seed)
        self.names = None if names is None else list(names)
        self._probabilities = source_probabilities(self.sizes, self.alpha, weights)
        self._rng = np.random.Generator(np.random.PCG64(self.seed))
        self._epochs = [0] * len(self.sizes)
        self._cursors = [0] * len(self.sizes)
        self._permutations: dict[int, tuple[int, np.ndarray]] = {}  # source -> (epoch, permutation)

    @property
    def probabilities(self) -> np.ndarray:
        """p_i for each source, shape (num_sources,), summing to 1."""
        return self._probabilities.copy()

    def next_batch(self) -> tuple[int, np.ndarray]:
        """Draw the next batch: (source index, example indices of shape (batch_size,), int64)."""
        source = int(self._rng.choice(len(self.sizes), p=self._probabilities))
        if self._cursors[source] + self.batch_size > self.sizes[source]:  # too few left: next epoch
            self._epochs[source] += 1
            self._cursors[source] = 0
        start = self._cursors[source]
        self._cursors[source] = start + self.batch_size
        return source, self._permutation(source)[start : start + self.batch_size].astype(np.int64)

    def state_dict(self) -> dict:
        """The sampler's position, as plain JSON-serialisable values."""
        rng_state = self._rng.bit_generator.state
        return {
            "version": STATE_VERSION,
            "sizes": list(self.sizes),
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
        """Continue from a ``state_dict()``; sizes, batch size and seed must match this sampler."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"sampler state version {state.get('version')!r} is not {STATE_VERSION}")
        for key, mine in (("sizes", self.sizes), ("batch_size", self.batch_size), ("seed", self.seed)):
            if state.get(key) != mine:
                raise ValueError(f"sampler state was saved with {key}={state.get(key)}, but this sampler has "
                                 f"{key}={mine}; the data mix or config changed since the checkpoint")
        self._rng.bit_generator.state = state["rng"]
        self._epochs = [int(epoch) for epoch in state["epochs"]]
        self._cursors = [int(cursor) for cursor in state["cursors"]]
        self._permutations.clear()

    def _permutation(self, source: int) -> np.ndarray:
        """The order of source ``source``'s examples in its current epoch, shape (n_source,)."""
        epoch = self._epochs[source]
        cached = self._permutations.get(source)
        if cached is None or cached[0] != epoch:
            rng = np.random.default_rng([self.seed, source, epoch])
            dtype = np.int32 if self.sizes[source] <= np.iinfo(np.int32).max else np.int64  # half the memory
            cached = (epoch, rng.permutation(self.sizes[source]).astype(dtype))
            self._permutations[source] = cached
        return cached[1]


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
