"""An on-disk cache of text embeddings keyed by (model weights, request), so that evaluating the same
model twice on the same texts encodes them once, and reads back exactly what a fresh encode returns.

Layout, under ``root`` (default ``gtekit.io.packages.cache_dir() / "embeddings"``)::

    <model fingerprint>/request-<key>-<uuid>/  an embedding store (``gtekit.io.embedding_store``) of one request:
        manifest.json                         its shard entry holds the SHA-256 of the .npy
        part-00000.npy                        float32 (N, H), row i = text i of the request
        part-00000.parquet                    ``id``: each row's text key; ``text``: the text

The fingerprint (``model_fingerprint``) is a sha256 over the encoder's weights, its config, the
tokenizer and the embedder's settings (pooling, prefixes, max length, ...). The request key
(``request_key``) is a sha256 of (kind, normalize, batch size, the texts in order).

Why whole requests and not single texts: a text's embedding depends, in its last bits (~1e-6), on the
other texts of its batch (padding length and matrix shapes change the order of floating-point sums).
A cache that mixed rows encoded in different batches would make a score depend on what was cached
before. Keyed by request, a cached read is bitwise the array ``model.encode`` returns for that request,
so scores are the same with a cold cache, a warm cache and no cache (``tests/evaluation``).

Stores are append-only. Each write builds its store under a temporary name and renames the folder
into place under a fresh uuid: processes sharing a cache never overwrite each other, and a reader
sees whole stores only. A store that does not open (``EncodedShards.open``: an unreadable manifest,
a missing or truncated file), whose ``.npy`` does not match its checksum, or whose texts are not the
request's, is ignored with a warning and the request is encoded again: the cache never crashes an
evaluation and never returns another text's vector.

``GTEKIT_NO_EMBEDDING_CACHE=1`` turns the cache off (``cached_encode`` just encodes).
Depends on numpy, pyarrow and torch, on ``gtekit.io`` for the cache root and the store, and on the
embedder's ``encode``, ``encoder``, ``tokenizer`` and ``settings``; nothing here knows about tasks or
metrics.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import uuid
import warnings
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from ..io.atomic import atomic_path
from ..io.embedding_store import EncodedShards, ShardsFormatError, ShardsHeader, write_manifest, write_shard
from ..io.packages import cache_dir

DISABLE_ENV = "GTEKIT_NO_EMBEDDING_CACHE"
ROOT_ENV = "GTEKIT_EMBEDDING_CACHE"  # overrides the default root


# ----------------------------------------------------------------- model fingerprint
_FINGERPRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> (weights state, fingerprint)


def model_fingerprint(model) -> str:
    """sha256 hex digest of everything that decides ``model.encode``'s output for a text.

    Hashes, in a fixed order: each encoder tensor (sorted by name) with its name, dtype, shape and
    raw bytes; the encoder's config (less keys starting with ``_``); the tokenizer (its full
    serialisation when it is a fast one); ``dataclasses.asdict(model.settings)``. The digest is
    remembered per live model object until a tensor of it is modified in place or replaced (torch's
    version counters and data pointers).
    """
    state = _weights_state(model)
    try:
        remembered = _FINGERPRINTS.get(model) if state is not None else None
    except TypeError:  # a model that cannot be weakly referenced is hashed on every call
        state = remembered = None
    if remembered is not None and remembered[0] == state:
        return remembered[1]
    digest = hashlib.sha256()
    for name, tensor in sorted(model.encoder.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())  # any dtype, bf16 included
    digest.update(b"config\n" + _config_bytes(getattr(model.encoder, "config", None)))
    digest.update(b"tokenizer\n" + _tokenizer_bytes(getattr(model, "tokenizer", None)))
    digest.update(b"settings\n" + json.dumps(dataclasses.asdict(model.settings), sort_keys=True).encode())
    fingerprint = digest.hexdigest()
    if state is not None:
        _FINGERPRINTS[model] = (state, fingerprint)
    return fingerprint


def _weights_state(model) -> tuple | None:
    """What changes when a weight, the tokenizer or the settings change; None when it cannot be told."""
    try:
        weights = model.encoder.state_dict(keep_vars=True)
        tensors = tuple((name, t.data_ptr(), t._version) for name, t in weights.items())
    except RuntimeError:  # inference tensors have no version counter
        return None
    settings = json.dumps(dataclasses.asdict(model.settings), sort_keys=True)
    return tensors, id(getattr(model, "tokenizer", None)), settings


def _config_bytes(config) -> bytes:
    """The encoder config without bookkeeping keys (``_name_or_path``, ...), so a moved folder keeps its cache."""
    if config is None:
        return b""
    fields = {key: value for key, value in config.to_dict().items() if not key.startswith("_")}
    return json.dumps(fields, sort_keys=True, default=str).encode()


def _tokenizer_bytes(tokenizer) -> bytes:
    if tokenizer is None:
        return b""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # vocabulary, normaliser, pre-tokeniser, post-processor
        return f"{type(tokenizer).__name__}\n{backend.to_str()}".encode()
    vocabulary = sorted(tokenizer.get_vocab().items())
    return f"{type(tokenizer).__name__}\n{json.dumps(vocabulary)}".encode()


def text_key(text: str, kind: str | None, normalize: bool) -> str:
    """The key of one text: sha256 of (kind, normalize, text); the ``id`` of its row in a store."""
    return hashlib.sha256(f"{kind or '-'}\0{int(normalize)}\0{text}".encode()).hexdigest()


def request_key(texts: Sequence[str], kind: str | None, normalize: bool, batch_size: int) -> str:
    """The key of one request: sha256 of (kind, normalize, batch size, each text with its length), in order."""
    digest = hashlib.sha256(f"{kind or '-'}\0{int(normalize)}\0{batch_size}\0{len(texts)}\n".encode())
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        digest.update(f"{len(data)}:".encode() + data)
    return digest.hexdigest()


def cache_disabled() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() not in ("", "0", "false", "no")


# ----------------------------------------------------------------- the cache
class EmbeddingCache:
    """Embeddings on disk under ``root/<model fingerprint>/``; see the module docstring.

    >>> cache = EmbeddingCache()
    >>> vectors = cache.cached_encode(model, ["a cat", "a dog"], kind="query")  # encodes
    >>> vectors = cache.cached_encode(model, ["a cat", "a dog"], kind="query")  # reads back, bitwise equal
    """

    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            root = os.environ.get(ROOT_ENV) or cache_dir() / "embeddings"
        self.root = Path(root)

    def cached_encode(self, model, texts: Sequence[str], *, kind: str | None = None, batch_size: int = 64,
                      normalize: bool | None = True) -> np.ndarray:
        """``model.encode(texts, ...)`` as float32 (N, H) in input order: read back when this model encoded
        this exact request before, else encoded and written as one store.

        ``normalize=None`` means the model's own setting, as in ``Embedder.encode``.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        normalize = model.settings.normalize if normalize is None else bool(normalize)
        if cache_disabled() or not texts:
            return self._encode(model, texts, kind, batch_size, normalize)
        fingerprint = model_fingerprint(model)
        folder = self.root / fingerprint
        key = request_key(texts, kind, normalize, batch_size)
        keys = [text_key(text, kind, normalize) for text in texts]
        for store in sorted(folder.glob(f"request-{key}-*")):
            found = _read_store(store, keys)
            if found is not None:
                return found
        embeddings = self._encode(model, texts, kind, batch_size, normalize)
        header = ShardsHeader(model=str(getattr(model, "source", "") or fingerprint), dimension=embeddings.shape[1],
                              normalized=normalize, kind=kind,
                              options={"model_fingerprint": fingerprint, "request": key, "batch_size": batch_size})
        _write_store(folder / f"request-{key}-{uuid.uuid4().hex[:12]}", keys, texts, embeddings, header)
        return embeddings

    @staticmethod
    def _encode(model, texts: list[str], kind: str | None, batch_size: int, normalize: bool) -> np.ndarray:
        return np.ascontiguousarray(model.encode(texts, batch_size=batch_size, normalize=normalize, kind=kind),
                                    dtype=np.float32)


