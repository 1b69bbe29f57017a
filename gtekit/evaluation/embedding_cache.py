"""An on-disk cache of text embeddings keyed by (model weights, text), so that evaluating the same
model twice encodes each text once.

Layout, under ``root`` (default ``gtekit.io.packages.cache_dir() / "embeddings"``)::

    <model fingerprint>/shard-<uuid>/    an embedding store (``gtekit.io.embedding_store``) of one write:
        manifest.json                    its shard entry holds the SHA-256 of the .npy
        part-00000.npy                   float32 (N, H)
        part-00000.parquet               ``id``: each row's key; ``text``: the text

The fingerprint (``model_fingerprint``) is a sha256 over the encoder's weights, its config, the
tokenizer and the embedder's settings (pooling, prefixes, max length, ...). A row's key is a sha256
of (kind, normalize, text), so query and document prefixes and normalised and raw vectors never mix.

Stores are append-only. Each write builds its store under a temporary name and renames the folder
into place under a fresh uuid: processes sharing a cache never overwrite each other, and a reader
sees whole stores only. A store that does not open (``EncodedShards.open``: an unreadable manifest,
a missing or truncated file), or whose ``.npy`` does not match its checksum, is ignored with a
warning and its texts are encoded again: the cache never crashes an evaluation and never returns
another text's vector. Embeddings computed on another device may differ from a fresh encode in the
last bits.

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
    """The cache key of one text: sha256 of (kind, normalize, text)."""
    return hashlib.sha256(f"{kind or '-'}\0{int(normalize)}\0{text}".encode()).hexdigest()


def cache_disabled() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() not in ("", "0", "false", "no")


# ----------------------------------------------------------------- the cache
class EmbeddingCache:
    """Embeddings on disk under ``root/<model fingerprint>/``; see the module docstring.

    >>> cache = EmbeddingCache()
    >>> vectors = cache.cached_encode(model, ["a cat", "a dog"], kind="query")  # encodes
    >>> vectors = cache.cached_encode(model, ["a cat", "a dog"], kind="query")  # reads back
    """

    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            root = os.environ.get(ROOT_ENV) or cache_dir() / "embeddings"
        self.root = Path(root)
        self._stores: dict[str, _ModelStores] = {}

    def cached_encode(self, model, texts: Sequence[str], *, kind: str | None = None, batch_size: int = 64,
                      normalize: bool | None = True) -> np.ndarray:
        """``model.encode(texts, ...)`` as float32 (N, H) in input order, encoding only texts not cached.

        Each distinct missing text is encoded once and the new rows are appended as one store.
        ``normalize=None`` means the model's own setting, as in ``Embedder.encode``.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        normalize = model.settings.normalize if normalize is None else bool(normalize)
        if cache_disabled() or not texts:
            return np.asarray(model.encode(texts, batch_size=batch_size, normalize=normalize, kind=kind),
                              dtype=np.float32)
        fingerprint = model_fingerprint(model)
        stores = self._stores_of(fingerprint)
        keys = [text_key(text, kind, normalize) for text in texts]
        located = stores.locate(keys)  # key -> (store, row), for the cached ones
        missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in located}  # distinct
        if missing:
            new = np.asarray(model.encode(list(missing.values()), batch_size=batch_size, normalize=normalize,
                                          kind=kind), dtype=np.float32)  # (M, H)
            header = ShardsHeader(model=str(getattr(model, "source", "") or fingerprint), dimension=new.shape[1],
                                  normalized=normalize, kind=kind, options={"model_fingerprint": fingerprint})
            store = stores.append(list(missing), list(missing.values()), new, header)
            located.update((key, (store, row)) for row, key in enumerate(missing))
        return stores.gather([located[key] for key in keys])

    def _stores_of(self, fingerprint: str) -> _ModelStores:
        if fingerprint not in self._stores:
            self._stores[fingerprint] = _ModelStores(self.root / fingerprint)
        return self._stores[fingerprint]


