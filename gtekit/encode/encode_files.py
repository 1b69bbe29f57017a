"""Input files -> encoded shards (resumable) or one .npy array: the work behind ``gtekit encode``.

Records stream from the inputs (``inputs``) through a :class:`~gtekit.encode.engine.TextEncoder`
into a :class:`~gtekit.encode.shard_writer.ShardWriter`. A rerun into a folder that an interrupted run
left skips the rows its listed shards hold and continues from there; since windows never straddle a
shard boundary, the result equals an uninterrupted run's. The manifest records each input file's
size, modification time and SHA-256, so a rerun after an input changed stops with an error naming
the file and what changed, rather than keep rows encoded from the old text. With ``skip_invalid``, rows that are not
valid records are left out and listed in ``DIR/skipped.jsonl`` (``shards``); a resumed run reads the
inputs from the start, so it lists them all again.

:func:`encode_files` does all of ``gtekit encode`` for one ``EncodeSettings``: it checks the inputs before
loading the model, then writes shards or the array. Depends on the other ``encode`` modules and tqdm.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ..io.atomic import atomic_path
from ..io.embedding_store import DEFAULT_SHARD_SIZE, EncodedShards, ShardsHeader
from .engine import EncodeOptions, TextEncoder
from .settings import EncodeSettings
from .shard_writer import ShardWriter
from .text_inputs import (
    InputFormat,
    SkippedRow,
    TextRecord,
    check_inputs,
    count_records,
    input_fingerprint,
    input_format,
    iter_records,
)


@dataclass(frozen=True)
class EncodedOutput:
    """What :func:`encode_files` wrote: ``rows`` x ``dimension`` embeddings, ``encoded`` of them by this run."""

    rows: int
    dimension: int
    encoded: int  # rows encoded now; the rest were in the folder's listed shards already
    shards: EncodedShards | None  # the shards folder; None for a .npy array


def encode_files(settings: EncodeSettings) -> EncodedOutput:
    """Encode the input files of ``settings`` into its output (see the module docstring)."""
    options = EncodeOptions(kind=settings.kind, batch_size=settings.batch_size,
                            max_batch_tokens=settings.max_batch_tokens or None, normalize=settings.normalize,
                            max_seq_length=settings.max_seq_length, precision=settings.precision,
                            device=settings.device, backend=settings.backend)
    check_inputs(settings.inputs, settings.text_field, settings.id_field)  # before loading the model
    with TextEncoder(settings.model, options, processes=settings.processes) as encoder:
        if settings.writes_array:
            array = encode_to_array(encoder, settings.inputs, settings.output, text_field=settings.text_field,
                                    id_field=settings.id_field, progress=settings.progress)
            return EncodedOutput(array.shape[0], array.shape[1], array.shape[0], None)
        header = shards_header(encoder, settings.model, settings.inputs, settings.text_field, settings.id_field,
                               settings.skip_invalid)
        shards, encoded = encode_to_shards(encoder, settings.inputs, settings.output, header,
                                           text_field=settings.text_field, id_field=settings.id_field,
                                           shard_size=settings.shard_size, overwrite=settings.overwrite,
                                           progress=settings.progress, skip_invalid=settings.skip_invalid)
    return EncodedOutput(len(shards), shards.dimension, encoded, shards)


def shards_header(encoder: TextEncoder, model_name: str, inputs: Sequence[str | Path], text_field: str,
                  id_field: str | None, skip_invalid: bool = False) -> ShardsHeader:
    """The manifest header of ``encoder``'s output: what a resumed run must match, down to the size and
    SHA-256 of each input file (each is read once here to hash it)."""
    options = encoder.options
    skipping = {"skip_invalid": True} if skip_invalid else {}  # absent when off: folders of older runs resume
    return ShardsHeader(
        model=model_name, dimension=encoder.dimension, normalized=options.normalize, kind=options.kind,
        inputs=tuple(str(path) for path in inputs), id_field=id_field,
        input_files=tuple(input_fingerprint(path) for path in inputs),
        text_field=text_field if any(input_format(path) is not InputFormat.TXT for path in inputs) else None,
        options={"precision": options.precision.value, "max_seq_length": encoder.settings.max_seq_length,
                 "backend": options.backend.value, **skipping})


def encode_to_shards(encoder: TextEncoder, inputs: Sequence[str | Path], output: str | Path, header: ShardsHeader, *,
                     text_field: str = "text", id_field: str | None = None, shard_size: int = DEFAULT_SHARD_SIZE,
                     overwrite: bool = False, progress: bool = True,
                     skip_invalid: bool = False) -> tuple[EncodedShards, int]:
    """Encode every record of ``inputs`` into the shards folder ``output``; returns (shards, rows encoded
    now). A folder a killed run left is resumed after its last listed shard; a complete one is returned
    as it is. ``skip_invalid``: leave bad rows out and list them (``manifest["skipped"]`` rows, in
    ``skipped.jsonl``) instead of stopping at the first."""
    check_inputs(inputs, text_field, id_field)
    writer = ShardWriter(output, header, shard_size=shard_size, overwrite=overwrite)
    if writer.complete:
        return EncodedShards.open(output), 0
    done = writer.rows_written
    skipped: list[SkippedRow] | None = [] if skip_invalid else None
    records = iter_records(inputs, text_field=text_field, id_field=id_field, skipped=skipped)
    if done:
        _skip_written(records, writer, output)
    total = count_records(inputs)
    encoded = 0
    with tqdm(total=total, initial=done, desc="encode", unit="text", disable=not progress, dynamic_ncols=True) as bar:
        for window, embeddings in encoder.encode_records(records, start=done, boundary=shard_size):
            writer.append([record.id for record in window], [record.text for record in window], embeddings)
            encoded += len(window)
            bar.update(len(window))
    if done + encoded == 0:
        invalid = f" ({len(skipped):,} invalid rows left out)" if skipped else ""
        raise ValueError(f"{', '.join(map(str, inputs))}: no texts{invalid}")
    return writer.close(skipped=[row.to_json() for row in skipped or ()]), encoded


def _skip_written(records: Iterator[TextRecord], writer: ShardWriter, output: str | Path) -> None:
    """Skip the records the listed shards hold, checking that the last one is the last row written."""
    last_shard = writer.shards[-1]
    expected = pq.read_table(Path(output) / last_shard.rows, columns=["id"]).column("id")[-1].as_py()
    skipped = 0
    last: TextRecord | None = None
    for last in itertools.islice(records, writer.rows_written):  # noqa: B007 (the last one is checked)
        skipped += 1
    if skipped < writer.rows_written or last is None or last.id != expected:
        found = f"only {skipped:,} rows" if skipped < writer.rows_written else f"id {last.id!r} there"
        raise ValueError(f"{output}: its shards end with id {expected!r} at row {writer.rows_written:,}, but the "
                         f"inputs have {found}: they changed since; to start afresh, use --overwrite")


def encode_to_array(encoder: TextEncoder, inputs: Sequence[str | Path], output: str | Path, *,
                    text_field: str = "text", id_field: str | None = None, progress: bool = True) -> np.ndarray:
    """Encode every record of ``inputs`` into one float32 (N, H) .npy file, written atomically (no ids)."""
    check_inputs(inputs, text_field, id_field)
    parts: list[np.ndarray] = []
    records = iter_records(inputs, text_field=text_field, id_field=id_field)
    with tqdm(total=count_records(inputs), desc="encode", unit="text", disable=not progress, dynamic_ncols=True) as bar:
        for window, embeddings in encoder.encode_records(records):
            parts.append(embeddings)
            bar.update(len(window))
    if not parts:
        raise ValueError(f"{', '.join(map(str, inputs))}: no texts")
    array = np.concatenate(parts)
    with atomic_path(Path(output)) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)
    return array
