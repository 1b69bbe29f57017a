"""The faiss index for each (kind, precision): creation, training, adding, searching, saving.

All float indexes score by inner product (cosine on L2-normalised vectors); binary ones by Hamming
distance on sign bits, reported as the cosine of the ±1 vectors, (d - 2h) / d (see ``vector_precision``).

- flat: ``Flat`` (float32), ``SQfp16`` (float16), ``SQ8`` (int8), ``BFlat`` (binary, ubinary);
- hnsw: ``HNSW{M}``, ``HNSW{M},SQfp16``, ``HNSW{M},SQ8``, ``BHNSW{M}``;
- ivfpq: ``IVF{nlist},PQ{m}x{nbits}`` (float32 input only: the PQ codes are its compression).

(faiss ``index_factory`` / ``index_binary_factory`` strings.) int8 codes are sentence-transformers'
``quantize_embeddings`` codes with the corpus's calibration ranges: the SQ8 quantizer is given those
ranges instead of training its own, and each row is added as the centre of its buckets, which SQ8
encodes back to exactly those codes (SQ8 scores a float query against the bucket centres).

Depends on ``settings``, ``vector_precision`` and ``topk``; imports faiss only inside functions.
"""

from __future__ import annotations

import numpy as np

from ..io.atomic import atomic_path
from .settings import EmbeddingPrecision, IndexKind, IndexSettings
from .topk import padded
from .vector_precision import hamming_to_cosine, int8_bucket_centres, int8_steps, quantize

FLOAT_CODES = {EmbeddingPrecision.FLOAT32: "", EmbeddingPrecision.FLOAT16: "SQfp16", EmbeddingPrecision.INT8: "SQ8"}


def factory_string(settings: IndexSettings, dimension: int) -> str:
    """The faiss factory string of a resolved ``settings`` (see the module docstring)."""
    kind, precision = settings.kind, settings.precision
    if kind is IndexKind.AUTO:
        raise ValueError("resolve the settings (IndexSettings.resolve) before creating an index")
    if precision.is_binary:
        if kind is IndexKind.IVFPQ:
            raise ValueError("binary precisions go with kind flat or hnsw, not ivfpq")
        return "BFlat" if kind is IndexKind.FLAT else f"BHNSW{settings.hnsw_m}"
    if kind is IndexKind.IVFPQ:
        return f"IVF{settings.nlist},PQ{settings.pq_m}x{settings.pq_nbits}"
    codes = FLOAT_CODES[precision]
    if kind is IndexKind.FLAT:
        return codes or "Flat"
    return f"HNSW{settings.hnsw_m}" + (f",{codes}" if codes else "")


def binary_width(dimension: int) -> int:
    """Bits of a binary index over ``dimension`` signs: packed to whole bytes."""
    return 8 * ((dimension + 7) // 8)


def new_index(settings: IndexSettings, dimension: int, ranges: np.ndarray | None = None):
    """An empty faiss index for resolved ``settings``; int8 needs the calibration ``ranges`` (2, d)."""
    import faiss

    description = factory_string(settings, dimension)
    if settings.precision.is_binary:
        index = faiss.index_binary_factory(binary_width(dimension), description)
    else:
        index = faiss.index_factory(dimension, description, faiss.METRIC_INNER_PRODUCT)
    if settings.kind is IndexKind.HNSW:
        index.hnsw.efConstruction = settings.ef_construction
    if settings.kind is IndexKind.IVFPQ:
        # the factory turns on polysemous training (codes ordered for Hamming filtering, which search never
        # uses): it costs ten times the quantizers' own training
        faiss.downcast_index(index).do_polysemous_training = False
    if settings.precision is EmbeddingPrecision.INT8:
        if ranges is None:
            raise ValueError("an int8 index needs calibration ranges")
        storage = faiss.downcast_index(index.storage) if settings.kind is IndexKind.HNSW else index
        starts, steps = int8_steps(ranges)
        faiss.copy_array_to_vector(np.concatenate([starts, 255 * steps]).astype(np.float32), storage.sq.trained)
        storage.is_trained = True
        index.is_trained = True
    return index


def add_rows(index, embeddings: np.ndarray, precision: EmbeddingPrecision, ranges: np.ndarray | None = None) -> None:
    """Add L2-normalised float32 ``embeddings`` (n, d) in ``precision``."""
    if precision.is_binary:
        index.add(quantize(embeddings, EmbeddingPrecision.UBINARY))
    elif precision is EmbeddingPrecision.INT8:
        index.add(int8_bucket_centres(quantize(embeddings, EmbeddingPrecision.INT8, ranges), ranges))
    else:
        index.add(np.ascontiguousarray(embeddings, dtype=np.float32))


def set_search_parameters(index, settings: IndexSettings, candidates: int) -> None:
    """nprobe (ivfpq) and efSearch (hnsw, at least the number of ``candidates`` asked for)."""
    import faiss

    if settings.kind is IndexKind.IVFPQ:
        faiss.extract_index_ivf(index).nprobe = min(settings.nprobe, settings.nlist or settings.nprobe)
    elif settings.kind is IndexKind.HNSW:
        index.hnsw.efSearch = max(settings.ef_search, candidates)


def search_index(index, queries: np.ndarray, candidates: int, precision: EmbeddingPrecision,
                 dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores (Q, candidates) descending, row ids (Q, candidates)) of L2-normalised ``queries`` (Q, d)."""
    if precision.is_binary:
        distances, ids = index.search(quantize(queries, EmbeddingPrecision.UBINARY), candidates)
        return padded(hamming_to_cosine(distances, dimension), ids)
    scores, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), candidates)
    return padded(scores, ids)


def write_index(index, path, binary: bool) -> None:
    """Write ``index`` atomically: ``faiss.write_index`` to a temporary name, then rename."""
    import faiss

    with atomic_path(path) as tmp:
        (faiss.write_index_binary if binary else faiss.write_index)(index, str(tmp))


def read_index(path, binary: bool):
    import faiss

    return (faiss.read_index_binary if binary else faiss.read_index)(str(path))
