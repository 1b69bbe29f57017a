"""Vector search: build time, size on disk, latency and recall@k of each index kind and precision.

1. *Inputs*, written once into ``--workdir`` (a temporary folder by default) as encoded shards (the
   format ``gtekit index build`` reads, by ``ShardWriter``): ``docs`` random unit vectors of dimension
   ``dim`` drawn around ``clusters`` random centres (cosine with the centre about 0.6, as real embeddings
   cluster), and ``queries`` queries, each a noisy copy of a random document (cosine about 0.9 with it).
2. *Exact float32 top-k* of every query by brute force (``gtekit.search.topk.exact_top_k``): the reference.
3. *Each configuration* (kind x precision): ``build_index`` from the shards (timed, with the peak
   resident memory the build adds: ``VmHWM`` reset before it), the size of each file, then the queries
   searched one per call (latency: median and 95th percentile) and all at once (throughput: ms per
   query), recall@k of the index's own ranking and, where a rescore store is kept, after rescoring.

Usage (10^5 documents: about 30 minutes on one thread, mostly the HNSW builds; docs/search.md has the results)::

    python -m benchmarks.search --docs 100000 --queries 1000 --threads 1 --sweep 1,2,4,8,16
    python -m benchmarks.search --docs 1000000 --queries 1000 --threads 1 --sweep 4,16 \
        --configs flat/float32,flat/binary,ivfpq/float32

With ``--documents SHARDS_DIR [--queries-from SHARDS_DIR]`` it measures real embeddings instead.
Writes benchmarks/results/search-bench-DATE-TIME-HOST.json (atomically) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from .procstat import reset_peak, status_mib

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_CONFIGS = ("flat/float32", "flat/int8", "flat/binary", "hnsw/float32", "hnsw/int8", "hnsw/binary",
                   "ivfpq/float32")
ROWS_PER_WRITE = 50_000


def write_shards(folder: Path, num_docs: int, dim: int, clusters: int, seed: int, shard_size: int):
    """Encoded shards of ``num_docs`` clustered unit vectors (ids ``d0``, ``d1``, ...; empty texts), reused when
    ``folder`` already holds them."""
    from gtekit.encode.shard_writer import ShardWriter
    from gtekit.io.embedding_store import EncodedShards, ShardsHeader

    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(clusters, dim)))
    if (folder / "manifest.json").is_file():
        try:
            shards = EncodedShards.open(folder)
            if len(shards) == num_docs and shards.dimension == dim:
                return shards
        except ValueError:
            pass
    writer = ShardWriter(folder, ShardsHeader(model=f"random-clustered-{dim}", dimension=dim, normalized=True,
                                              kind="document", options={"seed": seed, "clusters": clusters}),
                         shard_size=shard_size, overwrite=True)
    for start in range(0, num_docs, ROWS_PER_WRITE):
        n = min(ROWS_PER_WRITE, num_docs - start)
        docs = _unit(centres[rng.integers(0, clusters, n)] + 1.3 * rng.normal(size=(n, dim)) / np.sqrt(dim))
        writer.append([f"d{i}" for i in range(start, start + n)], [""] * n, docs)
    return writer.close()


def make_queries(shards, num_queries: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    picks = np.sort(rng.choice(len(shards), size=num_queries, replace=False))
    near = np.asarray(shards.embeddings(mmap=True)[picks])  # (queries, dim)
    return _unit(near + 0.5 * rng.normal(size=near.shape) / np.sqrt(shards.dimension))


def measure(shards, queries: np.ndarray, exact: np.ndarray, kind: str, precision: str, index_dir: Path,
            k: int, rescore_multiplier: int, sweep: tuple[int, ...] = (), store_texts: bool = False) -> dict:
    """Build one configuration and search it: without rescoring, with it (``rescore_multiplier``), and with each
    multiplier of ``sweep`` (the same index, loaded again with that multiplier)."""
    from gtekit.search import IndexSettings, SearchIndex, build_index

    settings = IndexSettings(kind=kind, precision=precision, rescore_multiplier=rescore_multiplier)
    rss_before = status_mib("VmRSS")
    peak_reset = reset_peak()
    manifest = build_index(shards, index_dir, settings, store_texts=store_texts)
    peak = status_mib("VmHWM")
    index = SearchIndex.load(index_dir)
    record = {"kind": kind, "precision": precision, "factory": manifest.factory,
              "build_seconds": round(manifest.build_seconds, 2),
              "build_peak_rss_added_mib": round(peak - rss_before, 1) if peak_reset and peak else None,
              "index_mib": round(manifest.sizes["index.faiss"] / 2**20, 2),
              "rescore_store_mib": round(manifest.sizes.get("embeddings.npy", 0) / 2**20, 2),
              "parameters": manifest.to_json()["parameters"], "plain": _searched(index, queries, exact, k, False)}
    if index.can_rescore:
        record["rescored"] = _searched(index, queries, exact, k, True)
        record["multipliers"] = {m: _searched(SearchIndex.load(index_dir, rescore_multiplier=m), queries, exact, k,
                                              True) for m in sweep}
    return record


def _searched(index, queries: np.ndarray, exact: np.ndarray, k: int, rescore: bool) -> dict:
    """Recall@k against ``exact``, latency of one query per call (p50, p95) and time per query of one batch."""
    from gtekit.search.topk import recall_at_k

    index.search_rows(queries[:10], k, rescore=rescore)  # warm-up
    latencies = []
    for query in queries:
        started = time.perf_counter()
        index.search_rows(query[None, :], k, rescore=rescore)
        latencies.append(time.perf_counter() - started)
    started = time.perf_counter()
    _, rows = index.search_rows(queries, k, rescore=rescore)
    batched = time.perf_counter() - started
    return {"recall": round(recall_at_k(rows, exact, k), 4),
            "latency_ms_p50": round(1000 * float(np.median(latencies)), 3),
            "latency_ms_p95": round(1000 * float(np.percentile(latencies, 95)), 3),
            "batched_ms_per_query": round(1000 * batched / len(queries), 4)}


def run_search_bench(num_docs: int = 100_000, num_queries: int = 1000, dim: int = 384, *, k: int = 10,
                     configs=DEFAULT_CONFIGS, clusters: int = 1000, rescore_multiplier: int = 8, sweep=(),
                     shard_size: int = 25_000, seed: int = 0, workdir: str | Path | None = None,
                     documents: str | Path | None = None, queries_from: str | Path | None = None,
                     log=print) -> dict:
    """Run the benchmark of the module docstring; return its record. ``documents`` and ``queries_from``
    (encoded-shards folders, e.g. written by ``gtekit encode``) replace the random vectors: the first
    ``num_queries`` rows of ``queries_from`` are the queries."""
    from gtekit.io.embedding_store import EncodedShards
    from gtekit.search.topk import exact_top_k

    with tempfile.TemporaryDirectory(prefix="gtekit-search-bench-") as scratch:
        root = Path(workdir) if workdir else Path(scratch)
        started = time.perf_counter()
        if documents:
            shards = EncodedShards.open(documents)
            queries = EncodedShards.open(queries_from or documents).embeddings()[:num_queries]
            num_docs, num_queries, dim = len(shards), len(queries), shards.dimension
        else:
            shards = write_shards(root / "shards", num_docs, dim, clusters, seed, shard_size)
            queries = make_queries(shards, num_queries, seed)
        log(f"inputs: {num_docs:,} documents, {num_queries:,} queries, dimension {dim} "
            f"({time.perf_counter() - started:.1f} s)")
        started = time.perf_counter()
        _, exact = exact_top_k(queries, shards.embeddings(mmap=True), k)
        log(f"exact float32 top-{k}: {time.perf_counter() - started:.1f} s")
        points = []
        for config in configs:
            kind, precision = config.split("/")
            point = measure(shards, queries, exact, kind, precision, root / "index" / config.replace("/", "-"), k,
                            rescore_multiplier, tuple(sweep))
            points.append(point)
            log(json.dumps(point))
    import faiss

    return {"docs": num_docs, "queries": num_queries, "dimension": dim, "k": k,
            "inputs": {"documents": str(documents), "queries": str(queries_from or documents)} if documents
            else {"random_clusters": clusters},
            "rescore_multiplier": rescore_multiplier, "seed": seed, "points": points,
            "machine": {"host": socket.gethostname(), "cpus": os.cpu_count(), "platform": platform.platform(),
                        "faiss_threads": faiss.omp_get_max_threads(), "faiss": faiss.__version__,
                        "load_average": os.getloadavg()}}


def markdown_table(record: dict) -> str:
    lines = ["| index | precision | build s | index MiB | rescore store MiB | recall@{k} | latency p50 ms | "
             "batched ms/query | recall@{k} rescored | latency p50 ms rescored |".format(k=record["k"]),
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in record["points"]:
        plain, rescored = p["plain"], p.get("rescored")
        lines.append(f"| {p['kind']} (`{p['factory']}`) | {p['precision']} | {p['build_seconds']:.1f} | "
                     f"{p['index_mib']:.1f} | {p['rescore_store_mib']:.1f} | {plain['recall']:.3f} | "
                     f"{plain['latency_ms_p50']:.2f} | {plain['batched_ms_per_query']:.3f} | "
                     + (f"{rescored['recall']:.3f} | {rescored['latency_ms_p50']:.2f} |" if rescored else "– | – |"))
    sweeps = [p for p in record["points"] if p.get("multipliers")]
    if sweeps:
        lines += ["", "| index | precision | rescore multiplier | candidates | recall@{k} | latency p50 ms | "
                      "batched ms/query |".format(k=record["k"]), "|---|---|---:|---:|---:|---:|---:|"]
        for p in sweeps:
            for multiplier, point in p["multipliers"].items():
                lines.append(f"| {p['kind']} | {p['precision']} | {multiplier} | {int(multiplier) * record['k']} | "
                             f"{point['recall']:.3f} | {point['latency_ms_p50']:.2f} | "
                             f"{point['batched_ms_per_query']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from gtekit.search import IndexSettings

    parser = argparse.ArgumentParser(prog="python -m benchmarks.search", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000, help="corpus size")
    parser.add_argument("--queries", type=int, default=1000, help="queries searched")
    parser.add_argument("--dim", type=int, default=384, help="embedding dimension")
    parser.add_argument("-k", type=int, default=10, help="hits per query; recall@k against exact float32")
    parser.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help="comma-separated KIND/PRECISION")
    parser.add_argument("--clusters", type=int, default=1000, help="centres the documents are drawn around")
    parser.add_argument("--rescore-multiplier", type=int, default=IndexSettings.rescore_multiplier,
                        help="candidates rescored per hit")
    parser.add_argument("--sweep", default="", metavar="M,M,...",
                        help="also search each rescorable index with these rescore multipliers, e.g. 1,2,4,8,16")
    parser.add_argument("--documents", type=Path, default=None, metavar="SHARDS_DIR",
                        help="search these encoded shards (`gtekit encode -o`) instead of random vectors")
    parser.add_argument("--queries-from", type=Path, default=None, metavar="SHARDS_DIR",
                        help="with --documents: the queries' encoded shards (default: --documents' own rows)")
    parser.add_argument("--shard-size", type=int, default=25_000, help="rows per input shard")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="faiss (OpenMP) threads; 1 gives steadier numbers on a busy machine (default: all cores)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the inputs and indexes here (reused by a rerun with the same sizes)")
    parser.add_argument("--output-dir", type=Path, default=RESULTS, help="where the JSON record goes")
    args = parser.parse_args(argv)
    if args.threads:
        import faiss

        faiss.omp_set_num_threads(args.threads)
    record = run_search_bench(args.docs, args.queries, args.dim, k=args.k, configs=args.configs.split(","),
                              clusters=args.clusters, rescore_multiplier=args.rescore_multiplier,
                              sweep=[int(m) for m in args.sweep.split(",") if m.strip()],
                              shard_size=args.shard_size, seed=args.seed, workdir=args.workdir,
                              documents=args.documents, queries_from=args.queries_from)
    from gtekit.io.atomic import atomic_path

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = args.output_dir / f"search-bench-{stamp}-{socket.gethostname()}.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    print(markdown_table(record))
    print(f"\nload average (1, 5, 15 min) at the end: {os.getloadavg()}; record written to {path}")
    return 0


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


if __name__ == "__main__":
    raise SystemExit(main())
