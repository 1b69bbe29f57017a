"""Top-k search of a query store against a corpus store by inner product (cosine: stores are L2-normalised).

Two ways, chosen by :class:`IndexKind` (``auto``: exact up to ``EXACT_MAX_DOCS`` corpus rows):

- ``flat``, exact: for each query chunk, faiss's exhaustive inner-product search (the kernel of
  ``IndexFlatIP``) over one corpus chunk at a time, merged into a running top-k. Memory: one query
  chunk, one corpus chunk and the (queries, k) results; the corpus is never whole in memory.
- ``ivf`` (``IVF{nlist},SQ8``) or ``hnsw`` (``HNSW32,SQ8``), approximate: faiss index trained on a
  sample and filled chunk by chunk, holding the corpus at 8 bits per dimension (a quarter of the
  float32 store). It proposes ``candidate_factor * k`` neighbours, which are rescored exactly from
  the store: the order may miss a true neighbour, but every score is the exact cosine, since the
  false-negative rules compare scores with the positive's.

Results come per query chunk: (first query id, scores (Q, k) float32 descending, corpus ids (Q, k)
int64), id -1 and score -inf where fewer than k candidates exist. Depends on ``encode_store`` and the
shared top-k helpers of ``gtekit.search.topk``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from ..search.topk import TRAIN_ROWS_PER_LIST, ivf_lists, padded, rescore_top_k
from .encode_store import EmbeddingStore

logger = logging.getLogger(__name__)

EXACT_MAX_DOCS = 1_000_000  # auto: exact search up to this many corpus rows


class IndexKind(StrEnum):
    AUTO = "auto"
    FLAT = "flat"
    IVF = "ivf"
    HNSW = "hnsw"

    @classmethod
    def parse(cls, value: str | IndexKind) -> IndexKind:
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown index {value!r}; valid: {', '.join(kind.value for kind in cls)}") from None


@dataclass(frozen=True)
class SearchSettings:
    """How candidates are found: ``k`` per query, by which index."""

    k: int = 50
    index: IndexKind = IndexKind.AUTO
    nprobe: int = 64  # ivf: inverted lists visited per query
    ef_search: int = 256  # hnsw: size of the search beam (raised to the number of candidates if lower)
    candidate_factor: int = 2  # approximate indexes: neighbours proposed per query = factor * k, then rescored

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", IndexKind.parse(self.index))
        for name in ("k", "nprobe", "ef_search", "candidate_factor"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def resolved(self, corpus_size: int) -> IndexKind:
        """The index actually used for a corpus of ``corpus_size`` rows."""
        if self.index is not IndexKind.AUTO:
            return self.index
        return IndexKind.FLAT if corpus_size <= EXACT_MAX_DOCS else IndexKind.IVF

    def describe(self, corpus_size: int) -> dict:
        """The settings that decide the candidates, as stored in a run file's metadata."""
        kind = self.resolved(corpus_size)
        described: dict = {"k": self.k, "index": kind.value}
        if kind is IndexKind.IVF:
            described |= {"nlist": ivf_lists(corpus_size), "nprobe": self.nprobe}
        if kind is IndexKind.HNSW:
            described |= {"ef_search": self.ef_search}
        if kind is not IndexKind.FLAT:
            described |= {"candidate_factor": self.candidate_factor}
        return described


def search(queries: EmbeddingStore, corpus: EmbeddingStore,
           settings: SearchSettings) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(first query id, scores (Q, k), corpus ids (Q, k)) for each chunk of ``queries``; see the module docstring."""
    if queries.dimension != corpus.dimension:
        raise ValueError(f"queries have dimension {queries.dimension}, the corpus {corpus.dimension}: "
                         "were they encoded by the same model?")
    kind = settings.resolved(corpus.count)
    if kind is IndexKind.FLAT:
        yield from _exact_search(queries, corpus, settings.k)
        return
    index = _approximate_index(corpus, kind, settings)
    proposals = min(settings.candidate_factor * settings.k, corpus.count)
    for start, embeddings in queries.iter_chunks():
        _, ids = index.search(embeddings, proposals)
        yield (start, *rescore(embeddings, ids, corpus, settings.k))


def _exact_search(queries: EmbeddingStore, corpus: EmbeddingStore,
                  k: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    import faiss

    for start, embeddings in queries.iter_chunks():
        heap = faiss.ResultHeap(len(embeddings), k, keep_max=True)
        for offset, documents in corpus.iter_chunks():
            scores, ids = faiss.knn(embeddings, documents, min(k, len(documents)),
                                    metric=faiss.METRIC_INNER_PRODUCT)  # (Q, k) each
            heap.add_result(scores, np.where(ids >= 0, ids + offset, -1))
        heap.finalize()
        yield (start, *padded(heap.D, heap.I))


def rescore(queries: np.ndarray, ids: np.ndarray, corpus: EmbeddingStore, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores of candidate ``ids`` (Q, C) (-1: none) for ``queries`` (Q, H): the best k, descending."""
    return rescore_top_k(queries, ids, corpus.rows, k)


def _approximate_index(corpus: EmbeddingStore, kind: IndexKind, settings: SearchSettings):
    import faiss

    if kind is IndexKind.IVF:
        nlist = ivf_lists(corpus.count)
        index = faiss.index_factory(corpus.dimension, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
        sample_size = min(corpus.count, TRAIN_ROWS_PER_LIST * nlist)
    else:
        index = faiss.index_factory(corpus.dimension, "HNSW32,SQ8", faiss.METRIC_INNER_PRODUCT)
        sample_size = min(corpus.count, 100_000)
    sample = np.sort(np.random.default_rng(0).choice(corpus.count, size=sample_size, replace=False))
    logger.info("training the %s index on %d of %d corpus rows", kind.value, sample_size, corpus.count)
    index.train(corpus.rows(sample))
    for _, documents in corpus.iter_chunks():
        index.add(documents)
    if kind is IndexKind.IVF:
        index.nprobe = min(settings.nprobe, index.nlist)
    else:
        index.hnsw.efSearch = max(settings.ef_search, settings.candidate_factor * settings.k)
    return index
