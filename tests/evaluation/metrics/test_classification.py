"""Linear-probe classification against mteb's own task run; k-NN against scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, UndefinedMetricWarning
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits

from gtekit.evaluation.metrics.classification import (
    classification_scores,
    knn_classification_scores,
    knn_predict,
    prediction_scores,
    undersample_indices,
)
from tests.helpers import TableEncoder


@pytest.fixture(autouse=True)
def quiet_single_thread():
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        yield


def blobs(seed: int, n: int, labels: list, width: int = 8, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """n points around one random centre per label; labels drawn uniformly."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(labels), width)) * 2
    which = rng.integers(0, len(labels), size=n)
    return centres[which] + spread * rng.normal(size=(n, width)), np.asarray(labels)[which]


def mteb_classification(train_x, train_y, test_x, test_y, n_experiments: int, samples_per_label: int) -> dict:
    """mteb's AbsTaskClassification run end to end on texts whose embeddings are given."""
    from datasets import Dataset, DatasetDict
    from mteb.abstasks.classification import AbsTaskClassification
    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.mocks.mock_tasks.classification import general_args

    train_texts = [f"train {i}" for i in range(len(train_y))]
    test_texts = [f"test {i}" for i in range(len(test_y))]

    class Task(AbsTaskClassification):
        metadata = TaskMetadata(type="Classification", name="GtekitProbe", main_score="accuracy", **general_args)

        def load_data(self, **kwargs):
            self.dataset = DatasetDict({
                "train": Dataset.from_dict({"text": train_texts, "label": train_y.tolist()}),
                "test": Dataset.from_dict({"text": test_texts, "label": test_y.tolist()}),
            })
            self.data_loaded = True

    task = Task()
    task.n_experiments, task.samples_per_label = n_experiments, samples_per_label
    table = dict(zip(train_texts, train_x, strict=True)) | dict(zip(test_texts, test_x, strict=True))
    return task.evaluate(TableEncoder(table), "test", encode_kwargs={"batch_size": 64})["default"]


@pytest.mark.parametrize("labels", [[0, 1], ["neg", "neutral", "pos"]])
def test_logistic_regression_probe_matches_mteb(labels):
    train_x, train_y = blobs(0, 90, labels, spread=2.0)
    test_x, test_y = blobs(1, 50, labels, spread=2.0)
    ours = classification_scores(train_x, train_y, test_x, test_y, n_experiments=3, samples_per_label=6)
    reference = mteb_classification(train_x, train_y, test_x, test_y, n_experiments=3, samples_per_label=6)
    expected_keys = {"accuracy", "f1", "f1_weighted", "precision", "precision_weighted", "recall",
                     "recall_weighted", "main_score"} | ({"ap", "ap_weighted"} if labels == [0, 1] else set())
    assert set(ours) == expected_keys
    for key in ours:
        assert ours[key] == pytest.approx(reference[key], abs=1e-12), key
    assert ours["main_score"] == ours["accuracy"]


def test_undersampling_matches_mteb():
    from datasets import Dataset
    from mteb.abstasks.classification import AbsTaskClassification

    labels = np.random.default_rng(2).integers(0, 4, size=70)
    dataset = Dataset.from_dict({"label": labels.tolist()})
    probe = AbsTaskClassification.__new__(AbsTaskClassification)  # only its sampling method is used
    probe.seed, probe.samples_per_label, probe.label_column_name = 7, 3, "label"
    order, expected = None, []
    for i in range(4):
        _, order, selected = probe._undersample_data(dataset, i, order)
        expected.append(selected)
    assert undersample_indices(labels, samples_per_label=3, n_experiments=4, seed=7) == expected


def test_undersampling_keeps_at_most_samples_per_label_and_varies():
    labels = np.array([0] * 20 + [1] * 5 + [2] * 2)
    experiments = undersample_indices(labels, samples_per_label=4, n_experiments=3, seed=0)
    for selected in experiments:
        counts = np.bincount(labels[selected], minlength=3)
        assert counts.tolist() == [4, 4, 2]
        assert len(set(selected)) == len(selected)
    assert experiments[0] != experiments[1]


def test_ap_only_for_binary_zero_one_labels():
    assert "ap" in prediction_scores([0, 1, 1, 0], [0, 1, 0, 0], with_ap=True)
    assert "ap" not in prediction_scores([0, 1, 2, 0], [0, 1, 2, 2], with_ap=True)
    assert "ap" not in prediction_scores(["a", "b"], ["a", "a"], with_ap=True)
    assert "ap" not in prediction_scores([0, 1, 1, 0], [0, 1, 0, 0])


@pytest.mark.parametrize("k", [1, 5, 15])
def test_knn_matches_scikit_learn_cosine_neighbours(k):
    labels = ["a", "b", "c", "d"]
    train_x, train_y = blobs(3, 120, labels, spread=2.5)
    test_x, test_y = blobs(4, 60, labels, spread=2.5)
    reference = KNeighborsClassifier(n_neighbors=k, metric="cosine").fit(train_x, train_y).predict(test_x)
    np.testing.assert_array_equal(knn_predict(train_x, train_y, test_x, k=k), reference)
    scores = knn_classification_scores(train_x, train_y, test_x, test_y, k=k)
    assert scores["accuracy"] == pytest.approx(np.mean(reference == test_y), abs=1e-12)
    assert scores["main_score"] == scores["accuracy"]


def test_knn_tied_vote_goes_to_smallest_label_and_tied_neighbours_to_lower_index():
    train_x = np.array([[1.0, 0.0], [1.0, 0.1], [2.0, 0.0], [0.0, 1.0]])
    train_y = np.array([5, 3, 9, 3])
    test_x = np.array([[1.0, 0.05], [3.0, 0.0]])
    # test 0: row 1 (label 3) is nearest, then rows 0 and 2 tie (same direction): row 0 (label 5)
    # is taken, a 3-vs-5 tied vote -> 3. test 1: rows 0 and 2 tie at cosine 1; k=1 takes row 0 -> 5
    assert knn_predict(train_x, train_y, test_x[:1], k=2).tolist() == [3]
    assert knn_predict(train_x, train_y, test_x[1:], k=1).tolist() == [5]


def test_errors_name_the_problem():
    x, y = blobs(5, 20, [0, 1])
    with pytest.raises(ValueError, match="single class"):
        classification_scores(x, np.zeros(20, dtype=int), x, y)
    with pytest.raises(ValueError, match="20 rows but train_labels has 19"):
        classification_scores(x, y[:19], x, y)
    with pytest.raises(ValueError, match="20 rows but test_labels has 18"):
        classification_scores(x, y, x, y[:18])
    with pytest.raises(ValueError, match="one width"):
        classification_scores(x, y, x[:, :3], y)
    with pytest.raises(ValueError, match="k must be between 1 and the 20 train rows"):
        knn_predict(x, y, x, k=21)
