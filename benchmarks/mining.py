"""Hard-negative mining at scale: gtekit's search and selection against sentence-transformers'
``util.mine_hard_negatives``, on the same precomputed embeddings and settings.

1. *Inputs*, written once into ``--workdir`` (a temporary folder by default): ``num_docs`` random
   unit vectors (the corpus, texts ``d0``, ``d1``, ...) and ``num_queries`` queries, each near its
   positive (a random document; cosine about 0.7). For ``planted`` of the queries another document
   is overwritten by a near-duplicate of the positive: a false negative that ``relative_margin``
   must drop. Also a pair file (JSONL) and a corpus file (one text per line), and gtekit's embedding
   stores, written by ``encode_store`` from the vectors (gtekit's encoding step, not timed).
2. *Each system in a fresh process* (``python -m benchmarks.mining --point SYSTEM WORKDIR``): import
   what its phase uses (faiss; pyarrow, pandas and matplotlib for gtekit; datasets for sentence-transformers:
   constant costs that would swamp small runs), reset the peak resident set
   (``echo 5 > /proc/self/clear_refs``), mine, then read ``VmHWM`` (the phase's own high-water mark,
   file-backed pages included) and the wall time.
   - gtekit: ``gtekit.negatives.mine_hard_negatives`` with a model whose every chunk is already on
     disk, so it only searches (exact, streamed over corpus chunks, up to 10^6 documents; IVF above),
     selects and writes triples.jsonl, run.parquet and the report;
   - sentence-transformers: ``mine_hard_negatives(dataset, model, corpus=..., use_faiss=True,
     output_format="n-tuple")`` with a stand-in model whose ``encode_query`` / ``encode_document``
     return the precomputed vectors (read from the .npy file) and whose similarities are its own
     ``cos_sim`` / ``pairwise_cos_sim``. It holds every embedding and a faiss ``IndexFlatIP`` of the corpus
     in memory, as it does with a real model.
3. *Check*: both must select the same negatives for every query (same search depth:
   ``range_max + 1`` candidates, one positive per query). Ratios: sentence-transformers over gtekit.

Usage (a smoke run at 10^4 documents takes about a minute on 2 cores; 10^6 documents need about
4 GB of disk and, for sentence-transformers, about 4 GB of memory)::

    python -m benchmarks.mining --docs 10000 --queries 2000
    python -m benchmarks.mining --docs 1000000 --queries 100000 --out results/mining.json

``run_mining_bench(...)`` returns the same record as a dict, for ``benchmarks.run``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .procstat import reset_peak, status_mib

MIB = 1024 * 1024
ROWS_PER_WRITE = 65_536


class PrecomputedModel:
    """A model stand-in for gtekit: texts ``q<i>`` / ``d<j>`` -> rows of queries.npy / docs.npy."""

    def __init__(self, inputs: Path) -> None:
        self.inputs = Path(inputs)

    def fingerprint(self) -> str:
        return f"precomputed:{self.inputs.resolve()}:{(self.inputs / 'docs.npy').stat().st_mtime_ns}"

    def encode(self, texts, kind=None, batch_size=64):
        vectors = np.load(self.inputs / ("queries.npy" if kind == "query" else "docs.npy"), mmap_mode="r")
        return np.asarray(vectors[[int(text[1:]) for text in texts]])


class PrecomputedSentenceTransformer:
    """What sentence-transformers' ``mine_hard_negatives`` calls on its model, answered from the .npy files."""

    def __init__(self, inputs: Path) -> None:
        import torch

        self.inputs, self.device = Path(inputs), torch.device("cpu")

    def _rows(self, name: str, texts) -> np.ndarray:
        return np.asarray(np.load(self.inputs / name, mmap_mode="r")[[int(text[1:]) for text in texts]])

    def encode_query(self, texts, **kwargs) -> np.ndarray:
        return self._rows("queries.npy", texts)

    def encode_document(self, texts, **kwargs) -> np.ndarray:
        return self._rows("docs.npy", texts)

    def get_embedding_dimension(self) -> int:
        return int(np.load(self.inputs / "docs.npy", mmap_mode="r").shape[1])

    def similarity(self, a, b):
        from sentence_transformers.util import cos_sim

        return cos_sim(a, b)

    def similarity_pairwise(self, a, b):
        from sentence_transformers.util import pairwise_cos_sim

        return pairwise_cos_sim(a, b)


