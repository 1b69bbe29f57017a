"""Matryoshka truncation and the base64 encoding of the embeddings endpoint."""

from __future__ import annotations

import numpy as np
import pytest

from gtekit.serving.vectors import to_base64, truncate_dimensions


def test_truncation_keeps_a_prefix_and_renormalises():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(5, 12)).astype(np.float32)
    embeddings[2] = 0.0
    embeddings[3, :4] = 0.0
    truncated = truncate_dimensions(embeddings, 4)
    for row, full in zip(truncated, embeddings, strict=True):
        norm = np.linalg.norm(full[:4])
        np.testing.assert_allclose(row, full[:4] / norm if norm else 0.0, rtol=1e-6)
    assert truncated.dtype == np.float32 and truncated.shape == (5, 4)
    full_length = truncate_dimensions(embeddings[:1], 12)[0]
    np.testing.assert_allclose(full_length, embeddings[0] / np.linalg.norm(embeddings[0]), rtol=1e-6)
    for bad in (0, 13):
        with pytest.raises(ValueError, match="between 1 and 12"):
            truncate_dimensions(embeddings, bad)


def test_base64_is_little_endian_float32():
    assert to_base64(np.array([1.0, -2.0])) == "AACAPwAAAMA="  # 1.0f = 00 00 80 3f, -2.0f = 00 00 00 c0
    big_endian = np.array([0.5, 3.25], dtype=">f4")
    assert to_base64(big_endian) == to_base64(np.array([0.5, 3.25], dtype="<f4"))
