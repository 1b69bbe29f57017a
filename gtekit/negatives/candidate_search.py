"""Top-k search of a query store against a corpus store by inner product (cosine: stores are L2-normalised).

The stores are embedding stores (``gtekit.io.embedding_store``). Two ways, chosen by an
:class:`~gtekit.search.settings.IndexKind` of ``MINING_KINDS`` (``auto``: exact up to ``EXACT_MAX_DOCS``
corpus rows, then ``ivf``):

- ``flat``, exact: ``gtekit.search.topk.exact_top_k`` (faiss kernel) for each query shard, over one
  corpus shard at a time, merged into a running top-k. Memory: one query shard, one corpus shard and
  the (queries, k) results; the corpus is never whole in memory.
- ``ivf`` (``IVF{nlist},SQ8``) or ``hnsw`` (``HNSW32,SQ8``), approximate: faiss index trained on a
  sample and filled shard by shard, holding the corpus at 8 bits per dimension (a quarter of the
  float32 store). It proposes ``candidate_factor * k`` neighbours, which are rescored exactly from
  the store: the order may miss a true neighbour, but every score is the exact cosine, since the
  false-negative rules compare scores with the positive's.

Results come per query shard: (first query id, scores (Q, k) float32 descending, corpus ids (Q, k)
int64), id -1 and score -inf where fewer than k candidates exist. Depends on ``gtekit.io.embedding_store``
and ``gtekit.search`` (the index kinds and the top-k helpers).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..io.embedding_store import EncodedShards
from ..search.settings import IndexKind
from ..search.topk import TRAIN_ROWS_PER_LIST, exact_top_k, ivf_lists, rescore_top_k

logger = logging.getLogger(__name__)

EXACT_MAX_DOCS = 1_000_000  # auto: exact search up to this many corpus rows
MINING_KINDS = (IndexKind.AUTO, IndexKind.FLAT, IndexKind.IVF, IndexKind.HNSW)  # what `gtekit mine` searches with


@dataclass(frozen=True)
class SearchSettings:
    """How candidates are found: ``k`` per query, by which index."""

    k: int = 50
    index: IndexKind = IndexKind.AUTO
    nprobe: int = 64  # ivf: inverted lists visited per query
    ef_search: int = 256  # hnsw: size of the search beam (raised to the number of candidates if lower)
    candidate_factor: int = 2  # approximate indexes: neighbours proposed per query = factor * k, then rescored

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", IndexKind.parse(self.index, MINING_KINDS, "index"))
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


def search(queries: EncodedShards, corpus: EncodedShards,
           settings: SearchSettings) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(first query id, scores (Q, k), corpus ids (Q, k)) for each shard of ``queries``; see the module docstring."""
    if queries.dimension != corpus.dimension:
        raise ValueError(f"queries have dimension {queries.dimension}, the corpus {corpus.dimension}: "
                         "were they encoded by the same model?")
    kind = settings.resolved(len(corpus))
    if kind is IndexKind.FLAT:
        for start, embeddings in queries.iter_embeddings():
            yield (start, *exact_top_k(embeddings, corpus.iter_embeddings, settings.k))
        return
    index = _approximate_index(corpus, kind, settings)
    proposals = min(settings.candidate_factor * settings.k, len(corpus))
    for start, embeddings in queries.iter_embeddings():
        _, ids = index.search(embeddings, proposals)
        yield (start, *rescore_top_k(embeddings, ids, corpus.rows, settings.k))


def _approximate_index(corpus: EncodedShards, kind: IndexKind, settings: SearchSettings):
    import faiss

    count = len(corpus)
    if kind is IndexKind.IVF:
        nlist = ivf_lists(count)
        index = faiss.index_factory(corpus.dimension, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
        sample_size = min(count, TRAIN_ROWS_PER_LIST * nlist)
    else:
        index = faiss.index_factory(corpus.dimension, "HNSW32,SQ8", faiss.METRIC_INNER_PRODUCT)
        sample_size = min(count, 100_000)
    sample = np.sort(np.random.default_rng(0).choice(count, size=sample_size, replace=False))
    logger.info("training the %s index on %d of %d corpus rows", kind.value, sample_size, count)
    index.train(corpus.rows(sample))
    for _, documents in corpus.iter_embeddings():
        index.add(documents)
    if kind is IndexKind.IVF:
        index.nprobe = min(settings.nprobe, index.nlist)
    else:
        index.hnsw.efSearch = max(settings.ef_search, settings.candidate_factor * settings.k)
    return index
