"""Pair classification against mteb's task run and threshold searches, and against a brute-force search."""

from __future__ import annotations

import numpy as np
import pytest

from gtekit.evaluation.metrics.pair_classification import (
    best_accuracy_threshold,
    best_f1_threshold,
    pair_classification_scores,
)
from tests.helpers import TableEncoder


def integer_pairs(seed: int, n: int = 120, width: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Small-integer embeddings: many exactly tied scores. Positives are perturbed copies."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    a = rng.integers(-2, 3, size=(n, width)).astype(np.float64)
    b = np.where(labels[:, None] == 1, a + rng.integers(-1, 2, size=(n, width)), rng.integers(-2, 3, size=(n, width)))
    return a, b.astype(np.float64), labels


def mteb_task(rows: dict | None = None):
    """mteb's pair-classification task over ``rows`` (sentence1, sentence2, labels)."""
    from datasets import Dataset, DatasetDict
    from mteb.abstasks.pair_classification import AbsTaskPairClassification
    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.mocks.mock_tasks.pair_classification import general_args

    class Task(AbsTaskPairClassification):
        metadata = TaskMetadata(type="PairClassification", name="GtekitProbe", main_score="max_ap", **general_args)

        def load_data(self, **kwargs):
            self.dataset = DatasetDict({"test": Dataset.from_dict(rows)})
            self.data_loaded = True

    return Task()


@pytest.mark.parametrize(("seed", "dtype"), [(0, np.float64), (1, np.float32), (2, np.float32)])
def test_all_keys_match_mteb_with_many_ties(seed, dtype):
    a, b, labels = integer_pairs(seed)
    if seed == 2:  # no ties: unit-normal noise on top
        a = a + np.random.default_rng(seed).normal(size=a.shape)
    a, b = a.astype(dtype), b.astype(dtype)
    task = mteb_task({"sentence1": [f"a{i}" for i in range(len(a))], "sentence2": [f"b{i}" for i in range(len(b))],
                      "labels": labels.tolist()})
    table = {f"a{i}": row for i, row in enumerate(a)} | {f"b{i}": row for i, row in enumerate(b)}
    reference = task.evaluate(TableEncoder(table), "test", encode_kwargs={"batch_size": 64})["default"]
    ours = pair_classification_scores(a, b, labels)
    assert set(ours) == set(reference)
    for key in ours:
        assert ours[key] == pytest.approx(reference[key], abs=1e-12), key
    assert ours["main_score"] == ours["max_ap"]


@pytest.mark.parametrize("higher_is_similar", [True, False])
def test_threshold_searches_match_mteb(higher_is_similar):
    task = mteb_task()
    rng = np.random.default_rng(2)
    for trial in range(20):
        n = int(rng.integers(2, 40))
        scores = rng.integers(0, 6, size=n) / 4.0 if trial % 2 else rng.normal(size=n)  # ties on odd trials
        labels = rng.integers(0, 2, size=n)
        expected_acc = task._find_best_acc_and_threshold(scores.tolist(), labels, higher_is_similar)
        expected_f1 = task._find_best_f1_and_threshold(scores.tolist(), labels, higher_is_similar)
        assert best_accuracy_threshold(scores, labels, higher_is_similar) == pytest.approx(expected_acc, abs=1e-12)
        assert best_f1_threshold(scores, labels, higher_is_similar) == pytest.approx(expected_f1, abs=1e-12)


def test_best_accuracy_and_f1_match_brute_force():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(3, 30))
        scores, labels = rng.integers(0, 8, size=n).astype(float), rng.integers(0, 2, size=n)
        distinct = np.unique(scores)
        cuts = (distinct[:-1] + distinct[1:]) / 2  # every threshold between two different scores
        accuracy = [np.mean((scores > t) == labels) for t in cuts]
        f1 = []
        for t in cuts:
            predicted = scores > t
            hits = np.sum(predicted & (labels == 1))
            f1.append(0.0 if hits == 0 else 2 * hits / (predicted.sum() + labels.sum()))
        assert best_accuracy_threshold(scores, labels, True)[0] == pytest.approx(max(accuracy, default=0.0))
        assert best_f1_threshold(scores, labels, True)[0] == pytest.approx(max(f1, default=0.0))


def test_all_scores_tied_give_mteb_defaults():
    scores, labels = np.ones(6), np.array([0, 1, 0, 1, 1, 0])
    assert best_accuracy_threshold(scores, labels, True) == (0.0, -1.0)
    assert best_f1_threshold(scores, labels, True) == (0.0, 0.0, 0.0, 0.0)


def test_similarity_column_follows_the_choice():
    a, b, labels = integer_pairs(4)
    ours = pair_classification_scores(a, b, labels, similarity="dot")
    assert ours["similarity_ap"] == ours["dot_ap"]
    assert pair_classification_scores(a, b, labels)["similarity_ap"] == ours["cosine_ap"]


def test_errors_name_the_problem():
    a, b, labels = integer_pairs(5, n=10)
    with pytest.raises(ValueError, match="single class"):
        pair_classification_scores(a, b, np.ones(10, dtype=int))
    with pytest.raises(ValueError, match=r"must be 0 \(different\) or 1"):
        pair_classification_scores(a, b, labels * 2)
    with pytest.raises(ValueError, match=r"10 pairs but labels has shape \(9,\)"):
        pair_classification_scores(a, b, labels[:9])
    with pytest.raises(ValueError, match=r"\(10, 5\) and \(9, 5\)"):
        pair_classification_scores(a, b[:9], labels)
    with pytest.raises(ValueError, match="valid: cosine, dot"):
        pair_classification_scores(a, b, labels, similarity="euclid")
