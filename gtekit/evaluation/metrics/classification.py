"""Classification on frozen embeddings: mteb's logistic-regression probe, and a k-NN vote.

No model knowledge: every function takes (N, H) numpy embeddings and (N,) labels (ints or
strings) that the caller has already encoded. Depends on numpy and scikit-learn only.

:func:`classification_scores` follows mteb 2.26.24's ``AbsTaskClassification`` (not the
cross-validation variant) step by step:

1. The train indices ``[0, 1, ..., N-1]`` are shuffled in place, once per experiment, by a fresh
   ``np.random.RandomState(seed)``. The seed is the same every time but the list keeps the order
   the previous experiment left, so each experiment sees a different order. Walking that order,
   the first ``samples_per_label`` indices of each label are kept.
2. ``LogisticRegression(max_iter=100, random_state=seed)`` is fit on those rows and predicts
   every test row.
3. :func:`prediction_scores` scores the predictions, and each metric is averaged over the
   experiments.

mteb's main score for classification is ``accuracy`` (452 of the 487 classification tasks
``mteb.get_tasks`` lists; the other 35 use the macro ``f1``). Here ``main_score`` is ``accuracy``.

:func:`knn_classification_scores` is the k-NN classifier of cpt-text (Neelakantan et al., 2022,
§3.1.2): a test text gets the majority label of its k most cosine-similar training texts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, precision_score, recall_score

from .retrieval import search_top_k


def classification_scores(train_embeddings: np.ndarray, train_labels: Sequence | np.ndarray,
                          test_embeddings: np.ndarray, test_labels: Sequence | np.ndarray, *,
                          n_experiments: int = 10, samples_per_label: int = 8, seed: int = 42,
                          max_iter: int = 100) -> dict[str, float]:
    """mteb's linear-probe classification scores, averaged over ``n_experiments`` undersamplings.

    Each experiment trains on at most ``samples_per_label`` examples of each label (chosen by
    :func:`undersample_indices`) and scores the whole test set with :func:`prediction_scores`.
    Keys: ``accuracy``, ``f1``, ``f1_weighted``, ``precision``, ``precision_weighted``, ``recall``,
    ``recall_weighted``, ``ap`` and ``ap_weighted`` (binary labels only), ``main_score`` (= accuracy).
    """
    predictions = probe_predictions(train_embeddings, train_labels, test_embeddings, test_labels,
                                    n_experiments=n_experiments, samples_per_label=samples_per_label, seed=seed,
                                    max_iter=max_iter)
    return probe_scores(test_labels, predictions)


def probe_predictions(train_embeddings: np.ndarray, train_labels: Sequence | np.ndarray,
                      test_embeddings: np.ndarray, test_labels: Sequence | np.ndarray, *,
                      n_experiments: int = 10, samples_per_label: int = 8, seed: int = 42,
                      max_iter: int = 100) -> list[np.ndarray]:
    """The test-set predictions of each experiment's logistic regression, as in :func:`classification_scores`."""
    train_x, train_y = _checked_split(train_embeddings, train_labels, "train")
    test_x, _ = _checked_split(test_embeddings, test_labels, "test")
    _check_same_width(train_x, test_x)
    if len(np.unique(train_y)) < 2:
        raise ValueError(f"train_labels hold a single class ({train_y[0]!r}); a classifier needs at least 2")
    if max_iter < 1:
        raise ValueError(f"max_iter must be positive, got {max_iter}")
    predictions = []
    for selected in undersample_indices(train_y, samples_per_label=samples_per_label,
                                        n_experiments=n_experiments, seed=seed):
        classifier = LogisticRegression(max_iter=max_iter, random_state=seed)
        classifier.fit(train_x[selected], train_y[selected])
        predictions.append(classifier.predict(test_x))
    return predictions


def probe_scores(test_labels: Sequence | np.ndarray, predictions: Sequence[np.ndarray]) -> dict[str, float]:
    """:func:`prediction_scores` of each experiment's predictions, averaged; ``main_score`` = accuracy."""
    test_y = np.asarray(test_labels)
    per_experiment = [prediction_scores(test_y, predicted, with_ap=True) for predicted in predictions]
    scores = {name: float(np.mean([s[name] for s in per_experiment])) for name in per_experiment[0]}
    scores["main_score"] = scores["accuracy"]
    return scores


def undersample_indices(labels: Sequence | np.ndarray, *, samples_per_label: int = 8, n_experiments: int = 10,
                        seed: int = 42) -> list[list[int]]:
    """The train rows of each experiment, exactly as mteb's ``AbsTaskClassification._undersample_data``.

    ``order`` starts as ``list(range(N))``; for each experiment ``np.random.RandomState(seed).shuffle(order)``
    (in place, so the shuffles compound), then the first ``samples_per_label`` indices of each
    label, in ``order``, are kept. Returned in that order.
    """
    if samples_per_label < 1 or n_experiments < 1:
        raise ValueError(f"samples_per_label and n_experiments must be positive, "
                         f"got {samples_per_label} and {n_experiments}")
    values = np.asarray(labels).tolist()
    order = list(range(len(values)))
    experiments = []
    for _ in range(n_experiments):
        np.random.RandomState(seed).shuffle(order)  # a list, as mteb shuffles it
        taken: dict[object, int] = defaultdict(int)
        selected = []
        for i in order:
            if taken[values[i]] < samples_per_label:
                selected.append(i)
                taken[values[i]] += 1
        experiments.append(selected)
    return experiments


