"""Zero-shot classification: each text takes the label whose verbalised embedding is most similar.

GTE §4.1 (after cpt-text §3.1.2): labels are written as text -- the bare label word ("positive"),
or a prompt such as "this is an example of a positive movie review" -- and embedded like any
text; a text is assigned the label with the highest similarity to its embedding. Scored as
mteb 2.26.24's ``AbsTaskZeroShotClassification`` scores it.

No model knowledge: takes numpy embeddings of the texts and of the verbalised labels (the
caller encodes :func:`verbalise`'s output). Depends on numpy and scikit-learn only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score

from .classification import prediction_scores

SIMILARITIES = ("cosine", "dot")
DEFAULT_TEMPLATE = "this is an example of {label}"


def verbalise(label_names: Sequence[str], template: str = DEFAULT_TEMPLATE) -> list[str]:
    """One text per label, ``template`` with ``{label}`` filled in; ``template="{label}"`` gives the
    bare words. E.g. ``verbalise(["a negative movie review", "a positive movie review"])``."""
    if "{label}" not in template:
        raise ValueError(f"template must contain '{{label}}', got {template!r}")
    return [template.replace("{label}", name) for name in label_names]


def zero_shot_scores(text_embeddings: np.ndarray, labels: Sequence[int] | np.ndarray, label_embeddings: np.ndarray, *,
                     similarity: str = "cosine") -> dict[str, float]:
    """mteb's zero-shot metrics of the predictions of :func:`zero_shot_predict`.

    ``labels[i]`` is the row of ``label_embeddings`` (C, H) that is text i's true label. Keys as
    ``classification.prediction_scores`` (``accuracy``, macro and weighted ``f1``, ``precision``,
    ``recall``) and ``main_score`` = accuracy (mteb's main score for all its zero-shot tasks). With
    exactly the labels {0, 1} present, also ``ap`` and ``ap_weighted``: average precision of the
    similarity to label 1, as mteb computes it (mteb leaves them empty otherwise; they are left out).
    """
    similarities = label_similarities(text_embeddings, label_embeddings, similarity=similarity)  # (N, C)
    y = np.asarray(labels)
    if y.shape != (len(similarities),):
        raise ValueError(f"text_embeddings has {len(similarities)} rows but labels has shape {y.shape}")
    if len(y) == 0:
        raise ValueError("no texts to classify")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= similarities.shape[1]:
        raise ValueError(f"labels must be integer rows of label_embeddings, 0..{similarities.shape[1] - 1}")
    scores = prediction_scores(y, similarities.argmax(axis=1))  # argmax: the first label among ties
    if set(np.unique(y).tolist()) == {0, 1}:
        scores["ap"] = float(average_precision_score(y, similarities[:, 1], average="macro"))
        scores["ap_weighted"] = float(average_precision_score(y, similarities[:, 1], average="weighted"))
    scores["main_score"] = scores["accuracy"]
    return scores


def zero_shot_predict(text_embeddings: np.ndarray, label_embeddings: np.ndarray, *,
                      similarity: str = "cosine") -> np.ndarray:
    """Index of the most similar label for each text, shape (N,); ties go to the lower index."""
    return label_similarities(text_embeddings, label_embeddings, similarity=similarity).argmax(axis=1)


def label_similarities(text_embeddings: np.ndarray, label_embeddings: np.ndarray, *,
                       similarity: str = "cosine") -> np.ndarray:
    """(N, C) similarities of texts to labels: cosine, or dot product (the inner product of GTE §4.1,
    the same as cosine for normalised embeddings)."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"unknown similarity {similarity!r}; valid: {', '.join(SIMILARITIES)}")
    texts = np.asarray(text_embeddings, dtype=np.float64)
    label_rows = np.asarray(label_embeddings, dtype=np.float64)
    if texts.ndim != 2 or label_rows.ndim != 2 or texts.shape[1] != label_rows.shape[1] or len(label_rows) < 2:
        raise ValueError(f"need (N, H) text and (C >= 2, H) label embeddings, got {texts.shape} and {label_rows.shape}")
    if similarity == "cosine":
        texts, label_rows = _unit_rows(texts), _unit_rows(label_rows)
    return texts @ label_rows.T


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)
