"""The offline suite end to end on a tiny model: every task runs, records provenance, and the cache works."""

from __future__ import annotations

import pytest

from gtekit.evaluation.runner import evaluate_tasks
from gtekit.evaluation.tasks.named_tasks import SUITES, TASKS, get_suite, get_tasks

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


def test_dev_and_test_splits_share_no_text():
    """Every suite task's dev split is disjoint from its test split (split by document, problem or module)."""
    for name in SUITES["offline"]:
        (test,), (dev,) = get_tasks([name], "test"), get_tasks([name], "dev")
        assert test.info.split != dev.info.split and "dev" in dev.info.split, name
        test_texts, dev_texts = set(test.texts()), set(dev.texts())
        assert dev_texts and test_texts and not test_texts & dev_texts, name


def test_lee_and_code_search_split_by_document_problem_and_module():
    from gtekit.data.extract.python_code import top_level_module
    from gtekit.evaluation.tasks.offline_suite import held_out_stdlib_split, lee_documents

    assert len(lee_documents("dev")) == 15 and sorted(lee_documents("dev") + lee_documents("test")) == list(range(50))
    dev_modules = {top_level_module(p.module) for p in held_out_stdlib_split("dev")}
    test_modules = {top_level_module(p.module) for p in held_out_stdlib_split("test")}
    assert dev_modules and test_modules and not dev_modules & test_modules
    with pytest.raises(ValueError, match="unknown evaluation split 'train'; valid: test, dev"):
        get_tasks(["STSBenchmark"], "train")
