"""The data pipeline alone: peak memory and pairs/s as a streamed mixture grows, against a training step.

What is measured is the path a batch takes before the encoder, with no model: the source sampler
(``SourceSampler``), shard reads of a built mixture (``gtekit.data.streaming``) and tokenization into
length-sorted chunks (``training.batches.BatchPreparer``), run as ``BatchStream`` runs it in a DataLoader
worker. The issue's targets: memory that does not grow with the data (a few shards, not the mixture),
and a pipeline that prepares pairs at least 5x as fast as a training step consumes them.

1. *Data*, written once into a temporary folder (``--workdir``): for each size N (default 10^5, 10^6,
   10^7) a mixture folder of ``--sources`` sources of geometrically decreasing size (1/2, 1/4, ... of
   N), in Parquet shards of at most ``--rows-per-shard`` rows, with a manifest. Texts are words drawn
   from a fixed vocabulary by a seeded RNG: queries of ``--query-words`` words, positives of
   ``--positive-words``.
2. *Each size in a fresh process* (``python -m benchmarks.data_pipeline --point DIR``): load the
   tokenizer, reset the process's peak resident set (``echo 5 > /proc/self/clear_refs``), then open the
   mixture, build the sampler (α = 0.5) and prepare ``--batches`` global batches of ``--batch`` pairs
   (``--chunk`` texts per chunk, ``--max-seq-length`` tokens). The peak is ``VmHWM`` from
   /proc/self/status (the phase's own high-water mark; ``ru_maxrss`` would carry the parent's), next to
   the resident set before the phase (tokenizer and Arrow already started). Arrow's allocator keeps
   some tens of MB after the first shard reads whatever the size, so what matters is that the peak
   stays flat as N grows. pairs/s is over the batches after the first (which opens shards).
3. *Training pairs/s*: given (``--train-pairs-per-s``, e.g. from ``benchmarks.run``), or measured here:
   ``Trainer.train_step()`` of the bundled all-MiniLM-L6-v2 on ``--train-batch`` synthetic pairs, the
   median of ``--train-steps`` steps after one warm-up (batches come from a DataLoader worker, so the
   step time is the model's).

Usage (a smoke run takes about a minute on 2 cores; 10^7 pairs writes ~2 GB and takes tens of minutes)::

    python -m benchmarks.data_pipeline --sizes 100000,1000000 --batches 10
    python -m benchmarks.data_pipeline --train-pairs-per-s 40 --out results/data-pipeline.json

``run_data_pipeline_bench(...)`` returns the same record as a dict, for ``benchmarks.run``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .procstat import reset_peak, status_mib

MIB = 1024 * 1024
TARGET_RATIO = 5.0
DEFAULT_SIZES = (100_000, 1_000_000, 10_000_000)
MODEL = "all-MiniLM-L6-v2"


def synthetic_mixture(folder: Path, pairs: int, *, sources: int = 4, rows_per_shard: int = 100_000,
                      query_words: int = 8, positive_words: int = 48, seed: int = 0) -> Path:
    """Write a mixture folder of about ``pairs`` synthetic pairs (see the module docstring); return it."""
    from gtekit.data.pairs import Pair
    from gtekit.data.streaming import write_mixture

    vocabulary = np.array([f"w{k:04d}" for k in range(5000)])
    rng = np.random.default_rng(seed)
    shares = 0.5 ** np.arange(1, sources + 1)
    counts = np.maximum(1, np.round(pairs * shares / shares.sum())).astype(int)

    def shards(count: int):
        for start in range(0, count, rows_per_shard):
            rows = min(rows_per_shard, count - start)
            queries = vocabulary[rng.integers(0, len(vocabulary), (rows, query_words))]  # (rows, words)
            positives = vocabulary[rng.integers(0, len(vocabulary), (rows, positive_words))]
            yield [Pair(" ".join(q), " ".join(p)) for q, p in zip(queries, positives, strict=True)]

    write_mixture(folder, {f"source{i}": shards(int(count)) for i, count in enumerate(counts)})
    return folder


def measure_point(mixture: Path, *, batch: int, batches: int, chunk: int, max_seq_length: int,
                  model: str = MODEL, seed: int = 0) -> dict:
    """Peak memory and pairs/s of the data pipeline on one mixture, in this process (run it in a fresh one)."""
    from transformers import AutoTokenizer

    from gtekit.data.pairs import load_sources
    from gtekit.data.sampler import SourceSampler
    from gtekit.model.model_files import EmbedderSettings, resolve_model_folder
    from gtekit.training.batches import BatchPreparer, BatchStream

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_folder(model), trust_remote_code=False)
    tokenizer(["warm up the tokenizer"], return_tensors="pt")
    _warm_up_arrow()
    rss_before = status_mib("VmRSS")
    reset = reset_peak()
    started = time.perf_counter()
    sources = load_sources([mixture])
    sampler = SourceSampler([s.shard_sizes for s in sources], batch, alpha=0.5, seed=seed)
    preparer = BatchPreparer(sources, tokenizer, EmbedderSettings(max_seq_length=max_seq_length), slice(None), chunk)
    stream = iter(BatchStream(sampler, preparer))
    first = next(stream)
    timed = time.perf_counter()
    tokens = 0
    for _ in range(batches - 1):
        tokens += next(stream).tokens
    seconds = time.perf_counter() - timed
    cache = sources[0].cache
    return {"pairs": sum(len(s) for s in sources), "shards": sum(len(s.shards) for s in sources),
            "sources": len(sources), "rss_before_mib": rss_before, "peak_rss_mib": status_mib("VmHWM"),
            "peak_reset": reset, "first_batch_s": round(timed - started, 3), "batches_timed": batches - 1,
            "pairs_per_s": round(batch * (batches - 1) / seconds, 1) if batches > 1 else None,
            "tokens_per_s": round(tokens / seconds, 1) if batches > 1 else None,
            "shard_reads": cache.reads, "resident_shards_peak": cache.peak, "first_source": first.source}


def measure_training(*, batch: int, steps: int, chunk: int, max_seq_length: int, model: str = MODEL) -> dict:
    """pairs/s of ``Trainer.train_step()`` (all-MiniLM-L6-v2 by default) on synthetic pairs: median of ``steps``."""
    from gtekit.config import load_recipe
    from gtekit.data.pairs import Pair, Source
    from gtekit.training.trainer import Trainer

    rng = np.random.default_rng(1)
    words = [f"w{k:04d}" for k in range(5000)]
    pairs = [Pair(" ".join(rng.choice(words, 8)), " ".join(rng.choice(words, 48))) for _ in range(batch * 4)]
    with tempfile.TemporaryDirectory(prefix="gtekit-data-bench-") as workdir:
        recipe = load_recipe(None, [f"model.name={model}", f"model.max_seq_length={max_seq_length}",
                                    f"train.batch_size={batch}", f"train.chunk_size={chunk}", "train.device=cpu",
                                    "train.log_every=0", f"train.output_dir={workdir}", "data.guard_tasks=[]",
                                    "train.steps=1000000", "train.warmup_ratio=0"])
        trainer = Trainer(recipe, sources=[Source("synthetic", Path("synthetic.jsonl"), pairs, [])])
        trainer.train_step()  # warm-up
        times = []
        for _ in range(steps):
            started = time.perf_counter()
            trainer.train_step()
            times.append(time.perf_counter() - started)
        trainer.batches.close()
    return {"batch": batch, "chunk": chunk, "steps": steps, "median_step_s": round(statistics.median(times), 3),
            "pairs_per_s": round(batch / statistics.median(times), 2), "model": model}


def run_data_pipeline_bench(sizes: tuple[int, ...] | list[int] = DEFAULT_SIZES, *, batch: int = 1024,
                            batches: int = 20, chunk: int = 64, max_seq_length: int = 128, sources: int = 4,
                            rows_per_shard: int = 100_000, train_pairs_per_s: float | None = None,
                            train_batch: int = 32, train_steps: int = 3, workdir: str | Path | None = None,
                            timeout: float | None = None) -> dict:
    """The whole benchmark (module docstring); returns a JSON-ready record with every point and the ratio."""
    with tempfile.TemporaryDirectory(prefix="gtekit-data-pipeline-", dir=workdir) as folder:
        points = []
        for size in sizes:
            mixture = Path(folder) / f"mix-{size}"
            started = time.perf_counter()
            synthetic_mixture(mixture, size, sources=sources, rows_per_shard=rows_per_shard)
            written = time.perf_counter() - started
            point = _run_point(mixture, batch=batch, batches=batches, chunk=chunk, max_seq_length=max_seq_length,
                               timeout=timeout)
            points.append({"size": size, "write_s": round(written, 1), **point})
    if train_pairs_per_s is None:
        training = measure_training(batch=train_batch, steps=train_steps, chunk=min(chunk, train_batch),
                                    max_seq_length=max_seq_length)
        train_pairs_per_s, source = training["pairs_per_s"], "measured"
    else:
        training, source = {}, "given"
    slowest = min((p["pairs_per_s"] for p in points if p.get("pairs_per_s")), default=None)
    ratio = None if slowest is None else round(slowest / train_pairs_per_s, 2)
    return {"config": {"batch": batch, "batches": batches, "chunk": chunk, "max_seq_length": max_seq_length,
                       "sources": sources, "rows_per_shard": rows_per_shard, "alpha": 0.5, "workers": 0},
            "points": points, "train_pairs_per_s": train_pairs_per_s, "train_pairs_per_s_from": source,
            "training": training, "ratio": ratio, "target_ratio": TARGET_RATIO,
            "meets_target": None if ratio is None else ratio >= TARGET_RATIO}


def _run_point(mixture: Path, *, timeout: float | None = None, **settings) -> dict:
    """:func:`measure_point` in a fresh interpreter, so one size's memory never carries into the next."""
    command = [sys.executable, "-m", "benchmarks.data_pipeline", "--point", str(mixture)]
    for key, value in settings.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    root = Path(__file__).resolve().parents[1]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=root)
    if completed.returncode != 0:
        raise RuntimeError(f"data pipeline point {mixture.name} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _warm_up_arrow() -> None:
    """Start Arrow's Parquet reader, compute kernels and allocator (a fixed ~50 MB here), outside the phase."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    buffer = pa.BufferOutputStream()
    pq.write_table(pa.table({"query": ["a"] * 100, "negatives": [["b"]] * 100}), buffer)
    table = pq.read_table(pa.BufferReader(buffer.getvalue()))
    pc.utf8_is_space(table.column("query"))
    pc.list_parent_indices(table.column("negatives"))
    table.take([0])


def format_report(record: dict) -> str:
    lines = [f"{'pairs':>10} {'shards':>6} {'RSS before':>10} {'peak RSS':>9} {'pairs/s':>9} {'tokens/s':>9}"]
    for p in record["points"]:
        lines.append(f"{p['pairs']:>10} {p['shards']:>6} {p['rss_before_mib']:>8} M {p['peak_rss_mib']:>7} M "
                     f"{p['pairs_per_s'] or '-':>9} {p['tokens_per_s'] or '-':>9}")
    verdict = "n/a" if record["ratio"] is None else ("meets" if record["meets_target"] else "misses")
    lines.append(f"training step: {record['train_pairs_per_s']} pairs/s ({record['train_pairs_per_s_from']}); "
                 f"slowest data point / training = {record['ratio']}x ({verdict} the {TARGET_RATIO:g}x target; "
                 "one process, no DataLoader workers)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.data_pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="mixture sizes in pairs")
    parser.add_argument("--batch", type=int, default=1024, help="pairs per global batch")
    parser.add_argument("--batches", type=int, default=20, help="batches prepared per size (first one untimed)")
    parser.add_argument("--chunk", type=int, default=64, help="texts per tokenized chunk")
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--rows-per-shard", type=int, default=100_000)
    parser.add_argument("--train-pairs-per-s", type=float, default=None, help="skip measuring the training step")
    parser.add_argument("--train-batch", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--workdir", default=None, help="where the temporary mixtures go (default: system temp)")
    parser.add_argument("--out", default=None, help="also write the record here as JSON")
    parser.add_argument("--point", default=None, help=argparse.SUPPRESS)  # internal: measure one mixture, print JSON
    args = parser.parse_args(argv)
    if args.point:
        print(json.dumps(measure_point(Path(args.point), batch=args.batch, batches=args.batches, chunk=args.chunk,
                                       max_seq_length=args.max_seq_length)))
        return None
    record = run_data_pipeline_bench(
        [int(size) for size in args.sizes.split(",")], batch=args.batch, batches=args.batches, chunk=args.chunk,
        max_seq_length=args.max_seq_length, sources=args.sources, rows_per_shard=args.rows_per_shard,
        train_pairs_per_s=args.train_pairs_per_s, train_batch=args.train_batch, train_steps=args.train_steps,
        workdir=args.workdir)
    print(format_report(record))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=2))
    return record


if __name__ == "__main__":
    main()
