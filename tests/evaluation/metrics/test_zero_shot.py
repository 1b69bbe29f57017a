"""Zero-shot classification against mteb's zero-shot task run, and against scikit-learn directly."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score
from sklearn.metrics.pairwise import cosine_similarity

from gtekit.evaluation.metrics.zero_shot import verbalise, zero_shot_predict, zero_shot_scores
from tests.helpers import TableEncoder


def texts_near_labels(seed: int, n: int, n_labels: int, width: int = 8, spread: float = 1.0):
    """Label embeddings and texts drawn around their true label's embedding."""
    rng = np.random.default_rng(seed)
    label_embeddings = rng.normal(size=(n_labels, width))
    labels = rng.integers(0, n_labels, size=n)
    return label_embeddings[labels] + spread * rng.normal(size=(n, width)), labels, label_embeddings


@pytest.mark.parametrize("n_labels", [2, 4])
def test_matches_mteb_zero_shot_task(n_labels):
    from datasets import Dataset, DatasetDict
    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.abstasks.zeroshot_classification import AbsTaskZeroShotClassification
    from mteb.mocks.mock_tasks.classification import general_args

    x, labels, label_embeddings = texts_near_labels(n_labels, 80, n_labels)
    names = verbalise([f"label {c}" for c in range(n_labels)])
    texts = [f"text {i}" for i in range(len(x))]

    class Task(AbsTaskZeroShotClassification):
        metadata = TaskMetadata(type="ZeroShotClassification", name="GtekitProbe", main_score="accuracy",
                                **general_args)
        input_column_name = "text"

        def load_data(self, **kwargs):
            self.dataset = DatasetDict({"test": Dataset.from_dict({"text": texts, "label": labels.tolist()})})
            self.data_loaded = True

        def get_candidate_labels(self):
            return names

    table = dict(zip(texts, x, strict=True)) | dict(zip(names, label_embeddings, strict=True))
    reference = Task().evaluate(TableEncoder(table), "test", encode_kwargs={"batch_size": 64})["default"]
    ours = zero_shot_scores(x, labels, label_embeddings)
    assert set(ours) == {key for key, value in reference.items() if value is not None}
    for key in ours:  # mteb computes cosines in float32
        assert ours[key] == pytest.approx(reference[key], abs=1e-6), key


def test_matches_scikit_learn_directly():
    x, labels, label_embeddings = texts_near_labels(5, 100, 3, spread=1.5)
    predicted = cosine_similarity(x, label_embeddings).argmax(axis=1)
    ours = zero_shot_scores(x, labels, label_embeddings)
    assert ours["accuracy"] == pytest.approx(accuracy_score(labels, predicted), abs=1e-12)
    assert ours["f1"] == pytest.approx(f1_score(labels, predicted, average="macro"), abs=1e-12)
    assert ours["main_score"] == ours["accuracy"]
    assert "ap" not in ours


def test_dot_product_differs_from_cosine_only_for_unnormalised_labels():
    text = np.array([[1.0, 0.2]])
    labels = np.array([[1.0, 0.0], [5.0, 5.0]])
    assert zero_shot_predict(text, labels).tolist() == [0]  # cosine: direction only
    assert zero_shot_predict(text, labels, similarity="dot").tolist() == [1]  # dot: the long vector wins


def test_tie_goes_to_the_lower_label():
    assert zero_shot_predict(np.array([[1.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])).tolist() == [0]


def test_verbalise():
    assert verbalise(["a positive movie review", "a negative movie review"]) == [
        "this is an example of a positive movie review", "this is an example of a negative movie review"]
    assert verbalise(["positive", "negative"], template="{label}") == ["positive", "negative"]
    with pytest.raises(ValueError, match=r"must contain '\{label\}'"):
        verbalise(["positive"], template="this is an example")


def test_errors_name_the_problem():
    x, labels, label_embeddings = texts_near_labels(6, 10, 3)
    with pytest.raises(ValueError, match=r"10 rows but labels has shape \(9,\)"):
        zero_shot_scores(x, labels[:9], label_embeddings)
    with pytest.raises(ValueError, match=r"0\.\.2"):
        zero_shot_scores(x, labels + 3, label_embeddings)
    with pytest.raises(ValueError, match="C >= 2"):
        zero_shot_scores(x, labels * 0, label_embeddings[:1])
    with pytest.raises(ValueError, match="valid: cosine, dot"):
        zero_shot_scores(x, labels, label_embeddings, similarity="euclidean")
