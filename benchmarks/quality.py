"""What reduced precision costs in quality: every inference path of gtekit on the same model and tasks.

    python -m benchmarks.quality                          # all-MiniLM-L6-v2, every path available
    python -m benchmarks.quality --paths torch-fp32,torch-int8 --out results/quality.json

Paths (each a ``gtekit.encode.engine.TextEncoder``, the code ``gtekit encode`` runs):

- ``torch-fp32``: the model as trained, the reference;
- ``torch-bf16``: ``torch.autocast(bfloat16)`` around the encoder;
- ``torch-int8``: ``torch.ao.quantization.quantize_dynamic`` of every ``nn.Linear`` (int8 weights,
  one scale per tensor; activations quantised per batch);
- ``onnx-fp32`` / ``onnx-int8``: the model exported by ``gtekit.export.export_onnx`` (with
  onnxruntime's transformer fusions; int8: onnxruntime's dynamic quantisation, per-channel weights)
  into a temporary folder, run by onnxruntime. Only when gtekit.export and onnxruntime import.

Tasks: STS Benchmark test (Spearman of cosine, 1,379 pairs) and PythonStdlibCodeSearch (held-out
standard-library docstring -> code; nDCG@10 and MRR@10), through ``gtekit.evaluation.runner.evaluate_tasks``
without the embedding cache. Agreement: the cosine between each path's embedding and torch-fp32's, over
every text both tasks encode (same calls, same order). Prints a table and writes JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TASKS = ("STSBenchmark", "PythonStdlibCodeSearch")
PATHS = ("torch-fp32", "torch-bf16", "torch-int8", "onnx-fp32", "onnx-int8")


class RecordingEncoder:
    """The encode interface ``evaluate_tasks`` calls, remembering each call's output for the agreement."""

    def __init__(self, encoder, source: str) -> None:
        self.encoder, self.source, self.outputs = encoder, source, []

    def encode(self, texts, batch_size: int = 64, normalize: bool | None = None, kind=None, show_progress=None):
        output = self.encoder.encode(texts, batch_size=batch_size, normalize=normalize, kind=kind)
        self.outputs.append(np.asarray(output))
        return output


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401

        from gtekit.export import onnx_export  # noqa: F401
    except ImportError:
        return False
    return True


def agreement(reference: list[np.ndarray], candidate: list[np.ndarray]) -> dict:
    """Row cosines between two runs' outputs, call by call (both L2-normalised)."""
    cosines = np.concatenate([(a * b).sum(axis=1) for a, b in zip(reference, candidate, strict=True)])
    return {"texts": int(cosines.size), "mean_cosine": float(cosines.mean()), "min_cosine": float(cosines.min())}


def run(model: str, paths: list[str], batch_size: int = 64, log=print) -> dict:
    from gtekit.encode.engine import EncodeOptions, TextEncoder
    from gtekit.evaluation.runner import evaluate_tasks
    from gtekit.evaluation.tasks.named_tasks import get_tasks

    tasks = get_tasks(list(TASKS))
    results: dict = {"model": model, "tasks": list(TASKS), "paths": {}}
    with tempfile.TemporaryDirectory(prefix="gtekit-quality-") as tmp:
        export_dir = None
        if any(path.startswith("onnx") for path in paths):
            from gtekit.export.onnx_export import export_onnx
            from gtekit.export.settings import ExportSettings

            log("exporting to ONNX (optimised graph, and int8)")
            settings = ExportSettings(Path(tmp) / "onnx", int8=True, optimize=True)
            export_dir = str(export_onnx(model, settings).folder)
        reference = None
        for path in paths:
            backend, precision = path.split("-")
            source = export_dir if backend == "onnx" else model
            log(f"{path}: evaluating {', '.join(TASKS)}")
            started = time.perf_counter()
            with TextEncoder(source, EncodeOptions(backend=backend, precision=precision)) as encoder:
                recorder = RecordingEncoder(encoder, f"{model} ({path})")
                scores = evaluate_tasks(recorder, tasks, use_cache=False, batch_size=batch_size)
            sts, code = scores["STSBenchmark"], scores["PythonStdlibCodeSearch"]
            entry = {"sts_spearman": sts["cosine_spearman"], "code_ndcg_at_10": code["ndcg_at_10"],
                     "code_mrr_at_10": code["mrr_at_10"], "seconds": round(time.perf_counter() - started, 1)}
            if reference is None:
                reference = recorder.outputs
            entry["agreement_with_" + paths[0]] = agreement(reference, recorder.outputs)
            results["paths"][path] = entry
    return results


def format_table(results: dict) -> str:
    paths = results["paths"]
    first = next(iter(paths))
    lines = [f"| path | STS-B Spearman | code search nDCG@10 | code search MRR@10 | mean / min cosine to {first} |",
             "|---|---|---|---|---|"]
    for path, entry in paths.items():
        agree = entry[f"agreement_with_{first}"]
        lines.append(f"| {path} | {100 * entry['sts_spearman']:.2f} | {100 * entry['code_ndcg_at_10']:.2f} | "
                     f"{100 * entry['code_mrr_at_10']:.2f} | {agree['mean_cosine']:.4f} / {agree['min_cosine']:.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="model name or folder")
    parser.add_argument("--paths", default=None,
                        help=f"comma-separated paths, the first is the reference (default: {','.join(PATHS)}; the "
                             "onnx ones only when gtekit.export and onnxruntime import)")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per forward pass")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    paths = [p.strip() for p in args.paths.split(",")] if args.paths else \
        [p for p in PATHS if not p.startswith("onnx") or onnx_available()]
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        parser.error(f"unknown path(s) {unknown}; valid: {', '.join(PATHS)}")
    results = run(args.model, paths, batch_size=args.batch_size, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(format_table(results))
    if args.out:
        from .report import write_json_atomic

        write_json_atomic(args.out, results)
    return results


if __name__ == "__main__":
    main()
