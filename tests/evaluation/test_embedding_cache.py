"""The embedding cache: read-back without encoding, bitwise equal to a fresh encode, keys, fingerprints, corrupt
stores, two writer processes."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import threading
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from gtekit.evaluation.embedding_cache import DISABLE_ENV, EmbeddingCache, model_fingerprint


@dataclass
class FakeSettings:
    normalize: bool = True
    query_prefix: str = ""


class FakeModel:
    """Embeds a text as a fixed pseudo-random 8-d vector of (kind, text); records what it was asked to encode."""

    def __init__(self, scale: float = 1.0) -> None:
        self.encoder = torch.nn.Linear(4, 2)
        with torch.no_grad():
            self.encoder.weight.copy_(torch.arange(8.0).view(2, 4) * scale)
            self.encoder.bias.zero_()
        self.settings = FakeSettings()
        self.calls: list[list[str]] = []

    def encode(self, texts, batch_size: int = 64, normalize: bool | None = None, kind=None) -> np.ndarray:
        self.calls.append(list(texts))
        rows = [fake_vector(text, kind, self.settings.normalize if normalize is None else normalize) for text in texts]
        return np.array(rows, dtype=np.float32).reshape(len(texts), 8)


def fake_vector(text: str, kind, normalize: bool) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(f"{kind}|{text}".encode()).digest()[:8], "little")
    vector = np.random.default_rng(seed).normal(size=8).astype(np.float32) * 3
    return vector / np.linalg.norm(vector) if normalize else vector


class Counting:
    """Wraps a model and records the texts it is asked to encode."""

    def __init__(self, model) -> None:
        self.model = model
        self.encoder, self.tokenizer, self.settings = model.encoder, model.tokenizer, model.settings
        self.calls: list[list[str]] = []

    def encode(self, texts, **kwargs) -> np.ndarray:
        self.calls.append(list(texts))
        return self.model.encode(texts, **kwargs)


def encoded(model) -> list[str]:
    return [text for call in model.calls for text in call]


def shards(root: Path) -> list[Path]:
    """The .npy file of each cached write (one embedding store each)."""
    return sorted(root.glob("*/request-*/part-*.npy"))


# ----------------------------------------------------------------- read-back
def test_second_call_encodes_nothing(tmp_path: Path, tiny_embedder) -> None:
    texts = ["a cat sat on the mat", "dogs bark", "a cat sat on the mat", "rivers flow to the sea"]
    model = Counting(tiny_embedder)
    first = EmbeddingCache(tmp_path).cached_encode(model, texts, kind="query")
    assert model.calls == [texts]  # the request as asked, so its batches are a fresh encode's batches
    np.testing.assert_array_equal(first, tiny_embedder.encode(texts, kind="query", normalize=True))
    assert first.dtype == np.float32

    again = EmbeddingCache(tmp_path).cached_encode(model, texts, kind="query")  # a fresh cache, read from disk
    assert len(model.calls) == 1 and np.array_equal(again, first)

    EmbeddingCache(tmp_path).cached_encode(model, ["dogs bark", "stars shine"], kind="query")
    assert model.calls[1:] == [["dogs bark", "stars shine"]]  # another request: encoded whole
    assert len(shards(tmp_path)) == 2


def test_cached_rows_equal_a_fresh_encode_bitwise(tmp_path: Path) -> None:
    """Requests sharing texts, in any order of cache warmth, read back exactly what ``encode`` returns for each
    request: a text's vector is never taken from a batch of another request."""
    from gtekit import Embedder

    # 384 wide, as MiniLM: wide enough that a text's last bits depend on its batch (the tiny test model is not)
    model = Embedder.from_config("all-MiniLM-L6-v2", hidden_size=384, num_layers=1, num_heads=2,
                                 intermediate_size=1536, max_position_embeddings=128, seed=0, max_seq_length=64)
    words = ["the", "of", "a", "river", "flows", "under", "old", "stone", "bridges", "while", "children", "run",
             "along", "its", "banks", "at", "dusk"]
    texts = [" ".join(words[i % 7:i % 7 + 3 + i % 11]) for i in range(40)]
    requests = [texts[:30], texts[10:], texts[::-1], [*texts[5:25], "a short one"]]
    fresh = [model.encode(request, batch_size=8, kind="document", normalize=True) for request in requests]
    vectors: dict[str, set[bytes]] = {}
    for request, array in zip(requests, fresh, strict=True):
        for text, row in zip(request, array, strict=True):
            vectors.setdefault(text, set()).add(row.tobytes())
    assert any(len(seen) > 1 for seen in vectors.values())  # the premise: batches change the last bits
    for order in ([0, 1, 2, 3], [3, 2, 1, 0]):
        root = tmp_path / "".join(map(str, order))
        for round_ in range(2):  # cold, then warm
            for index in order:
                out = EmbeddingCache(root).cached_encode(model, requests[index], kind="document", batch_size=8)
                np.testing.assert_array_equal(out, fresh[index], err_msg=f"request {index}, round {round_}")


