"""ONNX Runtime (fp32, int8, with and without the offline optimizer) against PyTorch: encode speed and quality.

    python -m benchmarks.onnx_export                     # all-MiniLM-L6-v2, 2,000 STS-B sentences, 5 rounds
    python -m benchmarks.onnx_export --texts 500 --rounds 3 --skip-quality

1. Export MODEL twice with ``gtekit.export.export_onnx`` (int8 included): plain, and ``optimize=True``.
2. Speed: the first ``--texts`` distinct STS-B test sentences, embedded with ``encode(texts,
   batch_size)`` by each system (PyTorch ``Embedder``, then each ``OnnxEmbedder``), all with
   ``--threads`` threads. After one warm-up call each, ``--rounds`` rounds time every system once,
   in an order rotated each round, so machine load hits all systems alike; a system's time is its
   median, its *speed-up* the PyTorch median over its own (and, less sensitive to load that changes
   between rounds, the median over rounds of the ratio within a round).
3. Agreement: per-row cosine of each system's embeddings with PyTorch's, on the same sentences.
4. Quality: ``gtekit.evaluation.runner.evaluate_tasks`` on STSBenchmark (Spearman) and
   PythonStdlibCodeSearch (MRR@10, its main score), without the embedding cache.

Prints a Markdown table and writes the record to benchmarks/results/onnx-export-DATE-TIME-HOST.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from .report import write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results"
TASKS = ("STSBenchmark", "PythonStdlibCodeSearch")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.onnx_export", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="all-MiniLM-L6-v2", help="model name or folder")
    p.add_argument("--texts", type=int, default=2000, help="distinct STS-B test sentences embedded per timed call")
    p.add_argument("--rounds", type=int, default=5, help="timed calls per system (median reported)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch and onnxruntime threads")
    p.add_argument("--skip-quality", action="store_true", help="speed and agreement only")
    p.add_argument("--output-dir", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    for name in ("texts", "rounds", "batch_size", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    return args


def stsb_sentences(count: int) -> list[str]:
    """The first ``count`` distinct sentences of STS-B test (first column, then second)."""
    from gtekit.evaluation.tasks.sts import load_stsb

    data = load_stsb("test")
    return list(dict.fromkeys(data.sentences1 + data.sentences2))[:count]


def load_systems(model_name: str, folder: Path, threads: int) -> dict[str, object]:
    """PyTorch and the four ONNX variants, exported into ``folder``; each runs with ``threads`` threads."""
    import torch

    from gtekit import Embedder
    from gtekit.export import ExportSettings, OnnxEmbedder, export_onnx

    torch.set_num_threads(threads)
    model = Embedder.load(model_name).eval()
    export_onnx(model, ExportSettings(folder / "plain", int8=True))
    export_onnx(model, ExportSettings(folder / "optimized", int8=True, optimize=True))
    return {
        "torch fp32": model,
        "onnx fp32": OnnxEmbedder.load(folder / "plain", threads=threads),
        "onnx int8": OnnxEmbedder.load(folder / "plain", int8=True, threads=threads),
        "onnx fp32 --optimize": OnnxEmbedder.load(folder / "optimized", threads=threads),
        "onnx int8 --optimize": OnnxEmbedder.load(folder / "optimized", int8=True, threads=threads),
    }


def time_encode(systems: dict[str, object], texts: list[str], rounds: int, batch_size: int) -> dict[str, list[float]]:
    """Seconds of ``encode(texts)`` per system and round; the order of systems rotates each round."""
    names = list(systems)
    for name in names:  # warm-up: sessions, allocators, tokenizer caches
        systems[name].encode(texts[:batch_size], batch_size=batch_size, show_progress=False)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        for name in names[round_index % len(names):] + names[:round_index % len(names)]:
            started = time.perf_counter()
            systems[name].encode(texts, batch_size=batch_size, show_progress=False)
            seconds[name].append(time.perf_counter() - started)
    return seconds


def agreement(systems: dict[str, object], texts: list[str], batch_size: int) -> dict[str, dict[str, float]]:
    """Per-row cosine of each system's embeddings with the first system's (PyTorch), min and mean."""
    embeddings = {name: system.encode(texts, batch_size=batch_size, normalize=True, show_progress=False)
                  for name, system in systems.items()}
    reference = next(iter(embeddings.values()))
    cosines = {name: (e * reference).sum(axis=1) for name, e in embeddings.items()}
    return {name: {"min_cosine": float(c.min()), "mean_cosine": float(c.mean())} for name, c in cosines.items()}


def quality(systems: dict[str, object], batch_size: int) -> dict[str, dict[str, float]]:
    """Main score of each task for each system (STS-B: Spearman; code search: MRR@10, its main score)."""
    from gtekit.evaluation.runner import evaluate_tasks
    from gtekit.evaluation.tasks.named_tasks import get_tasks

    tasks = get_tasks(list(TASKS))
    return {name: {task: round(float(result["main_score"]), 5) for task, result in
                   evaluate_tasks(system, tasks, use_cache=False, batch_size=batch_size).items()}
            for name, system in systems.items()}


def speed_ups(seconds: dict[str, list[float]], reference: str = "torch fp32") -> dict[str, dict[str, float]]:
    """Per system: PyTorch's median time over its own, and the median over rounds of the same ratio
    within each round (less sensitive to load that changes from round to round)."""
    base = seconds[reference]
    return {name: {"of_medians": statistics.median(base) / statistics.median(values),
                   "per_round_median": statistics.median(b / v for b, v in zip(base, values, strict=True))}
            for name, values in seconds.items()}


def render(record: dict) -> str:
    """A Markdown table: median seconds, texts/s, speed-ups over PyTorch, agreement, task scores."""
    seconds = record["seconds"]
    ratios = speed_ups(seconds)
    tasks = list(TASKS) if record.get("quality") else []
    headers = ["system", "median s", "texts/s", "speed-up", "per-round speed-up", "min cos", "mean cos", *tasks]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for name, values in seconds.items():
        median = statistics.median(values)
        cells = [name, f"{median:.2f}", f"{record['texts'] / median:.0f}", f"{ratios[name]['of_medians']:.2f}x",
                 f"{ratios[name]['per_round_median']:.2f}x", f"{record['agreement'][name]['min_cosine']:.4f}",
                 f"{record['agreement'][name]['mean_cosine']:.4f}"]
        cells += [f"{record['quality'][name][task]:.4f}" for task in tasks]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    texts = stsb_sentences(args.texts)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="onnx-bench-") as folder:
        systems = load_systems(args.model, Path(folder), args.threads)
        seconds = time_encode(systems, texts, args.rounds, args.batch_size)
        load_after = os.getloadavg()
        record = {
            "benchmark": "onnx-export", "model": args.model, "texts": len(texts), "rounds": args.rounds,
            "batch_size": args.batch_size, "threads": args.threads, "seconds": seconds,
            "speed_up": speed_ups(seconds),
            "agreement": agreement(systems, texts, args.batch_size),
            "quality": None if args.skip_quality else quality(systems, args.batch_size),
            "machine": _machine(), "load_average": {"before": load_before[0], "after": load_after[0]},
        }
    print(f"{args.model}: {len(texts)} STS-B sentences, batch {args.batch_size}, {args.threads} threads, "
          f"{args.rounds} interleaved rounds; 1-minute load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after the timing")
    print(render(record))
    host = "".join(c if c.isalnum() or c in "-_." else "_" for c in socket.gethostname())
    path = write_json_atomic(args.output_dir / f"onnx-export-{datetime.now():%Y%m%d-%H%M%S}-{host}.json", record)
    print(f"wrote {path}")
    return record


def _machine() -> dict:
    import onnxruntime
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cpu_model": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "numpy": np.__version__, "host": socket.gethostname()}


if __name__ == "__main__":
    main()
