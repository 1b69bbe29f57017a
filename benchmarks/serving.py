"""Load benchmark of ``gtekit serve``: throughput, latency, errors and memory under loopback load.

1. *Requests*: ``num_requests`` embedding requests of 1 to ``max_texts`` real sentences each (movie
   review sentences, ``gtekit.evaluation.tasks.offline_data.load_vader_movie_sentences``; a seeded draw);
   the same requests at every concurrency level.
2. *Server*: ``gtekit serve MODEL --port 0 --no-access-log`` in a subprocess (its default batching
   options unless ``server_args`` says otherwise), warmed up with concurrent requests of the longest
   sentences (so it has already held full batches of them, its largest).
3. *Load*, for each concurrency c in ``concurrencies``: c client tasks (one ``httpx.AsyncClient``, at
   most c connections) send the requests, each task its next one as soon as its last is answered.
   Measured: wall time -> texts/s and requests/s; per-request latency (send to parsed JSON) -> p50,
   p99; errors (a status other than 200, a transport error, or a wrong number or size of embeddings;
   must be 0); the server's model calls (``GET /health``) -> texts per model call.
4. *Memory*: the server's ``VmRSS`` (``/proc/PID/status``) after the warm-up and after each level;
   the growth from the first level's end to the last's (the same requests again at each higher
   concurrency) shows whether serving leaks.
5. *Shutdown*: SIGTERM; the server must exit 0.
6. *Baseline*: before the server starts, ``Embedder.encode`` on the first 50 requests one at a time in
   the benchmark's own process: what concurrency 1 would cost without HTTP and batching.

Client and server share the machine's cores, so these are loopback numbers: a remote client frees
the server's cores. Usage (about a minute on 2 cores with all-MiniLM-L6-v2)::

    python -m benchmarks.serving
    python -m benchmarks.serving --requests 400 --concurrency 1,8,32 --out results/serving.json

``run_serving_bench(...)`` returns the record as a dict, for ``benchmarks.run``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .procstat import status_mib
from .report import table, write_json_atomic

WARM_UP_REQUESTS = 8  # all at once, each of the longest texts
BASELINE_REQUESTS = 50  # requests encoded in this process, for comparison


def request_texts(num_requests: int, max_texts: int, seed: int = 0) -> list[list[str]]:
    """``num_requests`` lists of 1..``max_texts`` sentences (seeded), from the VADER movie-review sentences."""
    from gtekit.evaluation.tasks.offline_data import load_vader_movie_sentences

    sentences = list(load_vader_movie_sentences().texts)
    rng = random.Random(seed)
    return [rng.sample(sentences, rng.randint(1, max_texts)) for _ in range(num_requests)]


def warm_up_texts(requests: list[list[str]], num_requests: int, max_texts: int) -> list[list[str]]:
    """``num_requests`` requests of ``max_texts`` of the longest sentences in ``requests``: after them, the
    server has held its largest batches, so its memory should not grow further under the measured load."""
    longest = sorted({text for texts in requests for text in texts}, key=len, reverse=True)[:max_texts]
    return [longest] * num_requests


def in_process_baseline(model: str, requests: list[list[str]]) -> dict:
    """Embedder.encode on each request in turn, in this process: what concurrency 1 costs without HTTP."""
    from transformers.utils import logging as hf_logging

    from gtekit.model.embedder import Embedder

    hf_logging.disable_progress_bar()
    embedder = Embedder.load(model)
    embedder.encode(requests[0])
    started = time.perf_counter()
    for texts in requests:
        embedder.encode(texts)
    seconds = time.perf_counter() - started
    texts = sum(map(len, requests))
    return {"requests": len(requests), "texts": texts, "seconds": round(seconds, 3),
            "texts_per_s": round(texts / seconds, 1), "requests_per_s": round(len(requests) / seconds, 2)}


def start_server(model: str, server_args: tuple[str, ...] = (), timeout: float = 300) -> tuple[subprocess.Popen, str]:
    """``gtekit serve MODEL --port 0`` in a subprocess; returns it and its base URL once it answers /health."""
    import httpx

    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    command = [sys.executable, "-m", "gtekit", "serve", model, "--port", "0", "--no-access-log",
               "--log-level", "warning", *server_args]
    with tempfile.TemporaryFile(mode="w+") as log_file:  # a file, not a pipe: a full pipe would stall the server
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True, env=env,
                                   cwd=Path(__file__).resolve().parent.parent)
        found = re.search(r"listening on (http://\S+)", process.stdout.readline())
        if not found:
            process.kill()
            process.wait()
            log_file.seek(0)
            raise RuntimeError(f"gtekit serve did not start:\n{log_file.read()[-3000:]}")
    url = found.group(1)
    httpx.get(f"{url}/health", timeout=timeout).raise_for_status()  # connections wait until the model is loaded
    return process, url


async def run_load(url: str, model: str, requests: list[list[str]], concurrency: int, dimension: int) -> dict:
    """Send ``requests`` with ``concurrency`` workers; latencies, errors and throughput of this level."""
    import httpx

    latencies, errors, queue = [], [], list(reversed(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        calls_before = (await client.get(f"{url}/health")).json()["batching"]["model_calls"]

        async def worker() -> None:
            while queue:
                texts = queue.pop()
                started = time.perf_counter()
                try:
                    response = await client.post(f"{url}/v1/embeddings", json={"model": model, "input": texts})
                    data = response.json().get("data") if response.status_code == 200 else None
                except httpx.HTTPError as error:
                    errors.append(f"{type(error).__name__}: {error}")
                    continue
                latencies.append(time.perf_counter() - started)
                if data is None:
                    errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                elif len(data) != len(texts) or any(len(item["embedding"]) != dimension for item in data):
                    errors.append(f"wrong embeddings: {len(data)} for {len(texts)} texts")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        calls = (await client.get(f"{url}/health")).json()["batching"]["model_calls"] - calls_before
    texts = sum(map(len, requests))
    milliseconds = np.array(latencies) * 1000
    return {"concurrency": concurrency, "requests": len(requests), "texts": texts, "seconds": round(seconds, 3),
            "texts_per_s": round(texts / seconds, 1), "requests_per_s": round(len(requests) / seconds, 2),
            "p50_ms": round(float(np.percentile(milliseconds, 50)), 1) if len(latencies) else None,
            "p99_ms": round(float(np.percentile(milliseconds, 99)), 1) if len(latencies) else None,
            "errors": len(errors), "error_samples": errors[:5], "model_calls": calls,
            "texts_per_model_call": round(texts / calls, 2) if calls else None}


def run_serving_bench(model: str = "all-MiniLM-L6-v2", num_requests: int = 200, concurrencies=(1, 8, 32), *,
                      max_texts: int = 16, seed: int = 0, server_args: tuple[str, ...] = (), log=print) -> dict:
    """Run the benchmark of the module docstring; return its record."""
    import httpx

    requests = request_texts(num_requests, max_texts, seed)
    load_average = {"start": os.getloadavg()}
    baseline = in_process_baseline(model, requests[:BASELINE_REQUESTS])
    log(f"in-process Embedder.encode, one request at a time: {baseline['texts_per_s']} texts/s")
    process, url = start_server(model, server_args)
    try:
        health = httpx.get(f"{url}/health", timeout=60).json()
        served, dimension = health["model"], health["dimension"]
        warm_up = warm_up_texts(requests, WARM_UP_REQUESTS, max_texts)  # concurrent: full batches of long texts
        asyncio.run(run_load(url, served, warm_up, WARM_UP_REQUESTS, dimension))
        rss = {"after_warm_up": status_mib("VmRSS", process.pid)}
        log(f"server pid {process.pid} at {url}: {served} (dimension {dimension}), RSS after warm-up "
            f"{rss['after_warm_up']} MiB")
        levels = []
        for concurrency in concurrencies:
            level = asyncio.run(run_load(url, served, requests, concurrency, dimension))
            level["rss_after_mib"] = status_mib("VmRSS", process.pid)
            levels.append(level)
            log(f"concurrency {concurrency}: {level['texts_per_s']} texts/s, p50 {level['p50_ms']} ms, "
                f"p99 {level['p99_ms']} ms, {level['errors']} errors, RSS {level['rss_after_mib']} MiB")
        rss["after_load"] = levels[-1]["rss_after_mib"] if levels else rss["after_warm_up"]
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    load_average["end"] = os.getloadavg()
    growth = None if None in rss.values() else round(rss["after_load"] - rss["after_warm_up"], 1)
    after_levels = [level["rss_after_mib"] for level in levels]
    growth_across_levels = (round(after_levels[-1] - after_levels[0], 1)
                            if len(after_levels) > 1 and None not in after_levels else None)
    return {"settings": {"model": model, "requests": num_requests, "max_texts": max_texts, "seed": seed,
                         "concurrencies": list(concurrencies), "server_args": list(server_args),
                         "texts": sum(map(len, requests)), "cpu_count": os.cpu_count()},
            "in_process_baseline": baseline, "levels": levels, "rss_mib": rss, "rss_growth_mib": growth,
            "rss_growth_across_levels_mib": growth_across_levels,
            "errors": sum(level["errors"] for level in levels), "exit_code_after_sigterm": exit_code,
            "load_average": load_average}


def format_report(record: dict) -> str:
    """The levels as a table, then the memory line."""
    rows = [[str(level["concurrency"]), f"{level['requests']}", f"{level['texts']}", f"{level['texts_per_s']:.1f}",
             f"{level['requests_per_s']:.2f}", f"{level['p50_ms']:.1f}", f"{level['p99_ms']:.1f}",
             f"{level['texts_per_model_call']}", str(level["errors"]), f"{level['rss_after_mib']}"]
            for level in record["levels"]]
    headers = ["concurrency", "requests", "texts", "texts/s", "requests/s", "p50 ms", "p99 ms", "texts/call",
               "errors", "RSS MiB"]
    rss, baseline, load = record["rss_mib"], record["in_process_baseline"], record["load_average"]
    lines = [table(headers, rows),
             f"in the client's process, Embedder.encode on {baseline['requests']} of the requests one at a time: "
             f"{baseline['texts_per_s']:.1f} texts/s",
             f"server RSS: {rss['after_warm_up']} MiB after warm-up, {rss['after_load']} MiB after the load "
             f"(growth {record['rss_growth_mib']} MiB; from the end of the first level to the end of the last: "
             f"{record['rss_growth_across_levels_mib']} MiB)",
             f"exit code after SIGTERM: {record['exit_code_after_sigterm']}",
             f"1-minute load average: {load['start'][0]:.1f} at the start, {load['end'][0]:.1f} at the end "
             f"({record['settings']['cpu_count']} cores)"]
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load benchmark of `gtekit serve` (see the module docstring).")
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="model to serve (default: all-MiniLM-L6-v2)")
    parser.add_argument("--requests", type=int, default=200, help="requests per concurrency level (default: 200)")
    parser.add_argument("--concurrency", type=_ints, default=[1, 8, 32], help="levels (default: 1,8,32)")
    parser.add_argument("--max-texts", type=int, default=16, help="most sentences per request (default: 16)")
    parser.add_argument("--seed", type=int, default=0, help="which sentences make each request (default: 0)")
    parser.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                        help="an extra `gtekit serve` argument, e.g. --server-arg=--max-wait-ms=0 (repeatable)")
    parser.add_argument("--out", type=Path, help="also write the record as JSON")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.max_texts < 1 or not args.concurrency or min(args.concurrency) < 1:
        parser.error("--requests, --max-texts and every --concurrency level must be at least 1")
    record = run_serving_bench(args.model, args.requests, tuple(args.concurrency), max_texts=args.max_texts,
                               seed=args.seed, server_args=tuple(args.server_arg),
                               log=lambda message: print(message, file=sys.stderr, flush=True))
    print(format_report(record))
    if args.out:
        write_json_atomic(args.out, record)
        print(f"written: {args.out}")
    return 0 if record["errors"] == 0 and record["exit_code_after_sigterm"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