def test_order_and_duplicates_are_kept(tmp_path: Path) -> None:
    model = FakeModel()
    cache = EmbeddingCache(tmp_path)
    texts = ["b", "a", "b", "c", "a", "c"]
    for _ in range(2):
        out = cache.cached_encode(model, texts)
        np.testing.assert_array_equal(out, np.stack([fake_vector(t, None, True) for t in texts]))
    assert model.calls == [texts]
    cache.cached_encode(model, texts[::-1])  # another order is another request
    cache.cached_encode(model, texts, batch_size=2)  # and so is another batch size
    assert len(model.calls) == 3
    assert cache.cached_encode(model, []).shape == (0, 8)


def test_kind_and_normalize_are_part_of_the_key(tmp_path: Path) -> None:
    model = FakeModel()
    cache = EmbeddingCache(tmp_path)
    variants = [(kind, normalize) for kind in (None, "query", "document") for normalize in (True, False)]
    for _ in range(2):
        for kind, normalize in variants:
            out = cache.cached_encode(model, ["same text"], kind=kind, normalize=normalize)
            np.testing.assert_array_equal(out[0], fake_vector("same text", kind, normalize))
    assert len(model.calls) == len(variants)  # each variant encoded once, read back the second time
    model.settings.normalize = False  # normalize=None follows the model's settings (and changes the fingerprint)
    np.testing.assert_array_equal(cache.cached_encode(model, ["t"], normalize=None)[0], fake_vector("t", None, False))


def test_disabled_by_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(DISABLE_ENV, "1")
    model = FakeModel()
    cache = EmbeddingCache(tmp_path)
    cache.cached_encode(model, ["a"])
    cache.cached_encode(model, ["a"])
    assert len(model.calls) == 2 and not list(tmp_path.iterdir())


def test_each_write_is_an_embedding_store_of_one_request(tmp_path: Path) -> None:
    from gtekit.evaluation.embedding_cache import request_key, text_key
    from gtekit.io.embedding_store import EncodedShards

    EmbeddingCache(tmp_path).cached_encode(FakeModel(), ["b", "a", "b"], kind="query")
    (npy,) = shards(tmp_path)
    assert npy.parent.name.startswith(f"request-{request_key(['b', 'a', 'b'], 'query', True, 64)}-")
    store = EncodedShards.open(npy.parent, verify=True)
    assert store.ids() == [text_key(t, "query", True) for t in "bab"] and store.texts() == ["b", "a", "b"]
    assert store.kind == "query" and store.normalized and store.shards[0].sha256
    np.testing.assert_array_equal(store.embeddings(), np.stack([fake_vector(t, "query", True) for t in "bab"]))


def test_request_key_separates_texts() -> None:
    from gtekit.evaluation.embedding_cache import request_key

    keys = {request_key(texts, None, True, 64) for texts in (["ab", "c"], ["a", "bc"], ["abc"], ["ab", "c", ""])}
    assert len(keys) == 4


# ----------------------------------------------------------------- fingerprints
def test_fingerprint_follows_weights_and_settings(tmp_path: Path, tiny_embedder, tiny_model_dir) -> None:
    from gtekit import Embedder

    original = model_fingerprint(tiny_embedder)
    moved = shutil.copytree(tiny_model_dir, tmp_path / "moved")
    assert model_fingerprint(Embedder.load(moved)) == original  # same files elsewhere, another object
    weight = tiny_embedder.encoder.embeddings.word_embeddings.weight
    kept = weight[5, 0].item()
    with torch.no_grad():
        weight[5, 0] += 1.0  # in place: the remembered fingerprint must not be reused
    changed = model_fingerprint(tiny_embedder)
    with torch.no_grad():
        weight[5, 0] = kept
    assert changed != original and model_fingerprint(tiny_embedder) == original
    tiny_embedder.settings = replace(tiny_embedder.settings, query_prefix="query: ")
    assert model_fingerprint(tiny_embedder) != original


