"""An on-disk cache of text embeddings keyed by (model weights, text), so that evaluating the same
model twice encodes each text once.

Layout, under ``root`` (default ``gtekit.io.packages.cache_dir() / "embeddings"``)::

    <model fingerprint>/shard-<uuid>.npy    float32 (N, H), the embeddings of one write
    <model fingerprint>/shard-<uuid>.json   {"format", "rows", "dim", "sha256" of the .npy, "keys"}

The fingerprint (``model_fingerprint``) is a sha256 over the encoder's weights, its config, the
tokenizer and the embedder's settings (pooling, prefixes, max length, ...). A row's key is a sha256
of (kind, normalize, text), so query and document prefixes and normalised and raw vectors never mix.

Shards are append-only. Each write goes to temporary files renamed into place, the ``.npy`` first and
the ``.json`` (the commit) last, under a fresh uuid: processes sharing a cache never overwrite each
other, and a reader sees whole shards only. A shard whose manifest is unreadable, or whose ``.npy``
does not match the manifest's size and checksum, is ignored with a warning and its texts are
encoded again: the cache never crashes an evaluation and never returns another text's vector.
Embeddings computed on another device may differ from a fresh encode in the last bits.

``GTEKIT_NO_EMBEDDING_CACHE=1`` turns the cache off (``cached_encode`` just encodes).
Depends on numpy and torch, on ``packages`` for the cache root, and on the embedder's ``encode``,
``encoder``, ``tokenizer`` and ``settings``; nothing here knows about tasks or metrics.
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
import torch

from ..io.packages import cache_dir

DISABLE_ENV = "GTEKIT_NO_EMBEDDING_CACHE"
ROOT_ENV = "GTEKIT_EMBEDDING_CACHE"  # overrides the default root
SHARD_FORMAT = 1
HASH_CHUNK = 1 << 24  # bytes read at a time when checksumming a shard


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
        self._stores: dict[str, _ShardStore] = {}

    def cached_encode(self, model, texts: Sequence[str], *, kind: str | None = None, batch_size: int = 64,
                      normalize: bool | None = True) -> np.ndarray:
        """``model.encode(texts, ...)`` as float32 (N, H) in input order, encoding only texts not cached.

        Each distinct missing text is encoded once and the new rows are appended as one shard.
        ``normalize=None`` means the model's own setting, as in ``Embedder.encode``.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        normalize = model.settings.normalize if normalize is None else bool(normalize)
        if cache_disabled() or not texts:
            return np.asarray(model.encode(texts, batch_size=batch_size, normalize=normalize, kind=kind),
                              dtype=np.float32)
        store = self._store(model_fingerprint(model))
        keys = [text_key(text, kind, normalize) for text in texts]
        located = store.locate(keys)  # key -> (shard, row), for the cached ones
        missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in located}  # distinct
        if missing:
            new = np.asarray(model.encode(list(missing.values()), batch_size=batch_size, normalize=normalize,
                                          kind=kind), dtype=np.float32)  # (M, H)
            shard = store.append(list(missing), new)
            located.update((key, (shard, row)) for row, key in enumerate(missing))
        return store.gather([located[key] for key in keys])

    def _store(self, fingerprint: str) -> _ShardStore:
        if fingerprint not in self._stores:
            self._stores[fingerprint] = _ShardStore(self.root / fingerprint)
        return self._stores[fingerprint]


