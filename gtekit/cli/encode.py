"""`gtekit encode`: embed text files into resumable shards with ids, or one .npy: the options become an
``EncodeSettings`` for ``gtekit.encode.encode_files.encode_files``; SIGTERM stops it like Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from ..encode.settings import DEFAULT_BATCH_SIZE, DEFAULT_MAX_BATCH_TOKENS, Backend, ComputePrecision
from ..io.embedding_store import DEFAULT_SHARD_SIZE, SKIPPED_ROWS

DESCRIPTION = f"""\
Embed texts with an embedding model. Inputs are streamed, never loaded whole:

  .txt                     one text per line (an empty line is an error)
  .jsonl, .jsonl.gz        one JSON object per line, the text in --field (blank lines are passed over)
  .parquet                 the text in column --field

Each text's id is its --id-field value, or "<file>:<line>" (Parquet: "<file>:<row>", rows from 1).
A text that is empty or only whitespace, is not UTF-8 or holds a lone surrogate (JSON "\\ud800") is an
error naming the file, line and field; with --skip-invalid such rows are left out, counted in the
manifest ("skipped") and listed in DIR/skipped.jsonl (id, file, line, problem).
With -o DIR, writes encoded shards (read by `gtekit index build` and `gtekit serve`):

  DIR/manifest.json        model, dimension, options, inputs, the shards, "complete"
  DIR/part-NNNNN.npy       float32 (rows, dimension), in input order
  DIR/part-NNNNN.parquet   columns id and text, the same rows

Every --shard-size rows (default {DEFAULT_SHARD_SIZE:,}) a shard is written and listed, each file
atomically: rerun an interrupted command unchanged and it resumes after the last listed shard, with
the same result as an uninterrupted run. With -o FILE.npy, writes one float32 (N, dimension) array
instead (no ids, no resuming).

Texts are tokenised in a background thread, sorted by length within windows of 4,096 and run longest
first in batches of at most --batch-size texts and --max-batch-tokens padded tokens; the output keeps
the input order. --processes N runs N worker processes (each with cores / N threads) on a CPU.
--precision bf16 / int8 trade a little quality for speed: see docs/encoding.md for measured costs.

examples:
  gtekit encode all-MiniLM-L6-v2 corpus.jsonl.gz --field body --id-field doc_id -o embeddings/corpus
  gtekit encode all-MiniLM-L6-v2 part-*.parquet --kind document -o embeddings/docs --processes 2
  gtekit encode my-model queries.txt --kind query --precision int8 -o embeddings/queries
  gtekit encode all-MiniLM-L6-v2 texts.txt -o embeddings.npy
  gtekit export onnx all-MiniLM-L6-v2 minilm-onnx --optimize && \\
      gtekit encode minilm-onnx corpus.txt --backend onnx -o embeddings/corpus
