"""Encoding throughput: gtekit's inference pipeline against sentence-transformers' ``encode``.

    python -m benchmarks.encode                       # 500 texts, 3 interleaved rounds (a few minutes)
    python -m benchmarks.encode --texts 2000 --repeats 5 --out results/encode.json

*Model*: all-MiniLM-L6-v2, loaded by both systems from the same folder, max_seq_length 256, CPU.
*Texts*: a seeded mix of real texts of very different lengths: STS Benchmark test sentences (half),
docstrings (35 %) and function sources (15 %) mined from this interpreter's standard library; the
same list for every system, L2-normalised output.

*Systems*, each timed from the list of strings to the (N, H) float32 array, model already loaded:

- ``sentence-transformers``: ``SentenceTransformer.encode(texts, batch_size=32)`` (its default: sorts
  by length, tokenises each batch in line);
- ``gtekit b32 inline``: ``gtekit.encode.TextEncoder`` with 32-text batches and tokenisation in
  line: the same work as sentence-transformers, through gtekit's pipeline;
- ``gtekit b32``: the same with tokenisation in a background thread, overlapped with compute;
- ``gtekit``: the default options of ``gtekit encode`` (token-budget batches: up to 128 texts and
  4,096 padded tokens each, so short texts run in large batches and long ones in small);
- ``gtekit N processes``: the default options in ``--processes`` worker processes (default: one per
  torch thread), each with one thread: ``gtekit encode --processes N``;
- ``gtekit onnx``: the default options on ONNX Runtime (``gtekit export onnx --optimize``: fused
  attention, LayerNorm and GELU kernels), the graph exported into a temporary folder first;
- int8 rows (``torch int8``, ``onnx int8``): faster, but *not* the same embeddings: their cosine to
  fp32 is reported, their quality cost is in ``python -m benchmarks.quality``;
- bf16 rows, on ``--bf16-texts`` texts only (bf16 is slow on CPUs without AVX512-BF16/AMX):
  sentence-transformers' encode under ``torch.autocast(bfloat16)`` against ``gtekit --precision bf16``.

Each system runs once untimed (warm-up, and its output for the check), then the systems take turns
for ``--repeats`` rounds (interleaved, so a change in the machine's load hits all of them); the
report gives the median wall time and process CPU time (all threads) and ratios against
sentence-transformers. *Check*: every fp32 gtekit row must give the embeddings sentence-transformers
gives (cosine >= 0.999 for every text). *FLOP/s*: the useful forward FLOPs (``flops.EncoderShape``
on each text's own token count, no padding) over the median wall time, against the machine's
measured fp32/bf16 matmul peak (``peaks.measure_peaks`` on the encoder's shapes).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EQUAL_MIN_COSINE = 0.999
REFERENCE = "sentence-transformers"


@dataclass
class System:
    name: str
    encode: Callable[[list[str]], np.ndarray]
    precision: str = "fp32"  # fp32 rows must equal the reference; others report their cosine only
    group: str = "main"  # "main": the main texts (fp32 and int8 rows); "bf16": the bf16 subset
    close: Callable[[], None] | None = None  # stops worker processes
    in_process: bool = True  # False: the work runs in worker processes, whose CPU time this process cannot see


def benchmark_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` texts: half STS-B test sentences, 35 % stdlib docstrings, 15 % stdlib function sources."""
    from gtekit.data.extract.python_code import mine_python_pairs, stdlib_root
    from gtekit.evaluation.tasks.sts import load_stsb

    rng = random.Random(seed)
    sts = load_stsb("test")
    sentences = list(dict.fromkeys([*sts.sentences1, *sts.sentences2]))
    pairs, _ = mine_python_pairs(stdlib_root())
    n_docs, n_code = round(0.35 * n), round(0.15 * n)
    n_sentences = n - n_docs - n_code
    texts = (rng.sample(sentences, n_sentences) + [p.docstring for p in rng.sample(pairs, n_docs)]
             + [p.code for p in rng.sample(pairs, n_code)])
    rng.shuffle(texts)
    return texts


def token_lengths(folder: str, texts: list[str], max_length: int) -> np.ndarray:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    return np.array([len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]])


