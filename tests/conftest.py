"""Shared fixtures: a tiny random encoder with the MiniLM vocabulary, saved once per session."""

from __future__ import annotations

import os

import pytest

from tests.helpers import make_tiny_embedder

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _private_embedding_cache(tmp_path_factory):
    """Tests never write embeddings of their random models into the user's cache."""
    os.environ["GTEKIT_EMBEDDING_CACHE"] = str(tmp_path_factory.mktemp("embedding-cache"))


@pytest.fixture(scope="session", autouse=True)
def _fp32_wherever_the_cpu_has_bf16():
    """``train.precision: auto`` resolves to fp32 in every test, so the fp32 equalities hold on CPUs with bf16
    matrix units too (tests/model/test_device.py checks the detection itself)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("gtekit.model.device.BF16_CPU_FLAGS", frozenset())
        yield


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