class _ShardStore:
    """The shards of one model: an index key -> (shard, row), read lazily and refreshed on each lookup."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.index: dict[str, tuple[str, int]] = {}
        self.seen: set[str] = set()  # shard names whose manifests were read (good or bad)
        self.arrays: dict[str, np.ndarray] = {}  # shard name -> checked (N, H) array
        self.bad: set[str] = set()

    def locate(self, keys: list[str]) -> dict[str, tuple[str, int]]:
        """{key: (shard, row)} for each key held by a good shard; a shard failing its check is dropped."""
        self._refresh()
        while True:
            located = {key: self.index[key] for key in dict.fromkeys(keys) if key in self.index}
            shards = {shard for shard, _ in located.values()}
            if all([self._array(shard) is not None for shard in shards]):  # a list: check every shard
                return located
            self._rebuild_index()  # the keys of a bad shard may also be in a good one

    def gather(self, places: list[tuple[str, int]]) -> np.ndarray:
        """Rows at (shard, row) ``places`` (checked by ``locate`` or just appended) -> float32 (N, H)."""
        by_shard: dict[str, tuple[list[int], list[int]]] = {}  # shard -> (output positions, shard rows)
        for position, (shard, row) in enumerate(places):
            positions, rows = by_shard.setdefault(shard, ([], []))
            positions.append(position)
            rows.append(row)
        dim = self.arrays[places[0][0]].shape[1]
        output = np.empty((len(places), dim), dtype=np.float32)
        for shard, (positions, rows) in by_shard.items():
            output[positions] = self.arrays[shard][rows]
        return output

    def append(self, keys: list[str], embeddings: np.ndarray) -> str:
        """Write one shard (atomically) and return its name; a failed write warns, and the rows are
        then kept in memory only."""
        name = f"shard-{uuid.uuid4().hex}"
        data, manifest = self.folder / f"{name}.npy", self.folder / f"{name}.json"
        temporary = [self.folder / f".tmp-{name}.npy", self.folder / f".tmp-{name}.json"]
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            np.save(temporary[0], np.ascontiguousarray(embeddings, dtype=np.float32))
            record = {"format": SHARD_FORMAT, "rows": len(keys), "dim": int(embeddings.shape[1]),
                      "sha256": _file_sha256(temporary[0]), "keys": keys}
            temporary[1].write_text(json.dumps(record))
            os.replace(temporary[0], data)
            os.replace(temporary[1], manifest)  # the shard exists from here on
        except OSError as error:
            warnings.warn(f"embedding cache: could not write {manifest} ({error}); continuing without it",
                          RuntimeWarning, stacklevel=3)
            for path in temporary:
                path.unlink(missing_ok=True)
        self.seen.add(name)
        self.arrays[name] = np.asarray(embeddings, dtype=np.float32)
        for row, key in enumerate(keys):
            self.index.setdefault(key, (name, row))
        return name

    def _refresh(self) -> None:
        """Index the shards written (by any process) since the last look."""
        if not self.folder.is_dir():
            return
        for manifest in sorted(self.folder.glob("shard-*.json")):
            name = manifest.name.removesuffix(".json")
            if name in self.seen:
                continue
            self.seen.add(name)
            keys = self._read_keys(manifest)
            if keys is None:
                self.bad.add(name)
                continue
            for row, key in enumerate(keys):
                self.index.setdefault(key, (name, row))

    def _rebuild_index(self) -> None:
        self.index.clear()
        self.seen = set(self.bad)
        for name in list(self.arrays):
            if name in self.bad:
                del self.arrays[name]
        self._refresh()

    def _read_keys(self, manifest: Path) -> list[str] | None:
        try:
            record = json.loads(manifest.read_text())
            keys = record["keys"]
            valid = (record.get("format") == SHARD_FORMAT and isinstance(keys, list)
                     and len(keys) == record["rows"] and all(isinstance(key, str) for key in keys))
        except (OSError, ValueError, KeyError, TypeError) as error:
            return self._ignore(manifest, f"unreadable manifest ({type(error).__name__}: {error})")
        return keys if valid else self._ignore(manifest, "manifest does not describe a shard")

    def _array(self, name: str) -> np.ndarray | None:
        """The shard's (N, H) float32 rows after checking size and checksum against its manifest, or None."""
        if name in self.bad:
            return None
        if name not in self.arrays:
            manifest, data = self.folder / f"{name}.json", self.folder / f"{name}.npy"
            try:
                record = json.loads(manifest.read_text())
                if _file_sha256(data) != record["sha256"]:
                    return self._bad(name, data, "checksum does not match its manifest")
                array = np.load(data, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError, KeyError, TypeError) as error:
                return self._bad(name, data, f"unreadable ({type(error).__name__}: {error})")
            if array.dtype != np.float32 or array.shape != (record["rows"], record["dim"]):
                return self._bad(name, data, f"holds {array.dtype} {array.shape}, manifest says "
                                             f"float32 ({record['rows']}, {record['dim']})")
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


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