def build_systems(folder: str, onnx_dir: str | None, *, bf16: bool, int8: bool, processes: int = 1) -> list[System]:
    import torch
    from sentence_transformers import SentenceTransformer

    from gtekit.encode.engine import EncodeOptions, TextEncoder

    st = SentenceTransformer(folder, device="cpu", trust_remote_code=False)

    def st_encode(texts):
        return st.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
                         show_progress_bar=False)

    def st_bf16(texts):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            output = st.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_tensor=True,
                               show_progress_bar=False)
        return output.float().numpy()

    def ours(model: str = folder, processes: int = 1, **options) -> Callable[[list[str]], np.ndarray]:
        return TextEncoder(model, EncodeOptions(**options), processes=processes).encode

    systems = [System(REFERENCE, st_encode),
               System("gtekit b32 inline", ours(batch_size=32, max_batch_tokens=None, prefetch_windows=0)),
               System("gtekit b32", ours(batch_size=32, max_batch_tokens=None)),
               System("gtekit", ours())]
    def pooled(name: str, model: str, **options) -> System:
        pool = TextEncoder(model, EncodeOptions(**options), processes=processes)
        return System(name, pool.encode, close=pool.close, in_process=False)

    if processes > 1:
        systems.append(pooled(f"gtekit {processes} processes", folder))
    if onnx_dir:
        systems.append(System("gtekit onnx", ours(onnx_dir, backend="onnx")))
        if processes > 1:
            systems.append(pooled(f"gtekit onnx {processes} processes", onnx_dir, backend="onnx"))
    if int8:
        systems.append(System("gtekit torch int8", ours(precision="int8"), "int8"))
        if onnx_dir:
            systems.append(System("gtekit onnx int8", ours(onnx_dir, backend="onnx", precision="int8"), "int8"))
    if bf16:
        systems += [System(f"{REFERENCE} bf16", st_bf16, "bf16", "bf16"),
                    System("gtekit bf16", ours(precision="bf16"), "bf16", "bf16")]
    return systems


def time_interleaved(systems: list[System], texts: list[str], repeats: int, log=print) -> dict[str, dict]:
    """Warm-up (kept as the output), then ``repeats`` rounds in which every system runs once."""
    results: dict[str, dict] = {}
    for system in systems:
        log(f"  warm-up: {system.name}")
        results[system.name] = {"output": system.encode(texts), "wall_s": [], "cpu_s": []}
    for round_number in range(repeats):
        log(f"  round {round_number + 1}/{repeats}")
        for system in systems:
            cpu, wall = time.process_time(), time.perf_counter()
            system.encode(texts)
            results[system.name]["wall_s"].append(time.perf_counter() - wall)
            results[system.name]["cpu_s"].append(time.process_time() - cpu)
    return results


def run_encode_bench(model: str = "all-MiniLM-L6-v2", n_texts: int = 500, repeats: int = 3, bf16_texts: int = 16,
                     bf16: bool = True, onnx: bool = True, int8: bool = True, peak_seconds: float = 0.5,
                     peak_tokens: int = 1024, processes: int | None = None, seed: int = 0, log=print) -> dict:
    """The whole benchmark; returns its record (see :func:`format_report`)."""
    import torch
    from transformers import AutoConfig

    from gtekit.model.model_files import resolve_model_folder

    from .flops import EncoderShape
    from .peaks import measure_peaks, model_shapes

    folder = str(resolve_model_folder(model))
    config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
    shape = EncoderShape.from_config(config)
    record: dict = {"model": model, "threads": torch.get_num_threads(), "load_average": {"start": os.getloadavg()}}
    log("matmul peaks on the encoder's shapes")
    shapes = model_shapes(peak_tokens, shape.hidden, shape.intermediate)
    peaks = measure_peaks(shapes, peak_seconds, ("fp32", "bf16") if bf16 else ("fp32",), log=log)
    record["peaks"] = {name: entry["peak_flop_per_s"] for name, entry in peaks.items()}
    texts = benchmark_texts(n_texts, seed)
    subset = texts[:bf16_texts]
    with tempfile.TemporaryDirectory(prefix="gtekit-encode-bench-") as tmp:
        onnx_dir = _export(model, Path(tmp) / "onnx", int8, log) if onnx and _onnx_available() else None
        processes = torch.get_num_threads() if processes is None else processes
        systems = build_systems(folder, onnx_dir, bf16=bf16, int8=int8, processes=processes)
        try:
            main = [s for s in systems if s.group != "bf16"]  # fp32 and int8 rows: the same texts, interleaved
            log(f"fp32 and int8: {len(texts)} texts, {', '.join(s.name for s in main)}")
            timings = time_interleaved(main, texts, repeats, log=log)
            reduced = [s for s in systems if s.group == "bf16"]
            if reduced:
                log(f"bf16: {len(subset)} texts, {', '.join(s.name for s in reduced)}")
                timings.update(time_interleaved(reduced, subset, repeats, log=log))
        finally:
            for system in systems:
                if system.close:
                    system.close()
    max_length = 256
    lengths = token_lengths(folder, texts, max_length)
    record["texts"] = _describe(lengths, shape)
    record["executed_over_useful_flops"] = padding_overhead(texts, lengths, shape)
    record["bf16_texts"] = _describe(token_lengths(folder, subset, max_length), shape) if bf16 else None
    record["systems"] = _summarise(systems, timings, record)
    record["load_average"]["end"] = os.getloadavg()
    return record