def write_inputs(folder: Path, num_docs: int, num_queries: int, dim: int, planted: float, seed: int) -> Path:
    """Write docs.npy, queries.npy, pairs.jsonl and corpus.txt into ``folder`` (see the module docstring)."""
    from numpy.lib.format import open_memmap

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    docs = open_memmap(folder / "docs.npy", mode="w+", dtype=np.float32, shape=(num_docs, dim))
    for start in range(0, num_docs, ROWS_PER_WRITE):  # a chunk at a time: never the whole corpus in memory
        docs[start:start + ROWS_PER_WRITE] = _unit(rng.normal(size=(min(ROWS_PER_WRITE, num_docs - start), dim)))
    positives = rng.choice(num_docs, size=num_queries, replace=num_queries > num_docs)
    noise = rng.normal(size=(num_queries, dim)) / np.sqrt(dim)
    queries = _unit(docs[positives] + 1.0 * noise)  # cosine with the positive about 0.7
    n_planted = int(planted * num_queries)
    if n_planted:
        twins = rng.choice(np.setdiff1d(np.arange(num_docs), positives), size=n_planted, replace=False)
        docs[twins] = _unit(docs[positives[:n_planted]] + 0.05 * rng.normal(size=(n_planted, dim)) / np.sqrt(dim))
    docs.flush()
    del docs
    np.save(folder / "queries.npy", queries)
    with open(folder / "pairs.jsonl", "w") as handle:
        handle.writelines(f'{{"query": "q{i}", "positive": "d{p}"}}\n' for i, p in enumerate(positives))
    with open(folder / "corpus.txt", "w") as handle:
        handle.writelines(f"d{j}\n" for j in range(num_docs))
    return folder


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


# ----------------------------------------------------------------- one system, in its own process
def _point(system: str, workdir: Path, settings: dict) -> dict:
    import faiss  # noqa: F401  (both search with it)

    if system == "gtekit":
        import matplotlib.backends.backend_agg  # noqa: F401
        import pandas  # noqa: F401  (pyarrow imports it on its first pa.array)
        import pyarrow.parquet  # noqa: F401

        from gtekit.negatives import SearchSettings, SelectionRules, mine_hard_negatives

        (workdir / "gtekit" / "run.parquet").unlink(missing_ok=True)  # search every time

        def phase():
            mine_hard_negatives(PrecomputedModel(workdir / "inputs"), [workdir / "inputs/pairs.jsonl"],
                                workdir / "gtekit", corpus_file=workdir / "inputs/corpus.txt",
                                rules=SelectionRules(**_rules(settings)), chunk_size=settings["chunk_size"],
                                search_settings=SearchSettings(k=settings["range_max"] + 1))
    else:
        from datasets import Dataset
        from sentence_transformers.util import mine_hard_negatives

        def phase():
            rows = [json.loads(line) for line in (workdir / "inputs/pairs.jsonl").read_text().splitlines()]
            corpus = (workdir / "inputs/corpus.txt").read_text().splitlines()
            dataset = Dataset.from_dict({"query": [r["query"] for r in rows],
                                         "positive": [r["positive"] for r in rows]})
            return mine_hard_negatives(dataset, PrecomputedSentenceTransformer(workdir / "inputs"), corpus=corpus,
                                       use_faiss=True, output_format="n-tuple", sampling_strategy="top",
                                       verbose=False, **_rules(settings))
    rss_before = status_mib("VmRSS")
    reset = reset_peak()
    started = time.perf_counter()
    result = phase()
    seconds = time.perf_counter() - started
    record = {"seconds": round(seconds, 3), "peak_rss_mib": status_mib("VmHWM"), "rss_before_mib": rss_before,
              "peak_is_phase_only": reset}
    if system == "sentence-transformers":  # its negatives, for the check (after the measurement)
        n = settings["num_negatives"]
        negatives = {row["query"]: [row[f"negative_{i + 1}"] for i in range(n)] for row in result}
        (workdir / "st-negatives.json").write_text(json.dumps(negatives))
    return record


def _rules(settings: dict) -> dict:
    return {key: settings[key] for key in ("num_negatives", "range_min", "range_max", "relative_margin")}


def _run_point(system: str, workdir: Path, settings: dict, threads: int | None) -> dict:
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    if threads:
        env |= {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-m", "benchmarks.mining", "--point", system, str(workdir),
                           "--settings", json.dumps(settings)], cwd=root, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{system} point failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------- the benchmark
