"""The runner's encoder: normalised embeddings, or with a dimension their re-normalised prefixes (Matryoshka)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gtekit.evaluation.runner import make_encode, truncate

TEXTS = ["a cat sat on the mat", "the dog barked", "entropy measures disorder", ""]


@pytest.mark.parametrize("use_cache", [False, True])
def test_a_dimension_gives_the_renormalised_prefix_of_the_raw_embeddings(tiny_embedder, tmp_path, use_cache):
    from gtekit.evaluation.embedding_cache import EmbeddingCache

    cache = EmbeddingCache(tmp_path) if use_cache else None
    raw = torch.from_numpy(tiny_embedder.encode(TEXTS, normalize=False, kind="query"))  # (4, 32)
    for dimension in (8, 32):
        got = make_encode(tiny_embedder, cache=cache, dimension=dimension)(TEXTS, "query")
        assert got.shape == (4, dimension) and got.dtype == np.float32
        np.testing.assert_allclose(got, F.normalize(raw[:, :dimension], dim=-1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(make_encode(tiny_embedder, cache=cache)(TEXTS, "query"),
                                  tiny_embedder.encode(TEXTS, normalize=True, kind="query"))


def test_truncate_refuses_sizes_outside_the_embeddings():
    vectors = np.ones((2, 4), dtype=np.float32)
    np.testing.assert_allclose(truncate(vectors, 1), np.ones((2, 1)))
    for dimension in (0, 5):
        with pytest.raises(ValueError, match=r"cannot truncate 4-dimensional embeddings to .*\[1, 4\]"):
            truncate(vectors, dimension)
