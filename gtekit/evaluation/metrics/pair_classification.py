"""Pair classification: is a pair of texts a duplicate/paraphrase (1) or not (0), judged by one
similarity threshold, as mteb 2.26.24's ``AbsTaskPairClassification`` scores it.

No model knowledge: takes the two sides' (N, H) numpy embeddings and (N,) 0/1 labels. Depends on
numpy and scikit-learn only.

For each scoring function -- ``cosine``, ``dot``, ``manhattan`` and ``euclidean`` distance, and
``similarity`` (the model's own similarity, here cosine or dot as the caller says) -- the keys
``{name}_accuracy``, ``{name}_f1``, ``{name}_precision``, ``{name}_recall``, ``{name}_ap``; then
``max_accuracy``, ``max_f1``, ``max_precision``, ``max_recall``, ``max_ap``, each the maximum of that
metric over the five functions (separately: ``max_precision`` need not come with ``max_f1``).
``main_score`` = ``max_ap``, mteb's main score for 48 of the 52 pair-classification tasks
``mteb.get_tasks`` lists (the other 4 use ``max_accuracy``).

Thresholds come from :func:`best_accuracy_threshold` and :func:`best_f1_threshold`, which follow
mteb's ``_find_best_acc_and_threshold`` / ``_find_best_f1_and_threshold`` exactly: scores sorted
most-similar first, a threshold only between two different scores, the first best cut kept.
Scores are computed as mteb computes them (scikit-learn's paired distances, cosine = 1 - cosine
distance), in the embeddings' own dtype: average precision groups exactly equal scores, so the
rounding decides which near-equal scores tie. mteb's ``similarity`` column is the model's
``similarity_pairwise``; here it repeats the cosine or dot column.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score
from sklearn.metrics.pairwise import paired_cosine_distances, paired_euclidean_distances, paired_manhattan_distances

SIMILARITIES = ("cosine", "dot")  # what "similarity" may stand for


def pair_classification_scores(embeddings1: np.ndarray, embeddings2: np.ndarray, labels: Sequence | np.ndarray, *,
                               similarity: str = "cosine") -> dict[str, float]:
    """mteb's pair-classification metrics of pairs (embeddings1[i], embeddings2[i]) with labels[i] in {0, 1}."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"unknown similarity {similarity!r}; valid: {', '.join(SIMILARITIES)}")
    _, _, y = _checked(embeddings1, embeddings2, labels)
    scored = pair_similarities(embeddings1, embeddings2, labels, similarity=similarity)
    out: dict[str, float] = {}
    for name, scores, higher_is_similar in scored:
        for metric, value in threshold_metrics(scores, y, higher_is_similar).items():
            out[f"{name}_{metric}"] = value
    for metric in ("accuracy", "f1", "precision", "recall", "ap"):
        out[f"max_{metric}"] = max(out[f"{name}_{metric}"] for name, _, _ in scored)
    out["main_score"] = out["max_ap"]
    return out


def pair_similarities(embeddings1: np.ndarray, embeddings2: np.ndarray, labels: Sequence | np.ndarray, *,
                      similarity: str = "cosine") -> list[tuple[str, np.ndarray, bool]]:
    """(name, score of each pair, higher means more similar) for each scoring function, in mteb's order."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"unknown similarity {similarity!r}; valid: {', '.join(SIMILARITIES)}")
    a, b, _ = _checked(embeddings1, embeddings2, labels)
    cosine = 1 - paired_cosine_distances(a, b)  # 1 - ||â - b̂||² / 2, rounded as mteb rounds it
    dot = np.array([np.dot(x, z) for x, z in zip(a, b, strict=True)])  # row by row, as mteb (BLAS rounding)
    return [("similarity", cosine if similarity == "cosine" else dot, True),
            ("cosine", cosine, True),
            ("manhattan", paired_manhattan_distances(a, b), False),
            ("euclidean", paired_euclidean_distances(a, b), False),
            ("dot", dot, True)]


def max_average_precision(scored: Sequence[tuple[str, np.ndarray, bool]], labels: np.ndarray) -> float:
    """``max_ap`` (the main score) of :func:`pair_similarities`' output and 0/1 ``labels``."""
    return max(float(average_precision_score(labels, scores * (1 if higher else -1))) for _, scores, higher in scored)