def padding_overhead(texts: list[str], lengths: np.ndarray, shape) -> dict[str, float]:
    """Executed FLOPs (padded batches) over useful FLOPs (each text alone, unpadded) for each batching:
    what unpadded attention or perfect packing could save at most."""
    from gtekit.encode.engine import EncodeOptions
    from gtekit.encode.length_batches import plan_batches

    from .flops import executed_step_flops, useful_step_flops

    by_characters = np.argsort([-len(text) for text in texts], kind="stable")  # sentence-transformers' order
    plans = {REFERENCE: [by_characters[i:i + 32] for i in range(0, len(texts), 32)],
             "gtekit b32": plan_batches(lengths, 32),
             "gtekit": plan_batches(lengths, EncodeOptions.batch_size, EncodeOptions.max_batch_tokens)}
    useful = useful_step_flops(shape, lengths.tolist())
    return {name: executed_step_flops(shape, [(len(index), int(lengths[index].max())) for index in plan]) / useful
            for name, plan in plans.items()}


def _describe(lengths: np.ndarray, shape) -> dict:
    return {"count": int(lengths.size), "tokens": int(lengths.sum()), "mean_tokens": float(lengths.mean()),
            "median_tokens": float(np.median(lengths)), "max_tokens": int(lengths.max()),
            "useful_flops": int(sum(shape.forward_flops(int(n), int(n)) for n in lengths))}


def _summarise(systems: list[System], timings: dict, record: dict) -> list[dict]:
    reference = timings[REFERENCE]
    bf16_reference = timings.get(f"{REFERENCE} bf16")
    rows = []
    for system in systems:
        timing = timings[system.name]
        base = bf16_reference if system.group == "bf16" else reference
        texts = record["bf16_texts"] if system.group == "bf16" else record["texts"]
        wall, cpu = statistics.median(timing["wall_s"]), statistics.median(timing["cpu_s"])
        cosine = (timing["output"] * base["output"]).sum(axis=1)
        peak = record["peaks"].get(system.precision)  # no int8 peak is measured
        flop_per_s = texts["useful_flops"] / wall
        row = {"system": system.name, "precision": system.precision, "texts": texts["count"],
               "wall_s": wall, "cpu_s": cpu if system.in_process else None, "wall_runs": timing["wall_s"],
               "cpu_runs": timing["cpu_s"] if system.in_process else None,
               "speedup_wall": statistics.median(base["wall_s"]) / wall,
               "speedup_best_wall": min(base["wall_s"]) / min(timing["wall_s"]),
               "speedup_cpu": statistics.median(base["cpu_s"]) / cpu if system.in_process else None,
               "texts_per_s": texts["count"] / wall, "model_flop_per_s": flop_per_s,
               "share_of_peak": flop_per_s / peak if peak else None,
               "min_cosine_to_reference": float(cosine.min()), "mean_cosine_to_reference": float(cosine.mean())}
        if system.precision == "fp32":
            row["equal_embeddings"] = bool(cosine.min() >= EQUAL_MIN_COSINE)
        rows.append(row)
    return rows


def _onnx_available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401

        from gtekit.export import onnx_export  # noqa: F401
    except ImportError:
        return False
    return True


