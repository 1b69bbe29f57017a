"""What the embeddings endpoint does to vectors after the model: Matryoshka truncation and base64.

Depends on numpy only.
"""

from __future__ import annotations

import base64

import numpy as np


def truncate_dimensions(embeddings: np.ndarray, dimensions: int) -> np.ndarray:
    """Keep the first ``dimensions`` coordinates and L2-renormalise each row (Matryoshka truncation,
    Kusupati et al. 2022): ``e[:m] / ||e[:m]||``. (N, d) -> (N, m), float32. Rows that truncate to zero
    stay zero. Meaningful for models trained with a Matryoshka loss; for others the truncated vectors
    keep only part of what the full ones encode."""
    if not 1 <= dimensions <= embeddings.shape[1]:
        raise ValueError(f"dimensions must be between 1 and {embeddings.shape[1]}, got {dimensions}")
    kept = np.ascontiguousarray(embeddings[:, :dimensions], dtype=np.float32)  # (N, m)
    norms = np.linalg.norm(kept, axis=1, keepdims=True)  # (N, 1)
    return kept / np.where(norms > 0, norms, 1.0)


def to_base64(vector: np.ndarray) -> str:
    """A vector as base64 of its little-endian float32 bytes, as the OpenAI API's ``encoding_format: base64``
    returns it (decode: ``np.frombuffer(base64.b64decode(text), dtype='<f4')``)."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")