def threshold_metrics(scores: np.ndarray, labels: np.ndarray, higher_is_similar: bool) -> dict[str, float]:
    """``accuracy`` of the best accuracy threshold; ``f1``, ``precision``, ``recall`` of the best F1
    threshold; ``ap`` = scikit-learn's average precision of the scores (negated for distances)."""
    accuracy, _ = best_accuracy_threshold(scores, labels, higher_is_similar)
    f1, precision, recall, _ = best_f1_threshold(scores, labels, higher_is_similar)
    ap = average_precision_score(labels, np.asarray(scores) * (1 if higher_is_similar else -1))
    return {"accuracy": float(accuracy), "f1": float(f1), "precision": float(precision),
            "recall": float(recall), "ap": float(ap)}


def best_accuracy_threshold(scores: np.ndarray, labels: np.ndarray, higher_is_similar: bool) -> tuple[float, float]:
    """(best accuracy, its threshold) over cuts of the sorted scores.

    With the N pairs sorted most-similar first, cutting after position i (0-based, i < N-1, and only
    where s_i != s_{i+1}) predicts the first i+1 pairs positive: accuracy = (positives in the first
    i+1 + negatives after them) / N, threshold = (s_i + s_{i+1}) / 2. The first cut with the highest
    accuracy wins; with no cut of accuracy > 0 (e.g. all scores equal) the result is (0, -1), as in
    mteb. Like mteb, "all positive" and "all negative" are never tried.
    """
    sorted_scores, is_positive, cuts = _sorted_cuts(scores, labels, higher_is_similar)
    positives_so_far = np.cumsum(is_positive)  # (N,), positives among the first i+1
    negatives_left = (~is_positive).sum() - np.cumsum(~is_positive)  # (N,), negatives after position i
    accuracy = (positives_so_far[cuts] + negatives_left[cuts]) / len(is_positive)
    if len(cuts) == 0 or accuracy.max() <= 0:  # mteb starts from (0, -1) and needs a strictly better cut
        return 0.0, -1.0
    best = cuts[np.argmax(accuracy)]  # argmax keeps the first best, like mteb's strict ">"
    return float(accuracy.max()), float((sorted_scores[best] + sorted_scores[best + 1]) / 2)


def best_f1_threshold(scores: np.ndarray, labels: np.ndarray,
                      higher_is_similar: bool) -> tuple[float, float, float, float]:
    """(best F1, its precision, its recall, its threshold) over the cuts of :func:`best_accuracy_threshold`.

    At a cut after position i with c >= 1 positives in the first i+1: precision = c / (i+1),
    recall = c / P (P positives in all), F1 = 2·precision·recall / (precision + recall). Cuts with
    c = 0 are skipped; with no cut left the result is (0, 0, 0, 0), as in mteb.
    """
    sorted_scores, is_positive, cuts = _sorted_cuts(scores, labels, higher_is_similar)
    correct = np.cumsum(is_positive)[cuts]  # (n_cuts,)
    cuts, correct = cuts[correct > 0], correct[correct > 0]
    if len(cuts) == 0:
        return 0.0, 0.0, 0.0, 0.0
    precision = correct / (cuts + 1)
    recall = correct / is_positive.sum()
    f1 = 2 * precision * recall / (precision + recall)
    best = int(np.argmax(f1))
    threshold = (sorted_scores[cuts[best]] + sorted_scores[cuts[best] + 1]) / 2
    return float(f1[best]), float(precision[best]), float(recall[best]), float(threshold)


def _sorted_cuts(scores: np.ndarray, labels: np.ndarray,
                 higher_is_similar: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores sorted most-similar first, their labels as booleans, and the positions i < N-1 with
    s_i != s_{i+1} (a threshold never splits tied scores)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ValueError(f"need scores and labels of one length, got shapes {scores.shape} and {labels.shape}")
    order = np.argsort(-scores if higher_is_similar else scores, kind="stable")
    sorted_scores = scores[order]
    cuts = np.flatnonzero(sorted_scores[:-1] != sorted_scores[1:])
    return sorted_scores, labels[order] == 1, cuts


def _checked(embeddings1: np.ndarray, embeddings2: np.ndarray,
             labels: Sequence | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = np.asarray(embeddings1), np.asarray(embeddings2)
    y = np.asarray(labels)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"need two (N, H) embedding arrays of one shape, got {a.shape} and {b.shape}")
    if y.ndim != 1 or len(y) != len(a):
        raise ValueError(f"embeddings have {len(a)} pairs but labels has shape {y.shape}")
    if len(y) == 0:
        raise ValueError("no pairs to classify")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"labels must be 0 (different) or 1 (same), got {sorted(values, key=str)}")
    if values != {0, 1}:
        raise ValueError(f"labels hold a single class ({sorted(values)}); pair classification needs both 0 and 1")
    return a, b, y.astype(np.int64)
