"""Embedding precisions with sentence-transformers' ``quantize_embeddings`` semantics, and their scores.

For an embedding x (d,) and calibration ranges (min_j, max_j) taken per dimension over the corpus:

- int8: step_j = (max_j - min_j) / 255 (1 where max_j = min_j), code_j = clip(floor((x_j - min_j) / step_j),
  0, 255) - 128; dequantized back as (code_j + 128)·step_j + min_j (the bucket's lower edge). faiss's SQ8
  stores code_j + 128 and decodes the bucket's centre, min_j + (code_j + 128.5)·step_j;
- binary / ubinary: bit_j = [x_j > 0], packed 8 per byte (``np.packbits``, zero-padded to whole bytes);
  ubinary keeps the bytes (uint8), binary shifts them by -128 into int8. Two bit vectors at Hamming
  distance h agree in d - h signs, so their ±1 vectors have cosine (d - 2h) / d: the score a binary index
  reports before rescoring.

Depends on numpy only; the equality with sentence-transformers is checked in tests/index.
"""

from __future__ import annotations

import numpy as np

from .settings import EmbeddingPrecision

NORM_TOLERANCE = 1e-4  # rows whose norm is this close to 1 count as already L2-normalised


def unit_rows(embeddings: np.ndarray) -> np.ndarray:
    """``embeddings`` (n, d) as float32 with every row of norm 1 (zero rows stay zero). Rows already of
    norm 1 are returned bit for bit, so a normalised corpus quantizes exactly as sentence-transformers does."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(embeddings, axis=1)  # (n,)
    off = np.abs(norms - 1) > NORM_TOLERANCE
    if not off.any():
        return embeddings
    embeddings = embeddings.copy()
    embeddings[off] /= np.maximum(norms[off], 1e-12)[:, None]
    return embeddings


class RangeTracker:
    """Per-dimension min and max over batches seen one at a time: the int8 calibration ranges (2, d)."""

    def __init__(self, dimension: int) -> None:
        self.low = np.full(dimension, np.inf, dtype=np.float32)
        self.high = np.full(dimension, -np.inf, dtype=np.float32)

    def update(self, embeddings: np.ndarray) -> None:
        if len(embeddings):
            np.minimum(self.low, embeddings.min(axis=0), out=self.low)
            np.maximum(self.high, embeddings.max(axis=0), out=self.high)

    @property
    def ranges(self) -> np.ndarray:
        if not np.isfinite(self.low).all():
            raise ValueError("no embeddings seen: int8 calibration ranges need at least one row")
        return np.vstack([self.low, self.high])  # (2, d)


def int8_steps(ranges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, steps), each (d,) float32, of int8 quantization with ``ranges`` (2, d) = (min, max)."""
    ranges = np.asarray(ranges, dtype=np.float32)
    starts = ranges[0]
    steps = (ranges[1] - starts) / 255
    return starts, np.where(steps == 0, 1, steps).astype(np.float32)


def quantize(embeddings: np.ndarray, precision: EmbeddingPrecision | str,
             ranges: np.ndarray | None = None) -> np.ndarray:
    """``embeddings`` (n, d) float -> the stored codes of ``precision``, as ``quantize_embeddings`` returns them:
    float32 / float16 arrays (n, d), int8 codes (n, d), binary int8 / ubinary uint8 bytes (n, ceil(d / 8)).
    int8 needs the corpus's ``ranges`` (2, d); without them the embeddings calibrate themselves."""
    precision = EmbeddingPrecision.parse(precision)
    embeddings = np.asarray(embeddings)
    if precision is EmbeddingPrecision.FLOAT32:
        return embeddings.astype(np.float32)
    if precision is EmbeddingPrecision.FLOAT16:
        return embeddings.astype(np.float16)
    if precision is EmbeddingPrecision.INT8:
        if ranges is None:
            ranges = np.vstack([embeddings.min(axis=0), embeddings.max(axis=0)])
        starts, steps = int8_steps(ranges)
        buckets = np.clip(np.floor((embeddings - starts) / steps), 0, 255)
        return (buckets - 128).astype(np.int8)
    bits = np.packbits(embeddings > 0, axis=-1)  # (n, ceil(d / 8)) uint8
    return bits if precision is EmbeddingPrecision.UBINARY else (bits - 128).astype(np.int8)


def dequantize_int8(codes: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """int8 ``codes`` (..., d) -> float32 (..., d): (code + 128)·step + min, each bucket's lower edge."""
    starts, steps = int8_steps(ranges)
    return ((codes.astype(np.float32) + 128) * steps + starts).astype(np.float32)


def int8_bucket_centres(codes: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """int8 ``codes`` (n, d) -> the float32 centre of each bucket, min + (code + 128.5)·step: the vector faiss's
    SQ8 encodes back to exactly these codes (it codes floor(255·(x - min) / (255·step)))."""
    starts, steps = int8_steps(ranges)
    return ((codes.astype(np.float32) + 128.5) * steps + starts).astype(np.float32)


def hamming_to_cosine(distances: np.ndarray, dimension: int) -> np.ndarray:
    """Hamming distances h between sign-bit vectors of ``dimension`` -> the cosine (d - 2h) / d of their ±1 forms."""
    return (1.0 - 2.0 * np.asarray(distances, dtype=np.float32) / dimension).astype(np.float32)
