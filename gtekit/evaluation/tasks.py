"""Named evaluation tasks and the results JSON.

``evaluate(model, ["STSBenchmark"])`` -> ``{"STSBenchmark": {"main_score": ..., ...}}`` with scores
on mteb's 0–1 scale. Depends on the embedder's ``encode`` and on the data each task reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ..miners.python_code import mine_python_pairs, split_by_module, stdlib_root
from .code_search import evaluate_code_search
from .sts import STSB_LICENSE, STSB_PACKAGE, evaluate_sts, load_stsb


def stsbenchmark(model) -> dict:
    scores = evaluate_sts(model, load_stsb("test"))
    return {**scores, "split": "test", "source": "{}=={}".format(*STSB_PACKAGE), "license": STSB_LICENSE}


def stdlib_code_search(model) -> dict:
    """Held-out Python standard-library code search: docstring -> function body, over top-level
    modules that the quickstart never trains on (``split_by_module``)."""
    pairs, _ = mine_python_pairs(stdlib_root())
    _, held_out = split_by_module(pairs)
    scores = evaluate_code_search(model, [p.docstring for p in held_out], [p.code for p in held_out])
    return {**scores, "split": "held-out modules", "source": "Python standard library", "license": "PSF-2.0"}


TASKS: dict[str, Callable[[object], dict]] = {
    "STSBenchmark": stsbenchmark,
    "PythonStdlibCodeSearch": stdlib_code_search,
}


def evaluate(model, task_names: Sequence[str]) -> dict[str, dict]:
    """Run the named tasks; each result also records its wall time in seconds."""
    unknown = [name for name in task_names if name not in TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; valid: {', '.join(TASKS)}")
    results = {}
    for name in task_names:
        started = time.perf_counter()
        results[name] = TASKS[name](model)
        results[name]["evaluation_time"] = round(time.perf_counter() - started, 2)
    return results