class _ModelStores:
    """The stores of one model: an index key -> (store, row), read lazily and refreshed on each lookup."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.index: dict[str, tuple[str, int]] = {}
        self.seen: set[str] = set()  # store names whose manifests were read (good or bad)
        self.opened: dict[str, EncodedShards] = {}  # store name -> its opened (not yet verified) store
        self.arrays: dict[str, np.ndarray] = {}  # store name -> verified (N, H) array
        self.bad: set[str] = set()

    def locate(self, keys: list[str]) -> dict[str, tuple[str, int]]:
        """{key: (store, row)} for each key held by a good store; a store failing its check is dropped."""
        self._refresh()
        while True:
            located = {key: self.index[key] for key in dict.fromkeys(keys) if key in self.index}
            stores = {store for store, _ in located.values()}
            if all([self._array(store) is not None for store in stores]):  # a list: check every store
                return located
            self._rebuild_index()  # the keys of a bad store may also be in a good one

    def gather(self, places: list[tuple[str, int]]) -> np.ndarray:
        """Rows at (store, row) ``places`` (checked by ``locate`` or just appended) -> float32 (N, H)."""
        by_store: dict[str, tuple[list[int], list[int]]] = {}  # store -> (output positions, store rows)
        for position, (store, row) in enumerate(places):
            positions, rows = by_store.setdefault(store, ([], []))
            positions.append(position)
            rows.append(row)
        dim = self.arrays[places[0][0]].shape[1]
        output = np.empty((len(places), dim), dtype=np.float32)
        for store, (positions, rows) in by_store.items():
            output[positions] = self.arrays[store][rows]
        return output

    def append(self, keys: list[str], texts: list[str], embeddings: np.ndarray, header: ShardsHeader) -> str:
        """Write one store of ``keys`` (as ids), ``texts`` and ``embeddings`` (atomically) and return its name;
        a failed write warns, and the rows are then kept in memory only."""
        name = f"shard-{uuid.uuid4().hex}"
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        try:
            with atomic_path(self.folder / name) as tmp:
                tmp.mkdir()
                shard = write_shard(tmp, 0, keys, texts, embeddings, checksum=True)
                write_manifest(tmp, header, len(keys), [shard], complete=True)
        except OSError as error:
            warnings.warn(f"embedding cache: could not write {self.folder / name} ({error}); continuing without it",
                          RuntimeWarning, stacklevel=3)
        self.seen.add(name)
        self.arrays[name] = embeddings
        for row, key in enumerate(keys):
            self.index.setdefault(key, (name, row))
        return name

    def _refresh(self) -> None:
        """Index the stores written (by any process) since the last look."""
        if not self.folder.is_dir():
            return
        for folder in sorted(self.folder.glob("shard-*")):
            if folder.name in self.seen or not folder.is_dir():
                continue
            self.seen.add(folder.name)
            keys = self._read_keys(folder)
            if keys is None:
                self.bad.add(folder.name)
                continue
            for row, key in enumerate(keys):
                self.index.setdefault(key, (folder.name, row))

    def _rebuild_index(self) -> None:
        self.index.clear()
        self.seen = set(self.bad)
        for name in list(self.arrays):
            if name in self.bad:
                del self.arrays[name]
        self._refresh()

    def _read_keys(self, folder: Path) -> list[str] | None:
        try:
            store = EncodedShards.open(folder)
            keys = store.ids()
        except (OSError, ShardsFormatError, pa.ArrowException) as error:
            return self._ignore(folder, f"not a whole embedding store ({type(error).__name__}: {error})")
        if len(keys) != len(store) or not all(shard.sha256 for shard in store.shards):
            return self._ignore(folder, "its manifest does not describe a cached write")
        self.opened[folder.name] = store
        return keys

    def _array(self, name: str) -> np.ndarray | None:
        """The store's (N, H) float32 rows after checking its files against their checksums, or None."""
        if name in self.bad:
            return None
        if name not in self.arrays:
            store = self.opened[name]
            try:
                store = EncodedShards.open(store.folder, verify=True)
                array = store.embeddings(mmap=True)
            except (OSError, ShardsFormatError) as error:
                return self._bad(name, store.folder, f"{type(error).__name__}: {error}")
            self.arrays[name] = array
        return self.arrays[name]

    def _bad(self, name: str, path: Path, why: str) -> None:
        self.bad.add(name)
        return self._ignore(path, why)

    @staticmethod
    def _ignore(path: Path, why: str) -> None:
        warnings.warn(f"embedding cache: ignoring {path}: {why}; its texts will be encoded again",
                      RuntimeWarning, stacklevel=4)
        return None
