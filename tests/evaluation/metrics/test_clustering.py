"""Clustering against mteb's legacy and fast clustering task runs, and against scikit-learn directly."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.cluster import MiniBatchKMeans
from sklearn.metrics import v_measure_score
from threadpoolctl import threadpool_limits

from gtekit.evaluation.metrics.clustering import clustering_scores, clustering_scores_over_sets, fast_clustering_scores
from tests.helpers import TableEncoder


@pytest.fixture(autouse=True)
def single_thread():
    with threadpool_limits(1):  # k-means' OpenMP threads crawl on a busy machine
        yield


def blobs(seed: int, n: int, n_labels: int, width: int = 6, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_labels, width)) * 1.5
    labels = rng.integers(0, n_labels, size=n)
    return centres[labels] + spread * rng.normal(size=(n, width)), labels


def run_mteb_task(base_name: str, rows: dict, table: dict, **attributes) -> dict:
    """An mteb clustering task (``AbsTaskClusteringLegacy`` or ``AbsTaskClustering``) over ``rows``."""
    from datasets import Dataset, DatasetDict
    from mteb.abstasks.clustering import AbsTaskClustering
    from mteb.abstasks.clustering_legacy import AbsTaskClusteringLegacy
    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.mocks.mock_tasks.clustering import general_args

    base = {"legacy": AbsTaskClusteringLegacy, "fast": AbsTaskClustering}[base_name]

    class Task(base):
        metadata = TaskMetadata(type="Clustering", name="GtekitProbe", main_score="v_measure", **general_args)

        def load_data(self, **kwargs):
            self.dataset = DatasetDict({"test": Dataset.from_dict(rows)})
            self.data_loaded = True

    task = Task()
    for name, value in attributes.items():
        setattr(task, name, value)
    return task.evaluate(TableEncoder(table), "test", encode_kwargs={"batch_size": 64})["default"]


def test_legacy_sets_match_mteb():
    sets = [blobs(0, 80, 4, spread=1.5), blobs(1, 50, 3, spread=1.5), blobs(2, 30, 1)]  # the last: one label
    names = [[f"set {s} text {i}" for i in range(len(y))] for s, (_, y) in enumerate(sets)]
    table = {name: row for (x, _), set_names in zip(sets, names, strict=True)
             for name, row in zip(set_names, x, strict=True)}
    reference = run_mteb_task("legacy", {"sentences": names, "labels": [y.tolist() for _, y in sets]}, table)
    ours = clustering_scores_over_sets([x for x, _ in sets], [y for _, y in sets])
    assert ours["v_measure"] == pytest.approx(reference["v_measure"], abs=1e-12)
    assert ours["v_measure_std"] == pytest.approx(reference["v_measure_std"], abs=1e-12)
    assert ours["main_score"] == ours["v_measure"]
    assert clustering_scores(*sets[2])["v_measure"] == 1.0  # a single-label set scores 1, as in mteb
    assert clustering_scores(*sets[0])["v_measure"] == pytest.approx(reference["v_measures"][0], abs=1e-12)


def test_fast_bootstrap_matches_mteb():
    x, y = blobs(3, 40, 4, spread=1.5)
    labels = np.array(["w", "x", "y", "z"])[y]  # string labels, as many mteb datasets have
    names = [f"text {i}" for i in range(len(y))]
    # 60 > 40 rows: mteb samples with replacement, so this must still work
    reference = run_mteb_task("fast", {"sentences": names, "labels": labels.tolist()},
                              dict(zip(names, x, strict=True)), n_clusters=3, max_documents_per_cluster=60,
                              max_fraction_of_documents_to_embed=None)
    ours = fast_clustering_scores(x, labels, n_experiments=3, sample_size=60)
    for key in ("v_measure", "v_measure_std", "ami", "ami_std"):
        assert ours[key] == pytest.approx(reference[key], abs=1e-12), key
    assert ours["main_score"] == ours["v_measure"]


def test_one_set_matches_scikit_learn_directly():
    x, y = blobs(4, 120, 5, spread=1.5)
    model = MiniBatchKMeans(n_clusters=5, batch_size=500, n_init="auto", random_state=42).fit(x)
    assert clustering_scores(x, y)["v_measure"] == pytest.approx(v_measure_score(y, model.labels_), abs=1e-12)


def test_fast_samples_with_the_given_rng_and_separated_clusters_score_one():
    x, y = blobs(5, 60, 3, spread=0.01)
    rng = random.Random(0)
    rng.sample(range(100), k=10)  # as if a subsample had been drawn first
    state = rng.getstate()
    first = fast_clustering_scores(x, y, n_experiments=2, sample_size=30, rng=rng)
    rng.setstate(state)
    assert fast_clustering_scores(x, y, n_experiments=2, sample_size=30, rng=rng) == first
    assert first["v_measure"] == pytest.approx(1.0)


def test_errors_name_the_problem():
    x, y = blobs(6, 10, 2)
    with pytest.raises(ValueError, match="10 rows but labels has 9"):
        clustering_scores(x, y[:9])
    with pytest.raises(ValueError, match="2 embedding sets but 1 label sets"):
        clustering_scores_over_sets([x, x], [y])
    with pytest.raises(ValueError, match="empty"):
        fast_clustering_scores(x[:0], y[:0])