def _read_store(folder: Path, keys: list[str]) -> np.ndarray | None:
    """The (N, H) float32 rows of a cached request after checking checksums and row keys, or None (warned)."""
    try:
        store = EncodedShards.open(folder, verify=True)
        if not all(shard.sha256 for shard in store.shards):
            return _ignore(folder, "its manifest does not describe a cached write")
        if store.ids() != keys:
            return _ignore(folder, "its texts are not the request's")
        return np.array(store.embeddings(mmap=False), dtype=np.float32)
    except (OSError, ShardsFormatError, pa.ArrowException) as error:
        return _ignore(folder, f"not a whole embedding store ({type(error).__name__}: {error})")


def _write_store(folder: Path, keys: list[str], texts: list[str], embeddings: np.ndarray,
                 header: ShardsHeader) -> None:
    """Write one store atomically; a failed write warns and the request is simply not cached."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder) as tmp:
            tmp.mkdir()
            shard = write_shard(tmp, 0, keys, texts, embeddings, checksum=True)
            write_manifest(tmp, header, len(keys), [shard], complete=True)
    except OSError as error:
        warnings.warn(f"embedding cache: could not write {folder} ({error}); continuing without it",
                      RuntimeWarning, stacklevel=3)


def _ignore(path: Path, why: str) -> None:
    warnings.warn(f"embedding cache: ignoring {path}: {why}; its texts will be encoded again",
                  RuntimeWarning, stacklevel=4)
    return None
