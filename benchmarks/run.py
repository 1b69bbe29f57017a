"""``make bench``: gtekit's contrastive training step against sentence-transformers, side by side, in one run.

    python -m benchmarks.run                      # defaults: batch 256, chunk 64 (~40 minutes on 2 idle cores)
    python -m benchmarks.run --batch 1024         # the full run (chunk 64): over an hour on 2 cores
    make bench ARGS="--batch 1024 --no-bf16"

Measures (1) this machine's fp32 and bf16 matmul peaks, (2) training throughput of both systems on
the same standard-library pairs with a loss check at identical weights, and MFU from an analytic
FLOP count, (3) peak memory against the global batch size, each point in a fresh process. Prints the
tables and writes everything to benchmarks/results/train-bench-DATE-TIME-HOST.json (atomically).
See benchmarks/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0],
        epilog="The issue's full setting is --batch 1024 --chunk 64. An fp32 step costs roughly N/3 s for N pairs "
               "on an idle 2-core AVX2 CPU, so that run (3 configurations x (1 warm-up + 3 steps)) takes over an "
               "hour there; the defaults keep a run to about 40 minutes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="all-MiniLM-L6-v2", help="model name or folder, loaded by both systems")
    p.add_argument("--batch", type=int, default=256, help="pairs per step (full run: 1024)")
    p.add_argument("--chunk", type=int, default=64, help="texts per encoder call in the gradient cache")
    p.add_argument("--repeats", type=int, default=3, help="timed steps per configuration (median reported)")
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--seed", type=int, default=0, help="which pairs are drawn from the standard library")
    p.add_argument("--st-token-budget", type=int, default=0,
                   help="sentence-transformers mini_batch_num_tokens (0: chunk x max-seq-length; -1: skip)")
    p.add_argument("--bf16-batch", type=int, default=16,
                   help="pairs per step of the bf16 runs (bf16 is several times slower than fp32 on CPUs without "
                        "AVX512-BF16/AMX)")
    p.add_argument("--bf16-chunk", type=int, default=8)
    p.add_argument("--no-bf16", action="store_true", help="skip the bf16 matmul peak and the bf16 runs")
    p.add_argument("--peak-seconds", type=float, default=2.0, help="timed seconds per matmul shape and dtype")
    p.add_argument("--peak-tokens", type=int, default=4096, help="tokens (m) of the encoder-shaped matmuls")
    p.add_argument("--memory-batches", type=_ints, default=[256, 512, 1024],
                   help="N of the full-step memory points (comma-separated; empty: none)")
    p.add_argument("--loss-memory-batches", type=_ints, default=[256, 1024, 4096, 16384],
                   help="N of the loss-phase memory points")
    p.add_argument("--memory-chunk", type=int, default=64, help="chunk size of the full-step memory points")
    p.add_argument("--memory-steps", type=int, default=1,
                   help="steps per full-step memory point (2: the steady-state peak, which can be a little higher)")
    p.add_argument("--loss-block-size", type=int, default=1024,
                   help="rows per block of the row-blocked loss memory points (0: whole matrix only)")
    p.add_argument("--gtekit-set", action="append", default=[], metavar="KEY=VALUE",
                   help="gtekit recipe override for its runs and the full-step memory points, e.g. "
                        "train.loss_block_size=1024, train.gradient_checkpointing=true, train.prefetch=false")
    p.add_argument("--gtekit-variant", action="append", default=[], metavar="KEY=VALUE",
                   help="also time gtekit with this override on top of --gtekit-set, fp32 and bf16, in the same "
                        "run (repeatable: one more configuration each), e.g. model.packing=true")
    p.add_argument("--data-sizes", type=_ints, default=[100_000, 1_000_000, 10_000_000],
                   help="mixture sizes (pairs) of the data-pipeline memory/speed points (synthetic shards)")
    p.add_argument("--mining-docs", type=int, default=10**6,
                   help="corpus size of the hard-negative mining benchmark (precomputed unit vectors)")
    p.add_argument("--mining-queries", type=int, default=100_000, help="queries of the mining benchmark")
    p.add_argument("--serving-requests", type=int, default=200,
                   help="requests per concurrency level (1, 8, 32) of the `gtekit serve` load benchmark")
    p.add_argument("--encode-texts", type=int, default=500,
                   help="texts per timed run of the encoding benchmark (gtekit encode vs SentenceTransformer.encode)")
    p.add_argument("--skip", choices=["peaks", "throughput", "memory", "data", "mining", "serving", "encode"],
                   action="append",
                   default=[],
                   help="leave a part out (repeatable)")
    p.add_argument("--output-dir", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    for name in ("batch", "chunk", "repeats", "bf16_batch", "bf16_chunk", "memory_chunk", "memory_steps"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    return args


def configs(args: argparse.Namespace):
    from .throughput import RunConfig

    budget = args.chunk * args.max_seq_length if args.st_token_budget == 0 else args.st_token_budget
    ours = [tuple(args.gtekit_set), *((*args.gtekit_set, variant) for variant in args.gtekit_variant)]
    runs = [*(RunConfig("gtekit", args.batch, args.chunk, overrides=o) for o in ours),
            RunConfig("sentence-transformers", args.batch, args.chunk)]
    if budget > 0:
        runs.append(RunConfig("sentence-transformers", args.batch, args.chunk, token_budget=budget))
    bf16 = [] if args.no_bf16 else [
        *(RunConfig("gtekit", args.bf16_batch, args.bf16_chunk, bf16=True, overrides=o) for o in ours),
        RunConfig("sentence-transformers", args.bf16_batch, args.bf16_chunk, bf16=True)]
    return runs, bf16


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig

    from gtekit.model.model_files import resolve_model_folder

    from . import data, memory, peaks, report, throughput

    started = time.time()
    model_config = AutoConfig.from_pretrained(resolve_model_folder(args.model), trust_remote_code=False)
    record: dict = {"benchmark": "gtekit training step vs sentence-transformers", "started": datetime.now().isoformat(),
                    "machine": peaks.machine_info(), "settings": {**vars(args), "output_dir": str(args.output_dir)},
                    "load_average": {"start": os.getloadavg()}}
    if "peaks" not in args.skip:
        log("matmul peaks")
        shapes = [*peaks.SQUARE_SHAPES, *peaks.model_shapes(args.peak_tokens, model_config.hidden_size,
                                                             model_config.intermediate_size)]
        record["peaks"] = peaks.measure_peaks(shapes, args.peak_seconds, ("fp32",) if args.no_bf16 else
                                              ("fp32", "bf16"), log=log)
    parts = {"throughput", "memory"} - set(args.skip)
    needed = max([args.batch, args.bf16_batch, *args.memory_batches]) if parts else 0
    pairs = data.stdlib_train_pairs(needed, seed=args.seed) if needed else []
    if "throughput" not in args.skip:
        results = []
        for group in configs(args):
            if group:
                log(f"training steps: {', '.join(c.name for c in group)}")
                results += throughput.measure(group, args.model, pairs, args.repeats, args.max_seq_length, log=log)
        throughput.add_utilisation(results, record.get("peaks") or {})
        record.update(throughput=results, loss_checks=throughput.check_losses(results),
                      comparisons=throughput.compare(results))
    if "memory" not in args.skip:
        log("memory (a fresh process per point)")
        with tempfile.TemporaryDirectory(prefix="gtekit-bench-") as tmp:
            pairs_file = data.write_pairs(pairs, Path(tmp) / "pairs.jsonl") if args.memory_batches else None
            record["memory"] = memory.memory_curve(
                args.memory_batches, args.loss_memory_batches, chunk=args.memory_chunk, block=args.loss_block_size,
                pairs_file=pairs_file, model_name=args.model, max_seq_length=args.max_seq_length,
                dim=model_config.hidden_size, steps=args.memory_steps, overrides=tuple(args.gtekit_set), log=log)
    if "data" not in args.skip:
        from . import data_pipeline

        log("data pipeline: memory and pairs/s as the mixture grows (a fresh process per size)")
        trained = [r["pairs_per_s"] for r in record.get("throughput", [])
                   if r.get("system") == "gtekit" and not r.get("bf16") and r.get("pairs_per_s")]
        record["data_pipeline"] = data_pipeline.run_data_pipeline_bench(
            args.data_sizes, batch=args.batch, chunk=args.chunk, max_seq_length=args.max_seq_length,
            train_pairs_per_s=trained[0] if trained else None)
    if "mining" not in args.skip:
        from . import mining

        log(f"hard-negative mining: {args.mining_docs:,} documents, {args.mining_queries:,} queries")
        record["mining"] = mining.run_mining_bench(args.mining_docs, args.mining_queries,
                                                   dim=model_config.hidden_size, log=log)
    if "serving" not in args.skip:
        from . import serving

        log(f"serving: `gtekit serve {args.model}` under loopback load, {args.serving_requests} requests per level")
        record["serving"] = serving.run_serving_bench(args.model, args.serving_requests, log=log)
    if "encode" not in args.skip:
        from . import encode

        log(f"encoding throughput: gtekit vs sentence-transformers on {args.encode_texts} texts")
        record["encode"] = encode.run_encode_bench(args.model, args.encode_texts, bf16=not args.no_bf16, log=log)
    record["seconds"] = time.time() - started
    record["load_average"]["end"] = os.getloadavg()
    path = report.write_json_atomic(report.result_path(args.output_dir), record)
    print(report.render(record))
    if "data_pipeline" in record:
        from .data_pipeline import format_report

        print("\ndata pipeline (sampler + shard reads + tokenization, no model)")
        print(format_report(record["data_pipeline"]))
    if "mining" in record:
        m = record["mining"]
        print(f"\nhard-negative mining: same negatives as sentence-transformers: {m['same_negatives']}; "
              f"sentence-transformers / gtekit: time x{m['time_ratio']}, peak RSS x{m['memory_ratio']}")
    if "serving" in record:
        from .serving import format_report as format_serving

        print("\nserving: gtekit serve under loopback load (texts/s, latency, errors, server memory)")
        print(format_serving(record["serving"]))
    if "encode" in record:
        from .encode import format_report as format_encode

        print("\n" + format_encode(record["encode"]))
    print(f"\nwritten: {path}")
    return record


if __name__ == "__main__":
    main()