def test_changed_weights_are_encoded_again(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    first, second = FakeModel(scale=1.0), FakeModel(scale=2.0)
    cache.cached_encode(first, ["a", "b"])
    cache.cached_encode(second, ["a", "b"])
    assert len(second.calls) == 1 and len(list(tmp_path.iterdir())) == 2  # one folder per fingerprint


# ----------------------------------------------------------------- damage and concurrency
def _truncate(npy: Path) -> None:
    npy.write_bytes(npy.read_bytes()[:-20])


def _flip_a_byte(npy: Path) -> None:  # same size, valid header: only the checksum can tell
    data = bytearray(npy.read_bytes())
    data[-5] ^= 0xFF
    npy.write_bytes(bytes(data))


def _garble_manifest(npy: Path) -> None:
    (npy.parent / "manifest.json").write_text('{"format": "gtekit-embeddings", "version": 1, "sha')


def _wrong_rows(npy: Path) -> None:
    manifest = npy.parent / "manifest.json"
    assert '"count": 3' in manifest.read_text()
    manifest.write_text(manifest.read_text().replace('"count": 3', '"count": 2'))


def _drop_checksum(npy: Path) -> None:  # a store that is whole, but not one the cache wrote
    manifest = npy.parent / "manifest.json"
    record = json.loads(manifest.read_text())
    del record["shards"][0]["sha256"]
    manifest.write_text(json.dumps(record))


def _delete_npy(npy: Path) -> None:
    npy.unlink()


@pytest.mark.parametrize("damage", [_truncate, _flip_a_byte, _garble_manifest, _wrong_rows, _delete_npy,
                                    _drop_checksum])
def test_damaged_shard_is_ignored(tmp_path: Path, damage) -> None:
    texts = ["a", "b", "c"]
    EmbeddingCache(tmp_path).cached_encode(FakeModel(), texts)
    damage(shards(tmp_path)[0])
    model = FakeModel()
    with pytest.warns(RuntimeWarning, match="embedding cache: ignoring .*request-"):
        out = EmbeddingCache(tmp_path).cached_encode(model, texts)
    assert encoded(model) == texts  # encoded again, never read as wrong data
    np.testing.assert_array_equal(out, np.stack([fake_vector(t, None, True) for t in texts]))


def write_in_rounds(root: str, texts: list[str], start_together: threading.Barrier | None = None) -> None:
    """Cache ``texts`` ten at a time, each round a new store; its own EmbeddingCache, as another process has."""
    cache = EmbeddingCache(root)
    if start_together is not None:
        start_together.wait()
    for start in range(0, len(texts), 10):
        cache.cached_encode(FakeModel(), texts[start:start + 10], kind="document")


def check_shared_cache(root: Path, texts: list[str]) -> None:
    """Every request both writers made reads back without encoding and without a warning."""
    model = FakeModel()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no store may look damaged
        for start in range(0, len(texts), 10):
            request = texts[start:start + 10]
            out = EmbeddingCache(root).cached_encode(model, request, kind="document")
            np.testing.assert_array_equal(out, np.stack([fake_vector(t, "document", True) for t in request]))
    assert model.calls == []
    assert not list(root.glob("*/.tmp-*"))


def overlapping_jobs(root: Path, texts: list[str]) -> list[tuple[str, list[str]]]:
    """Both writers make the same requests at about the same time."""
    return [(str(root), texts), (str(root), texts)]


def test_two_writers_share_a_cache(tmp_path: Path) -> None:
    texts = [f"text {i}" for i in range(160)]
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=write_in_rounds, args=(*job, barrier))
               for job in overlapping_jobs(tmp_path, texts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check_shared_cache(tmp_path, texts)


@pytest.mark.slow
def test_two_processes_share_a_cache(tmp_path: Path) -> None:
    texts = [f"text {i}" for i in range(160)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.starmap(write_in_rounds, overlapping_jobs(tmp_path, texts))
    check_shared_cache(tmp_path, texts)
