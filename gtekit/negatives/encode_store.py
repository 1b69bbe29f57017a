"""Texts in memory -> an embedding store (``gtekit.io.embedding_store``), encoded chunk by chunk and resumable.

Each ``chunk_size`` texts are one shard, tagged with a digest of the model's fingerprint, the text kind,
the encode options and the chunk's texts: shard files ``part-NNNNN-<digest>.npy`` / ``.parquet`` (ids:
the row numbers, as strings). A shard on disk is reused exactly when it would be computed the same way,
so a rerun after a crash encodes only the chunks that are missing, and a rerun with other texts only
the chunks whose texts changed. Each shard's files are written atomically, then the manifest is
rewritten to list it (``"complete": false`` until the last one): a killed run leaves whole shards,
which the next run reuses. Shard files of other digests (older texts or model) are deleted once the
store is complete. Embeddings are L2-normalised here, so inner product is cosine whatever the model's
settings.

The model is anything with ``encode(texts, kind=..., batch_size=...)`` returning an (N, H) array, such as
``gtekit.Embedder``; it may offer ``fingerprint()`` (a string that changes when its embeddings would),
otherwise its settings and weights are hashed. Depends on ``gtekit.io`` only.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..io.embedding_store import (
    EncodedShards,
    ShardInfo,
    ShardsFormatError,
    ShardsHeader,
    check_shard,
    remove_temporaries,
    shard_names,
    write_manifest,
    write_shard,
)

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 65_536  # texts per chunk: 96 MiB of float32 at 384 dimensions


def encode_store(model, texts: Sequence[str], folder: str | Path, *, kind: str | None,
                 chunk_size: int = DEFAULT_CHUNK_SIZE, batch_size: int = 64,
                 encode_options: dict | None = None) -> tuple[EncodedShards, int]:
    """Embed ``texts`` into the store at ``folder``, reusing every chunk already there; return
    ``(store, number of chunks encoded now)``.

    Each chunk is ``model.encode(chunk_texts, kind=kind, batch_size=batch_size, **encode_options)``,
    L2-normalised, and written before the next one starts (see the module docstring).
    """
    if not texts:
        raise ValueError(f"{folder}: nothing to encode (no texts)")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    remove_temporaries(folder)
    options = dict(encode_options or {})
    fingerprint = model_fingerprint(model)
    base = _digest(repr((fingerprint, kind, sorted(options.items()))).encode())
    shards: list[ShardInfo] = []
    header: ShardsHeader | None = None
    encoded = 0
    chunks = (len(texts) + chunk_size - 1) // chunk_size
    for number, start in enumerate(range(0, len(texts), chunk_size)):
        part = list(texts[start:start + chunk_size])
        tag = _chunk_digest(base, part)
        shard = _reusable_shard(folder, number, tag, len(part))
        if shard is None:
            logger.info("encoding %s chunk %d/%d (%d texts) into %s", kind or "text", number + 1, chunks, len(part),
                        folder)
            embeddings = _normalised(np.asarray(model.encode(part, kind=kind, batch_size=batch_size, **options),
                                                dtype=np.float32))
            if embeddings.ndim != 2 or embeddings.shape[0] != len(part):
                raise ValueError(f"model.encode returned shape {embeddings.shape} for {len(part)} texts; expected "
                                 f"({len(part)}, dimension)")
            ids = [str(row) for row in range(start, start + len(part))]
            shard = write_shard(folder, number, ids, part, embeddings, tag=tag)
            encoded += 1
        dimension = _dimension(folder, shard)
        if header is not None and dimension != header.dimension:
            raise ValueError(f"{folder / shard.embeddings}: dimension {dimension}, but earlier chunks have "
                             f"{header.dimension}")
        header = header or ShardsHeader(
            model=str(getattr(model, "source", "") or fingerprint), dimension=dimension, normalized=True,
            kind=kind, options={"model_fingerprint": fingerprint, "encode_options": options})
        shards.append(shard)
        write_manifest(folder, header, chunk_size, shards, complete=number + 1 == chunks)
    keep = {name for shard in shards for name in (shard.embeddings, shard.rows)}
    for stale in [*folder.glob("part-*.npy"), *folder.glob("part-*.parquet")]:
        if stale.name not in keep:
            stale.unlink()
    return EncodedShards.open(folder), encoded


def store_fingerprint(store: EncodedShards) -> str:
    """Equal for two stores of :func:`encode_store` exactly when they hold the same embeddings: a hash of the
    shard names, which carry each chunk's digest."""
    return _digest("\n".join(shard.embeddings for shard in store.shards).encode())


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


def _reusable_shard(folder: Path, number: int, tag: str, count: int) -> ShardInfo | None:
    """Shard ``number`` with digest ``tag`` if whole files of it are on disk, else None."""
    embeddings_name, rows_name = shard_names(number, tag)
    if not (folder / embeddings_name).is_file():
        return None
    shard = ShardInfo(embeddings_name, rows_name, count)
    try:
        check_shard(folder, shard, _dimension(folder, shard))
    except (ShardsFormatError, ValueError, OSError) as error:
        logger.warning("%s; encoding that chunk again", error)
        return None
    return shard


def _dimension(folder: Path, shard: ShardInfo) -> int:
    shape = np.load(folder / shard.embeddings, mmap_mode="r").shape
    return int(shape[1]) if len(shape) == 2 else 0


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
