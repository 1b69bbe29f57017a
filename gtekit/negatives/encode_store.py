"""Embeddings on disk, computed in chunks and resumable: the file between encoding and search.

A store is a folder::

    manifest.json                  {"count", "dimension", "chunk_size", "kind", "fingerprint", "chunks"}
    chunk-000000-<digest>.npy      float32 (rows, dimension), L2-normalised: rows [0, chunk_size)
    chunk-000001-<digest>.npy      rows [chunk_size, 2 * chunk_size), ...

A chunk's digest hashes the model's fingerprint, the text kind, the encode options and the chunk's
texts, so a chunk on disk is reused exactly when it would be computed the same way, and a rerun after
a crash encodes only the chunks that are missing. Every chunk and the manifest are written atomically
(temporary file, then rename): an interrupted run leaves whole chunks or none.

Scans read one chunk at a time into memory (``iter_chunks``) and gathers memory-map one chunk file at
a time (``rows``), so a process holds one chunk of a store, never the store.

Depends on ``gtekit.io.atomic`` only. The model is anything with ``encode(texts, kind=..., batch_size=...)``
returning an (N, H) array, such as ``gtekit.Embedder``; it may offer ``fingerprint()`` (a string that
changes when its embeddings would), otherwise its settings and weights are hashed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DEFAULT_CHUNK_SIZE = 65_536  # texts per chunk: 96 MiB of float32 at 384 dimensions


@dataclass(frozen=True)
class EmbeddingStore:
    """A finished store on disk (see the module docstring); open it with :meth:`open`."""

    folder: Path
    count: int
    dimension: int
    chunk_size: int
    chunks: tuple[str, ...]
    fingerprint: str  # hashes every chunk's digest: equal fingerprints, equal embeddings

    @classmethod
    def open(cls, folder: str | Path) -> EmbeddingStore:
        folder = Path(folder)
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{folder}: not an embedding store (no {MANIFEST})") from None
        store = cls(folder, manifest["count"], manifest["dimension"], manifest["chunk_size"],
                    tuple(manifest["chunks"]), manifest["fingerprint"])
        for name in store.chunks:
            if not (folder / name).is_file():
                raise FileNotFoundError(f"{folder / name}: chunk listed in {folder / MANIFEST} is missing")
        return store

    def bounds(self, chunk: int) -> tuple[int, int]:
        """The rows [start, stop) that chunk ``chunk`` holds."""
        start = chunk * self.chunk_size
        return start, min(start + self.chunk_size, self.count)

    def read_chunk(self, chunk: int) -> np.ndarray:
        """Chunk ``chunk`` read into memory: float32 (rows, dimension)."""
        return np.load(self.folder / self.chunks[chunk])

    def iter_chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, embeddings) for each chunk in order; one chunk in memory at a time."""
        for chunk in range(len(self.chunks)):
            yield self.bounds(chunk)[0], self.read_chunk(chunk)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """The embeddings of rows ``ids`` (any shape, any order, repeats allowed): ``ids.shape + (dimension,)``."""
        ids = np.asarray(ids, dtype=np.int64)
        flat = ids.ravel()
        if flat.size and (flat.min() < 0 or flat.max() >= self.count):
            raise IndexError(f"row ids must lie in [0, {self.count}); got {flat.min()}..{flat.max()}")
        output = np.empty((flat.size, self.dimension), dtype=np.float32)
        chunk_of = flat // self.chunk_size
        for chunk in np.unique(chunk_of):
            where = np.flatnonzero(chunk_of == chunk)
            mapped = np.load(self.folder / self.chunks[chunk], mmap_mode="r")  # unmapped when it goes out of scope
            output[where] = mapped[flat[where] - chunk * self.chunk_size]
            del mapped
        return output.reshape(*ids.shape, self.dimension)


def encode_store(model, texts: Sequence[str], folder: str | Path, *, kind: str | None,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, batch_size: int = 64,
                 encode_options: dict | None = None) -> tuple[EmbeddingStore, int]:
    """Embed ``texts`` into the store at ``folder``, reusing every chunk already there; return
    ``(store, number of chunks encoded now)``.

    Each chunk is ``model.encode(chunk_texts, kind=kind, batch_size=batch_size, **encode_options)``,
    L2-normalised here (so inner product is cosine whatever the model's settings), and written
    atomically before the next one starts. Chunk files of other digests (older texts or model) are
    deleted once the store is complete.
    """
    if not texts:
        raise ValueError(f"{folder}: nothing to encode (no texts)")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    options = dict(encode_options or {})
    base = _digest(repr((model_fingerprint(model), kind, sorted(options.items()))).encode())
    names: list[str] = []
    dimension = None
    encoded = 0
    chunks = (len(texts) + chunk_size - 1) // chunk_size
    for chunk, start in enumerate(range(0, len(texts), chunk_size)):
        part = list(texts[start:start + chunk_size])
        name = f"chunk-{chunk:06d}-{_chunk_digest(base, part)}.npy"
        path = folder / name
        if path.is_file():
            shape = np.load(path, mmap_mode="r").shape
        else:
            logger.info("encoding %s chunk %d/%d (%d texts) into %s", kind or "text", chunk + 1, chunks, len(part),
                        folder)
            embeddings = _normalised(np.asarray(model.encode(part, kind=kind, batch_size=batch_size, **options),
                                                dtype=np.float32))
            shape = embeddings.shape
            if shape[0] != len(part) or embeddings.ndim != 2:
                raise ValueError(f"model.encode returned shape {shape} for {len(part)} texts; expected "
                                 f"({len(part)}, dimension)")
            with atomic_path(path) as tmp, open(tmp, "wb") as handle:
                np.save(handle, embeddings)
            encoded += 1
        if dimension is not None and shape[1] != dimension:
            raise ValueError(f"{path}: dimension {shape[1]}, but earlier chunks have {dimension}")
        dimension = shape[1]
        names.append(name)
    fingerprint = _digest("\n".join(names).encode())
    manifest = {"count": len(texts), "dimension": dimension, "chunk_size": chunk_size, "kind": kind,
                "fingerprint": fingerprint, "chunks": names}
    with atomic_path(folder / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    keep = set(names)
    for stale in folder.glob("chunk-*.npy"):
        if stale.name not in keep:
            stale.unlink()
    return EmbeddingStore.open(folder), encoded


def model_fingerprint(model) -> str:
    """A string that changes when the model's embeddings would: its own ``fingerprint()``, or a hash of
    its settings and every weight."""
    own = getattr(model, "fingerprint", None)
    if own is not None:
        return str(own() if callable(own) else own)
    digest = hashlib.blake2b(repr(getattr(model, "settings", type(model).__name__)).encode(), digest_size=16)
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _chunk_digest(base: str, texts: list[str]) -> str:
    digest = hashlib.blake2b(base.encode(), digest_size=8)
    for text in texts:
        encoded = text.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "little"))  # lengths keep ["ab", "c"] apart from ["a", "bc"]
        digest.update(encoded)
    return digest.hexdigest()


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _normalised(embeddings: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings / np.where(norms > 0, norms, 1.0)  # a zero vector stays zero
