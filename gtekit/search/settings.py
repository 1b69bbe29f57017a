"""The choices behind a search: the index structure (:class:`IndexKind`, shared by ``gtekit index build``
and ``gtekit mine``), the precision an index stores its vectors in (:class:`EmbeddingPrecision`), what
rescoring reads (:class:`RescoreStore`), and the faiss parameters of an index folder.

Each command searches with some of the kinds: ``gtekit index build`` builds ``INDEX_KINDS`` (auto, flat,
hnsw, ivfpq); ``gtekit mine`` searches with ``gtekit.negatives.candidate_search.MINING_KINDS`` (auto,
flat, ivf, hnsw), and :meth:`IndexKind.parse` refuses the others, listing the valid ones.

:meth:`IndexSettings.resolve` turns the user's settings (``auto`` and ``None`` allowed) into the concrete
values recorded in an index's manifest, for a corpus of N rows of dimension d:

- kind ``auto``: ``flat`` (exact) up to ``FLAT_MAX_ROWS`` rows (``BINARY_FLAT_MAX_ROWS`` for bit
  vectors, whose exact search is 32x cheaper), then ``hnsw``, and ``ivfpq`` above ``HNSW_MAX_ROWS``
  when the precision is float32;
- IVF-PQ: nlist ≈ 4·sqrt(N) (faiss's guideline), m = d/8 sub-quantizers (8 dimensions each, 1 byte
  each at nbits = 8), trained on at most ``DEFAULT_TRAIN_ROWS`` rows;
- rescore store ``auto``: float32 embeddings kept beside any index whose scores are approximate
  (a precision below float32, or IVF-PQ), none otherwise.

:class:`IndexBuildSettings` are everything ``gtekit index build`` is asked to do: which shards, which folder,
these index settings; ``index_build.build_index_folder`` runs them.

Depends on ``topk`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum

from .topk import TRAIN_ROWS_PER_LIST, ivf_lists

FLAT_MAX_ROWS = 200_000
BINARY_FLAT_MAX_ROWS = 5_000_000
HNSW_MAX_ROWS = 2_000_000
DEFAULT_TRAIN_ROWS = 262_144  # IVF-PQ training sample: 384 MiB of float32 at d = 384
PQ_MIN_TRAIN_ROWS = 39 * 256  # faiss warns below 39 rows per centroid; PQ has 2^8 centroids per sub-quantizer


def _parse(enum_class, value, what: str):
    try:
        return enum_class(value)
    except ValueError:
        valid = ", ".join(member.value for member in enum_class)
        raise ValueError(f"unknown {what} {value!r}; valid: {valid}") from None


class IndexKind(StrEnum):
    """How a corpus is searched; each command takes some of the kinds (see the module docstring)."""

    AUTO = "auto"  # chosen by the corpus size
    FLAT = "flat"  # exact: every stored vector is scored
    IVF = "ivf"  # nlist k-means cells of 8-bit scalar-quantized vectors, nprobe cells searched (mining)
    HNSW = "hnsw"  # graph search (M links per node, efConstruction / efSearch beams)
    IVFPQ = "ivfpq"  # nlist k-means cells, product-quantized residuals, nprobe cells searched (index folders)

    @classmethod
    def parse(cls, value: str | IndexKind, supported: Sequence[IndexKind] | None = None,
              what: str = "index kind") -> IndexKind:
        """The member ``value`` names, if it is one of ``supported`` (default: all); otherwise a ValueError
        listing the ``supported`` ones."""
        valid = tuple(supported or cls)
        kind = next((member for member in valid if member.value == value), None)
        if kind is None:
            raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(member.value for member in valid)}")
        return kind


INDEX_KINDS = (IndexKind.AUTO, IndexKind.FLAT, IndexKind.HNSW, IndexKind.IVFPQ)  # what an index folder holds


class EmbeddingPrecision(StrEnum):
    """How the index stores document vectors (sentence-transformers' ``quantize_embeddings`` names)."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"
    INT8 = "int8"  # 256 buckets per dimension between the corpus's min and max (faiss SQ8)
    BINARY = "binary"  # sign bits, packed 8 per byte; searched by Hamming distance
    UBINARY = "ubinary"  # the same bits; differs from binary only in the exported int8/uint8 view

    @classmethod
    def parse(cls, value: str | EmbeddingPrecision) -> EmbeddingPrecision:
        return _parse(cls, value, "precision")

    @property
    def is_binary(self) -> bool:
        return self in (EmbeddingPrecision.BINARY, EmbeddingPrecision.UBINARY)


class RescoreStore(StrEnum):
    """The document embeddings that rescoring reads from disk (memory-mapped)."""

    AUTO = "auto"
    FLOAT32 = "float32"
    INT8 = "int8"  # 4x smaller; dequantized with the corpus's calibration ranges
    NONE = "none"

    @classmethod
    def parse(cls, value: str | RescoreStore) -> RescoreStore:
        return _parse(cls, value, "rescore store")


@dataclass(frozen=True)
class IndexSettings:
    """What to build; ``None`` and ``auto`` are decided by :meth:`resolve` from the corpus size."""

    kind: IndexKind = IndexKind.AUTO
    precision: EmbeddingPrecision = EmbeddingPrecision.FLOAT32
    rescore_store: RescoreStore = RescoreStore.AUTO
    rescore_multiplier: int = 8  # candidates retrieved per result when rescoring (docs/search.md: recall by value)
    nlist: int | None = None  # ivfpq: k-means cells (default ≈ 4·sqrt(N))
    pq_m: int | None = None  # ivfpq: sub-quantizers, must divide d (default d/8)
    pq_nbits: int = 8  # ivfpq: bits per sub-quantizer code
    nprobe: int = 32  # ivfpq: cells searched per query
    hnsw_m: int = 32  # hnsw: links per node
    ef_construction: int = 100  # hnsw: beam width while adding
    ef_search: int = 128  # hnsw: beam width while searching (raised to the number of candidates)
    train_rows: int = DEFAULT_TRAIN_ROWS  # ivfpq: at most this many rows train the quantizers
    seed: int = 0  # which rows train

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", IndexKind.parse(self.kind, INDEX_KINDS))
        object.__setattr__(self, "precision", EmbeddingPrecision.parse(self.precision))
        object.__setattr__(self, "rescore_store", RescoreStore.parse(self.rescore_store))
        for name in ("rescore_multiplier", "pq_nbits", "nprobe", "hnsw_m", "ef_construction", "ef_search",
                     "train_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("nlist", "pq_m"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.kind is IndexKind.IVFPQ and self.precision is not EmbeddingPrecision.FLOAT32:
            raise ValueError(f"ivfpq stores product-quantized codes of float32 vectors; precision "
                             f"{self.precision.value} goes with kind flat or hnsw")
        if not 1 <= self.pq_nbits <= 16:
            raise ValueError(f"pq_nbits must be between 1 and 16, got {self.pq_nbits}")

    def resolve(self, count: int, dimension: int) -> IndexSettings:
        """These settings with every ``auto`` / ``None`` decided for ``count`` rows of ``dimension``."""
        kind = self.kind if self.kind is not IndexKind.AUTO else auto_kind(count, self.precision)
        store = self.rescore_store
        if store is RescoreStore.AUTO:
            approximate_scores = self.precision is not EmbeddingPrecision.FLOAT32 or kind is IndexKind.IVFPQ
            store = RescoreStore.FLOAT32 if approximate_scores else RescoreStore.NONE
        resolved = replace(self, kind=kind, rescore_store=store)
        if kind is IndexKind.IVFPQ:
            pq_m = self.pq_m or default_pq_m(dimension)
            if dimension % pq_m:
                divisors = [m for m in range(1, dimension + 1) if dimension % m == 0]
                raise ValueError(f"pq_m={pq_m} does not divide the dimension {dimension}; valid: {divisors}")
            nlist = min(self.nlist or ivf_lists(count), count)
            needed = max(TRAIN_ROWS_PER_LIST * nlist, PQ_MIN_TRAIN_ROWS)
            resolved = replace(resolved, nlist=nlist, pq_m=pq_m,
                               train_rows=min(count, self.train_rows, needed))
        return resolved

    def parameters(self) -> dict:
        """The settings that shape this kind of index, as recorded in its manifest."""
        values = {key: (value.value if isinstance(value, StrEnum) else value) for key, value in asdict(self).items()}
        common = ["kind", "precision", "rescore_store", "rescore_multiplier"]
        own = {IndexKind.FLAT: [], IndexKind.HNSW: ["hnsw_m", "ef_construction", "ef_search"],
               IndexKind.IVFPQ: ["nlist", "pq_m", "pq_nbits", "nprobe", "train_rows", "seed"],
               IndexKind.AUTO: []}[self.kind]
        return {key: values[key] for key in common + own}


@dataclass(frozen=True)
class IndexBuildSettings:
    """A folder of encoded shards (``gtekit encode``) -> an index folder, built with ``index``."""

    shards_dir: str
    output_dir: str  # the index folder; an index already there is replaced
    index: IndexSettings = field(default_factory=IndexSettings)
    allow_partial: bool = False  # index the shards listed so far in an incomplete folder instead of stopping
    store_texts: bool = True  # False: ids only, hits come back without texts
    progress: bool = True  # a progress bar


def auto_kind(count: int, precision: EmbeddingPrecision) -> IndexKind:
    """The kind ``auto`` picks for ``count`` rows (see the module docstring)."""
    if count <= (BINARY_FLAT_MAX_ROWS if precision.is_binary else FLAT_MAX_ROWS):
        return IndexKind.FLAT
    if count > HNSW_MAX_ROWS and precision is EmbeddingPrecision.FLOAT32:
        return IndexKind.IVFPQ
    return IndexKind.HNSW


def default_pq_m(dimension: int) -> int:
    """d/8 sub-quantizers when 8 divides d, else the largest divisor of d not above d/8 (at least 1)."""
    target = max(1, dimension // 8)
    return next(m for m in range(target, 0, -1) if dimension % m == 0)
