"""The offline suite end to end on a tiny model: every task runs, records provenance, and the cache works."""

from __future__ import annotations

import pytest

from gtekit.evaluation.runner import evaluate_tasks
from gtekit.evaluation.tasks.named_tasks import SUITES, TASKS, get_suite

pytestmark = pytest.mark.slow

REQUIRED = {"STSBenchmark", "LeeDocumentSimilarity", "TRECClassification", "RottenTomatoesClassification",
            "SMSSpamClassification", "TRECClustering", "STSBenchmarkPairClassification", "LeeReranking",
            "HumanEvalCodeSearch", "PythonStdlibCodeSearch"}
TYPES = {"STS", "Classification", "Clustering", "PairClassification", "Reranking", "ZeroShotClassification",
         "CodeSearch"}


def test_suite_covers_the_task_types():
    assert REQUIRED <= set(SUITES["offline"]) <= set(TASKS)


def test_offline_suite_runs_and_second_run_reads_the_cache(tiny_embedder, tmp_path):
    tasks = get_suite("offline")
    first = evaluate_tasks(tiny_embedder, tasks, cache_root=tmp_path)
    assert {result["type"] for result in first.values()} == TYPES
    for name, result in first.items():
        assert -1.0 <= result["main_score"] <= 1.0, name
        assert result["source"] and result["license"] and result["split"], name

    calls = []
    original = tiny_embedder.encode

    def counting_encode(texts, *args, **kwargs):
        calls.append(len(texts))
        return original(texts, *args, **kwargs)

    tiny_embedder.encode = counting_encode
    second = evaluate_tasks(tiny_embedder, tasks, cache_root=tmp_path)
    assert sum(calls) == 0
    assert {k: v["main_score"] for k, v in second.items()} == {k: v["main_score"] for k, v in first.items()}