def _export(model: str, folder: Path, int8: bool, log) -> str:
    from gtekit.export.onnx_export import export_onnx
    from gtekit.export.settings import ExportSettings

    log("exporting to ONNX (optimised graph" + (", int8" if int8 else "") + ")")
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        export_onnx(model, ExportSettings(folder, int8=int8, optimize=True))
    log(f"  exported in {time.perf_counter() - started:.0f} s")
    return str(folder)


def format_report(record: dict) -> str:
    from .report import table

    texts = record["texts"]
    lines = [f"encoding throughput, {record['model']}, {record['threads']} torch threads; {texts['count']} texts, "
             f"{texts['tokens']:,} tokens (mean {texts['mean_tokens']:.0f}, median {texts['median_tokens']:.0f}, "
             f"max {texts['max_tokens']}); load average {record['load_average']['start'][0]:.1f} -> "
             f"{record['load_average']['end'][0]:.1f}",
             "peaks: " + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in record["peaks"].items()),
             "executed / useful FLOPs (padding): " + ", ".join(
                 f"{k} {v:.3f}" for k, v in record["executed_over_useful_flops"].items())]
    rows = []
    for row in record["systems"]:
        check = {True: "equal", False: "NOT EQUAL"}.get(row.get("equal_embeddings"), "-")
        cpu = "-" if row["speedup_cpu"] is None else f"x{row['speedup_cpu']:.2f}"
        rows.append([row["system"], row["precision"], str(row["texts"]), f"{row['wall_s']:.2f}",
                     f"x{row['speedup_wall']:.2f}", f"x{row['speedup_best_wall']:.2f}", cpu,
                     f"{row['texts_per_s']:.0f}", f"{row['model_flop_per_s'] / 1e9:.1f}",
                     "-" if row["share_of_peak"] is None else f"{100 * row['share_of_peak']:.1f}%",
                     f"{row['min_cosine_to_reference']:.4f}", check])
    lines.append(table(["system", "precision", "texts", "wall s", "speed-up", "best-run speed-up",
                        "CPU-time speed-up", "texts/s", "GFLOP/s", "of peak", "min cosine", "fp32 check"], rows))
    lines.append("speed-up: sentence-transformers' median wall time / this row's (bf16 rows: against "
                 "sentence-transformers bf16); best-run: the same with each system's fastest run; CPU time: this "
                 "process's, all threads (not measurable for worker processes); min cosine: to "
                 "sentence-transformers' embedding of the same text")
    failed = [row["system"] for row in record["systems"] if row.get("equal_embeddings") is False]
    if failed:
        lines.append(f"CHECK FAILED: {', '.join(failed)} gave embeddings with cosine < {EQUAL_MIN_COSINE} to "
                     "sentence-transformers'")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.encode", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="model name or folder, loaded by both systems")
    parser.add_argument("--texts", type=int, default=500, help="texts per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timed rounds (medians reported)")
    parser.add_argument("--bf16-texts", type=int, default=16, help="texts of the bf16 runs")
    parser.add_argument("--no-bf16", action="store_true", help="skip the bf16 rows (and the bf16 peak)")
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime rows")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 rows")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, one per core)")
    parser.add_argument("--processes", type=int, default=None,
                        help="worker processes of the multi-process row (default: the torch threads; 1: no such row)")
    parser.add_argument("--peak-seconds", type=float, default=0.5, help="timed seconds per matmul shape and dtype")
    parser.add_argument("--seed", type=int, default=0, help="which texts are drawn")
    parser.add_argument("--out", type=Path, default=None, help="also write the record as JSON here")
    args = parser.parse_args(argv)
    for name in ("texts", "repeats", "bf16_texts"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    record = run_encode_bench(args.model, args.texts, args.repeats, args.bf16_texts, bf16=not args.no_bf16,
                              onnx=not args.no_onnx, int8=not args.no_int8, peak_seconds=args.peak_seconds,
                              processes=args.processes, seed=args.seed,
                              log=lambda m: print(m, file=sys.stderr, flush=True))
    print(format_report(record))
    if args.out:
        from .report import write_json_atomic

        write_json_atomic(args.out, record)
    return record


if __name__ == "__main__":
    main()
