"""Shared fixtures: a tiny random encoder with the MiniLM vocabulary, saved once per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _private_embedding_cache(tmp_path_factory):
    """Tests never write embeddings of their random models into the user's cache."""
    os.environ["GTEKIT_EMBEDDING_CACHE"] = str(tmp_path_factory.mktemp("embedding-cache"))


def make_tiny_embedder(**overrides):
    from gtekit import Embedder

    return Embedder.from_config("all-MiniLM-L6-v2", hidden_size=32, num_layers=2, num_heads=2,
                                intermediate_size=64, max_position_embeddings=128, seed=0, **overrides)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A folder holding a tiny random BERT embedder (sentence-transformers layout)."""
    folder = tmp_path_factory.mktemp("tiny-model")
    make_tiny_embedder(max_seq_length=64).save(folder)
    return folder


@pytest.fixture
def tiny_embedder(tiny_model_dir):
    from gtekit import Embedder

    return Embedder.load(tiny_model_dir)


class TableEncoder:
    """An mteb encoder that looks each text up in a dict of precomputed embeddings, so mteb's own
    evaluators can score exactly the embeddings gtekit's metric functions get; similarities are mteb's cosine."""

    def __init__(self, table):
        self.table = table

    def encode(self, inputs, **kwargs):
        import numpy as np

        return np.stack([self.table[text] for batch in inputs for text in batch["text"]])

    def similarity(self, a, b):
        from mteb.similarity_functions import cos_sim

        return cos_sim(a, b)

    def similarity_pairwise(self, a, b):
        from sklearn.metrics.pairwise import paired_cosine_distances

        return 1 - paired_cosine_distances(a, b)

    @property
    def mteb_model_meta(self):
        return None