"""


def add_parser(subcommands) -> argparse.ArgumentParser:
    parser = subcommands.add_parser("encode", help="embed text files into resumable shards with ids (or one .npy)",
                                    description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model folder, 'all-MiniLM-L6-v2' or a hub name")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help=".txt, .jsonl, .jsonl.gz or .parquet files")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="output folder of shards; a path ending in .npy writes one array instead")

    inputs = parser.add_argument_group("inputs")
    inputs.add_argument("--field", default="text", metavar="NAME",
                        help="JSONL field / Parquet column holding the text (default: text)")
    inputs.add_argument("--id-field", default=None, metavar="NAME",
                        help="JSONL field / Parquet column holding each text's id (default: \"<file>:<line>\")")
    inputs.add_argument("--skip-invalid", action="store_true",
                        help="leave out rows whose text is missing, empty, not UTF-8 or has a lone surrogate, and "
                             "list them in DIR/skipped.jsonl (shards output only) (default: stop at the first)")

    model = parser.add_argument_group("model")
    model.add_argument("--kind", choices=["query", "document"], default=None,
                       help="add the model's query or document prefix/delimiters (default: none)")
    model.add_argument("--no-normalize", action="store_true", help="do not L2-normalise the embeddings")
    model.add_argument("--max-seq-length", type=int, default=None, metavar="N",
                       help="truncate texts to N tokens (default: the model's own, 256 for all-MiniLM-L6-v2)")
    model.add_argument("--precision", default=ComputePrecision.FP32.value, choices=[p.value for p in ComputePrecision],
                       help="fp32: exact; bf16: autocast (fast on GPUs and CPUs with AMX / AVX512-BF16, slow "
                            "elsewhere); int8: dynamic quantisation of the linear layers (CPU) (default: fp32)")
    model.add_argument("--bf16", action="store_true", help="same as --precision bf16")
    model.add_argument("--backend", default=Backend.TORCH.value, choices=[b.value for b in Backend],
                       help="torch: MODEL is a model (folder or name); onnx: MODEL is a folder written by `gtekit "
                            "export onnx` (add --int8 there for --precision int8), run by onnxruntime on the CPU "
                            "(default: torch)")
    model.add_argument("--device", default=None,
                       help="where the model runs, e.g. cpu, cuda, cuda:1 (default: cuda if available, else cpu)")

    speed = parser.add_argument_group("batching and processes")
    speed.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
                       help=f"texts per forward pass at most (default: {DEFAULT_BATCH_SIZE})")
    speed.add_argument("--max-batch-tokens", type=int, default=DEFAULT_MAX_BATCH_TOKENS, metavar="N",
                       help="padded tokens (texts x longest) per forward pass at most, so long texts run in "
                            f"smaller batches; 0: no limit (default: {DEFAULT_MAX_BATCH_TOKENS})")
    speed.add_argument("--processes", type=int, default=1, metavar="N",
                       help="worker processes encoding batches in parallel on the CPU, each with cores / N "
                            "threads (default: 1, this process with all cores)")

    output = parser.add_argument_group("output")
    output.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE, metavar="N",
                        help=f"rows per shard: the unit of resuming (default: {DEFAULT_SHARD_SIZE:,})")
    output.add_argument("--overwrite", action="store_true",
                        help="start afresh in a folder holding shards of other inputs or options (default: stop "
                             "with an error, and resume when they are the same)")
    output.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)
    return parser


class StoppedBySignal(Exception):
    """SIGTERM reached the encoding: raised in the main thread, so that the worker processes are shut down."""


def run(args) -> int:
    """``gtekit encode``; SIGTERM stops it like Ctrl-C: the pool is shut down, the listed shards are kept,
    and the exit status is 143 (128 + SIGTERM)."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        return _encode(args)

    def stop(signal_number, frame) -> None:
        raise StoppedBySignal(signal.Signals(signal_number).name)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return _encode(args)
    except StoppedBySignal as stopped:
        resume = "" if args.output.endswith(".npy") else "; the shards listed so far are kept: rerun the same " \
                                                          "command to resume"
        print(f"gtekit encode: stopped by {stopped}{resume}", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)


def _encode(args) -> int:
    from ..encode.encode_files import encode_files
    from ..encode.settings import EncodeSettings

    if args.bf16 and args.precision not in (ComputePrecision.FP32.value, ComputePrecision.BF16.value):
        raise ValueError(f"--bf16 contradicts --precision {args.precision}; give one of them")
    settings = EncodeSettings(
        model=args.model, inputs=args.inputs, output=args.output, text_field=args.field, id_field=args.id_field,
        skip_invalid=args.skip_invalid, kind=args.kind, normalize=not args.no_normalize,
        max_seq_length=args.max_seq_length, precision=ComputePrecision.BF16 if args.bf16 else args.precision,
        backend=args.backend, device=args.device, batch_size=args.batch_size, max_batch_tokens=args.max_batch_tokens,
        processes=args.processes, shard_size=args.shard_size, overwrite=args.overwrite, progress=not args.no_progress)
    written = encode_files(settings)
    if written.shards is None:
        print(f"wrote {written.rows} x {written.dimension} embeddings to {args.output}")
        return 0
    resumed = written.rows - written.encoded
    note = f" ({resumed:,} rows were already there)" if resumed else ""
    print(f"wrote {written.rows:,} x {written.dimension} embeddings in {len(written.shards.shards)} shard(s) to "
          f"{args.output}{note}")
    skipped = written.shards.manifest.get("skipped", 0)
    if skipped:
        print(f"left out {skipped:,} invalid rows, listed in {written.shards.folder / SKIPPED_ROWS}")
    return 0