def prediction_scores(y_true: Sequence | np.ndarray, y_pred: Sequence | np.ndarray, *,
                      with_ap: bool = False) -> dict[str, float]:
    """mteb's classification metrics of hard predictions (``AbsTaskClassification._calculate_scores``).

    - ``accuracy`` = mean(y_pred == y_true);
    - ``f1`` / ``precision`` / ``recall``: unweighted mean over labels (scikit-learn ``average="macro"``);
      ``*_weighted``: the same weighted by each label's support. A label never predicted has
      precision 0 (scikit-learn's default, with a warning).
    - ``ap`` / ``ap_weighted`` (``with_ap``, and only when ``y_true`` has exactly the two labels
      ``{0, 1}`` or ``{-1, 1}``): scikit-learn's average precision of the *hard* predictions, as
      mteb computes it. (mteb reports NaN for more labels and fails for other label pairs; both
      are left out here.)
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"need y_true and y_pred of one length, got shapes {y_true.shape} and {y_pred.shape}")
    scores = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1": float(f1_score(y_true, y_pred, average="macro")),
        "f1_weighted": float(f1_score(y_true, y_pred, average="weighted")),
        "precision": float(precision_score(y_true, y_pred, average="macro")),
        "precision_weighted": float(precision_score(y_true, y_pred, average="weighted")),
        "recall": float(recall_score(y_true, y_pred, average="macro")),
        "recall_weighted": float(recall_score(y_true, y_pred, average="weighted")),
    }
    if with_ap and _is_binary_01(y_true):
        scores["ap"] = float(average_precision_score(y_true, y_pred, average="macro"))
        scores["ap_weighted"] = float(average_precision_score(y_true, y_pred, average="weighted"))
    return scores


def knn_classification_scores(train_embeddings: np.ndarray, train_labels: Sequence | np.ndarray,
                              test_embeddings: np.ndarray, test_labels: Sequence | np.ndarray, *,
                              k: int = 256) -> dict[str, float]:
    """:func:`prediction_scores` of :func:`knn_predict`; ``main_score`` = accuracy.

    k = 256 is cpt-text's setting (§3.1.2, SST-2); it must not exceed the number of train rows.
    """
    _, test_y = _checked_split(test_embeddings, test_labels, "test")
    scores = prediction_scores(test_y, knn_predict(train_embeddings, train_labels, test_embeddings, k=k), with_ap=True)
    scores["main_score"] = scores["accuracy"]
    return scores


def knn_predict(train_embeddings: np.ndarray, train_labels: Sequence | np.ndarray, test_embeddings: np.ndarray, *,
                k: int = 256) -> np.ndarray:
    """The majority label among each test row's ``k`` nearest train rows by cosine similarity, shape (M,).

    Neighbours are ranked by cosine descending, equal cosines by the lower train index; a tied
    vote goes to the smallest label (sorted order), as scikit-learn's ``KNeighborsClassifier``
    decides it. A zero vector has cosine 0 with everything.
    """
    train_x, train_y = _checked_split(train_embeddings, train_labels, "train")
    test_x = np.asarray(test_embeddings)
    _check_same_width(train_x, test_x)
    if not 1 <= k <= len(train_y):
        raise ValueError(f"k must be between 1 and the {len(train_y)} train rows, got {k}")
    classes, train_class = np.unique(train_y, return_inverse=True)
    _, neighbours = search_top_k(_unit_rows(test_x), _unit_rows(train_x), k)  # (M, k), best first
    votes = np.zeros((len(test_x), len(classes)), dtype=np.int64)  # (M, C)
    np.add.at(votes, (np.arange(len(test_x))[:, None], train_class[neighbours]), 1)
    return classes[votes.argmax(axis=1)]  # argmax takes the first, i.e. smallest, of tied labels


def _checked_split(embeddings: np.ndarray, labels: Sequence | np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(embeddings), np.asarray(labels)
    if x.ndim != 2 or y.ndim != 1:
        raise ValueError(f"need (N, H) {name}_embeddings and (N,) {name}_labels, got shapes {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{name}_embeddings has {len(x)} rows but {name}_labels has {len(y)} labels")
    if len(x) == 0:
        raise ValueError(f"the {name} split is empty")
    return x, y


def _check_same_width(train_x: np.ndarray, test_x: np.ndarray) -> None:
    if test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"train and test embeddings need one width, got shapes {train_x.shape} and {test_x.shape}")


def _is_binary_01(y_true: np.ndarray) -> bool:
    present = set(np.unique(y_true).tolist())
    return present in ({0, 1}, {-1, 1})


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)
