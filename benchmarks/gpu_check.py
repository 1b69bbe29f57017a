"""The GPU check: gtekit's CUDA paths measured against sentence-transformers on one GPU, in under 8 minutes.

Never needed by the test suite; run it whenever a GPU machine is at hand (``benchmarks/gpu_check.sh`` sets
it up on a machine without network access) and commit the results file it writes:

1. **training**: one full optimizer step of gtekit (``Trainer.train_step``) and of sentence-transformers'
   ``CachedMultipleNegativesRankingLoss`` with GTE's four directions, on the same 256 standard-library
   (docstring, code) pairs, gradient-cache chunks of 64, seq 128, in fp32 and in bf16, side by side
   (``benchmarks.throughput.measure`` on ``cuda``: steps interleaved, medians, the eval-mode first-step
   losses checked equal);
2. **memory at GTE's batch**: one gtekit step at a global batch of 16,384 pairs (bf16, chunks of 512, loss
   rows in blocks of 2,048): ``torch.cuda.max_memory_allocated`` and the step's time;
3. **encoding**: 2,000 STS-B test sentences, ``Embedder.encode`` against ``SentenceTransformer.encode`` at
   the same batch size, fp32 and bf16, medians of 3, and the fp32 embeddings' smallest cosine.

    python -m benchmarks.gpu_check                     # writes benchmarks/results/gpu-check-<time>.json
    python -m benchmarks.gpu_check --device cpu --small  # the same code on the CPU, small sizes (a smoke run)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def training_steps(args, pairs) -> dict:
    """gtekit and sentence-transformers side by side, fp32 and bf16."""
    from . import throughput
    from .throughput import RunConfig

    results = []
    for bf16 in (False, True):
        group = [RunConfig(system, args.batch, args.chunk, bf16=bf16, device=args.device)
                 for system in ("gtekit", "sentence-transformers")]
        log(f"training steps ({'bf16' if bf16 else 'fp32'}): {', '.join(c.name for c in group)}")
        results += throughput.measure(group, args.model, pairs, args.repeats, args.max_seq_length, log=log)
    for result in results:
        result.pop("device", None)
    return {"results": results, "loss_checks": throughput.check_losses(results),
            "comparisons": throughput.compare(results)}


def big_batch_memory(args, pairs) -> dict:
    """Peak GPU memory and time of one gtekit step at a global batch of ``args.big_batch`` pairs."""
    import torch

    from .throughput import GtekitStep, RunConfig

    config = RunConfig("gtekit", args.big_batch, args.big_chunk, bf16=True, device=args.device,
                       overrides=(f"train.loss_block_size={args.loss_block_size}",))
    stepper = GtekitStep(args.model, pairs, config, args.max_seq_length)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    loss = stepper.step()
    synchronize(args.device)
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() if args.device.startswith("cuda") else None
    log(f"  batch {args.big_batch}: {seconds:.1f} s, loss {loss:.4f}, peak "
        + (f"{peak / 2**30:.2f} GiB" if peak is not None else "(not measured on the CPU)"))
    return {"batch": args.big_batch, "chunk": args.big_chunk, "loss_block_size": args.loss_block_size,
            "precision": "bf16", "seconds": seconds, "loss": loss, "peak_allocated_bytes": peak}


def encoding(args) -> dict:
    """``Embedder.encode`` against ``SentenceTransformer.encode`` on STS-B sentences, fp32 and bf16."""
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from gtekit import Embedder
    from gtekit.model.model_files import resolve_model_folder

    from .onnx_export import stsb_sentences

    texts = stsb_sentences(args.encode_texts)
    folder = str(resolve_model_folder(args.model))
    ours = Embedder.load(folder).to(args.device)
    theirs = SentenceTransformer(folder, device=args.device, trust_remote_code=False)

    def st(bf16: bool):
        with torch.autocast(torch.device(args.device).type, dtype=torch.bfloat16, enabled=bf16):
            return np.asarray(theirs.encode(texts, batch_size=args.encode_batch, normalize_embeddings=True,
                                            convert_to_numpy=True), dtype=np.float32)

    systems = {"sentence-transformers fp32": lambda: st(False), "sentence-transformers bf16": lambda: st(True),
               "gtekit fp32": lambda: ours.encode(texts, batch_size=args.encode_batch, normalize=True),
               "gtekit bf16": lambda: ours.encode(texts, batch_size=args.encode_batch, normalize=True, bf16=True)}
    seconds: dict[str, list[float]] = {name: [] for name in systems}
    embeddings = {}
    for name, run in systems.items():  # warm-up: kernels, autotuning
        embeddings[name] = run()
    for _ in range(args.repeats):  # interleaved, so a change in load hits every system alike
        for name, run in systems.items():
            synchronize(args.device)
            started = time.perf_counter()
            run()
            synchronize(args.device)
            seconds[name].append(time.perf_counter() - started)
    rows = {name: {"median_s": statistics.median(times), "texts_per_s": len(texts) / statistics.median(times)}
            for name, times in seconds.items()}
    for name, row in rows.items():
        log(f"  {name}: {row['texts_per_s']:.0f} texts/s")
    reference = embeddings["sentence-transformers fp32"]
    cosines = {name: float(np.min(np.sum(vectors * reference, axis=1))) for name, vectors in embeddings.items()}
    return {"texts": len(texts), "batch_size": args.encode_batch, "rows": rows, "min_cosine_to_st_fp32": cosines,
            "ratio_fp32": rows["gtekit fp32"]["texts_per_s"] / rows["sentence-transformers fp32"]["texts_per_s"],
            "ratio_bf16": rows["gtekit bf16"]["texts_per_s"] / rows["sentence-transformers bf16"]["texts_per_s"]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a smoke run")
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="model name or folder, loaded by both systems")
    parser.add_argument("--batch", type=int, default=256, help="pairs per timed training step (default: 256)")
    parser.add_argument("--chunk", type=int, default=64, help="texts per encoder call in the gradient cache")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps and encode runs (median reported)")
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--big-batch", type=int, default=16384, help="the memory point's global batch")
    parser.add_argument("--big-chunk", type=int, default=512, help="the memory point's gradient-cache chunk")
    parser.add_argument("--loss-block-size", type=int, default=2048, help="the memory point's loss row blocks")
    parser.add_argument("--encode-texts", type=int, default=2000, help="STS-B test sentences to encode")
    parser.add_argument("--encode-batch", type=int, default=256, help="encode batch size of both systems")
    parser.add_argument("--small", action="store_true",
                        help="a smoke run: batch 16, chunk 8, memory point 64 pairs, 64 texts, 1 repeat")
    parser.add_argument("--output-dir", type=Path, default=RESULTS, help=f"where the results file goes ({RESULTS})")
    args = parser.parse_args(argv)
    if args.small:
        args.batch, args.chunk, args.repeats, args.big_batch, args.big_chunk = 16, 8, 1, 64, 16
        args.loss_block_size, args.encode_texts, args.encode_batch = 32, 64, 32
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from . import data, report
    from .ablations import machine

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("gpu_check: PyTorch sees no CUDA GPU here; `--device cpu --small` runs the same code on "
                         "the CPU")
    started = time.time()
    record: dict = {"benchmark": "gtekit on a GPU: training step, 16k-pair memory, encoding",
                    "started": datetime.now().isoformat(), "machine": machine(),
                    "settings": {**vars(args), "output_dir": str(args.output_dir)}}
    pairs = data.stdlib_train_pairs(args.batch, seed=0)
    record["training"] = training_steps(args, pairs)
    big = (pairs * (args.big_batch // len(pairs) + 1))[:args.big_batch]  # repeats only change which texts recur
    record["memory"] = big_batch_memory(args, big)
    record["encode"] = encoding(args)
    record["seconds"] = time.time() - started
    path = report.write_json_atomic(report.result_path(args.output_dir, prefix="gpu-check"), record)
    print(json.dumps({"comparisons": record["training"]["comparisons"], "memory": record["memory"],
                      "encode_ratios": {k: record["encode"][k] for k in ("ratio_fp32", "ratio_bf16")}}, indent=2))
    print(f"written: {path}")
    return record


if __name__ == "__main__":
    main()