def run_mining_bench(num_docs: int = 10**6, num_queries: int = 100_000, dim: int = 384, *, num_negatives: int = 5,
                     range_min: int = 0, range_max: int = 30, relative_margin: float = 0.05, planted: float = 0.1,
                     chunk_size: int = 65_536, threads: int | None = None, seed: int = 0,
                     workdir: str | Path | None = None, log=print) -> dict:
    """Run the benchmark of the module docstring; return its record (times, peaks, ratios, the check)."""
    from gtekit.negatives.encode_store import encode_store

    settings = {"num_negatives": num_negatives, "range_min": range_min, "range_max": range_max,
                "relative_margin": relative_margin, "chunk_size": chunk_size}
    with tempfile.TemporaryDirectory(prefix="gtekit-mining-bench-") as scratch:
        root = Path(workdir) if workdir else Path(scratch)
        started = time.perf_counter()
        inputs = write_inputs(root / "inputs", num_docs, num_queries, dim, planted, seed)
        model = PrecomputedModel(inputs)
        queries = [f"q{i}" for i in range(num_queries)]
        encode_store(model, queries, root / "gtekit/embeddings/queries", kind="query", chunk_size=chunk_size)
        encode_store(model, [f"d{j}" for j in range(num_docs)], root / "gtekit/embeddings/corpus", kind="document",
                     chunk_size=chunk_size)
        log(f"inputs: {num_docs:,} documents, {num_queries:,} queries, dimension {dim} "
            f"({time.perf_counter() - started:.1f} s)")
        points = {}
        for system in ("gtekit", "sentence-transformers"):
            points[system] = _run_point(system, root, settings, threads)
            log(f"{system}: {points[system]['seconds']:.2f} s, peak RSS {points[system]['peak_rss_mib']:,.0f} MiB "
                f"(before the phase: {points[system]['rss_before_mib']:,.0f} MiB)")
        lines = (root / "gtekit/triples.jsonl").read_text().splitlines()
        ours = {row["query"]: row["negatives"] for row in map(json.loads, lines)}
        theirs = json.loads((root / "st-negatives.json").read_text())
        report = json.loads((root / "gtekit/report.json").read_text())
    mismatched = sum(ours.get(q) != negatives for q, negatives in theirs.items()) + len(set(ours) - set(theirs))
    gtekit, st = points["gtekit"], points["sentence-transformers"]
    record = {
        "settings": {"num_docs": num_docs, "num_queries": num_queries, "dim": dim, "planted": planted,
                     "threads": threads, "seed": seed, **settings},
        "gtekit": gtekit | {"index": report["settings"]["search"]["index"]},
        "sentence_transformers": st | {"use_faiss": True},
        "same_negatives": mismatched == 0, "queries_compared": len(theirs), "queries_mismatched": mismatched,
        "planted_false_negatives_dropped": report["candidates"]["relative_margin"],
        "time_ratio": round(st["seconds"] / gtekit["seconds"], 2),
        "memory_ratio": round(st["peak_rss_mib"] / gtekit["peak_rss_mib"], 2),
        "phase_memory_ratio": round((st["peak_rss_mib"] - st["rss_before_mib"])
                                    / max(gtekit["peak_rss_mib"] - gtekit["rss_before_mib"], 1.0), 2),
    }
    log(f"same negatives: {record['same_negatives']} ({len(theirs):,} queries compared); sentence-transformers / "
        f"gtekit: time x{record['time_ratio']}, peak RSS x{record['memory_ratio']}, "
        f"memory above imports x{record['phase_memory_ratio']}")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="gtekit's hard-negative mining against sentence-transformers' "
                                                 "mine_hard_negatives on precomputed embeddings (see the docstring).")
    parser.add_argument("--docs", type=int, default=10**6, help="corpus size (default: 10^6)")
    parser.add_argument("--queries", type=int, default=100_000, help="queries, one pair each (default: 100,000)")
    parser.add_argument("--dim", type=int, default=384, help="embedding dimension (default: 384)")
    parser.add_argument("--num-negatives", type=int, default=5, help="negatives per query (default: 5)")
    parser.add_argument("--range-max", type=int, default=30, help="candidates per query besides the positive "
                                                                 "(default: 30)")
    parser.add_argument("--relative-margin", type=float, default=0.05, help="as both define it (default: 0.05)")
    parser.add_argument("--planted", type=float, default=0.1, help="fraction of queries given a near-duplicate of "
                                                                   "their positive in the corpus (default: 0.1)")
    parser.add_argument("--chunk-size", type=int, default=65_536, help="gtekit's chunk size (default: 65,536)")
    parser.add_argument("--threads", type=int, default=None, help="OMP/MKL threads of both (default: all)")
    parser.add_argument("--workdir", help="keep the inputs and outputs here (default: a temporary folder)")
    parser.add_argument("--out", help="also write the record as JSON")
    parser.add_argument("--point", nargs=2, metavar=("SYSTEM", "WORKDIR"), help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.point:
        print(json.dumps(_point(args.point[0], Path(args.point[1]), json.loads(args.settings))))
        return 0
    record = run_mining_bench(args.docs, args.queries, args.dim, num_negatives=args.num_negatives,
                              range_max=args.range_max, relative_margin=args.relative_margin, planted=args.planted,
                              chunk_size=args.chunk_size, threads=args.threads, workdir=args.workdir)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
