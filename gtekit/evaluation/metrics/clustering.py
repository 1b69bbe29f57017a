"""Clustering: mini-batch k-means on embeddings, scored by V-measure against the gold labels.

No model knowledge: every function takes (N, H) numpy embeddings and (N,) labels (ints or
strings) that the caller has already encoded. Depends on numpy and scikit-learn only.

Two protocols of mteb 2.26.24, both with ``main_score`` = ``v_measure`` (the main score of 116 of
the 117 clustering tasks ``mteb.get_tasks`` lists; one uses ``ami``):

- legacy, ``AbsTaskClusteringLegacy`` (MTEB v1's clustering tasks, e.g. ``ArxivClusteringS2S``):
  each *set* of texts is clustered whole, ``MiniBatchKMeans(n_clusters=#labels, batch_size=500,
  n_init="auto", random_state=42)``, and the V-measures of the sets are averaged.
  :func:`clustering_scores` scores one set, :func:`clustering_scores_over_sets` several.
- fast, ``AbsTaskClustering`` (the ``.v2`` tasks): ``n_experiments`` bootstrap samples of
  ``sample_size`` texts, drawn *with* replacement by ``random.Random(seed).choices``, each clustered by
  ``MiniBatchKMeans(n_clusters=#labels, batch_size=512, init="k-means++", n_init=1,
  random_state=seed)``; V-measure and AMI averaged over the samples. :func:`fast_clustering_scores`.
  (mteb calls the number of samples ``n_clusters``; only flat, single-level labels are handled here.
  Tasks that embed a subsample of the corpus first draw it from the same ``random.Random``:
  pass that subsample's embeddings and the ``rng`` after the draw.)
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from sklearn.cluster import MiniBatchKMeans
from sklearn.metrics.cluster import adjusted_mutual_info_score, v_measure_score

LEGACY_BATCH_SIZE = 500  # mteb's ClusteringEvaluator(clustering_batch_size=500)
FAST_BATCH_SIZE = 512  # mteb's AbsTaskClustering.k_mean_batch_size
FAST_SAMPLE_SIZE = 16_384  # mteb's AbsTaskClustering.max_documents_per_cluster


def clustering_scores(embeddings: np.ndarray, labels: Sequence | np.ndarray, *, batch_size: int = LEGACY_BATCH_SIZE,
                      seed: int = 42) -> dict[str, float]:
    """Legacy mteb clustering of one set: ``{"v_measure", "main_score"}``.

    k-means with k = the number of distinct labels, fit on all rows; V-measure = harmonic mean of
    homogeneity h = 1 - H(C|K)/H(C) and completeness c = 1 - H(K|C)/H(K) (C gold, K clusters).
    A set with a single label scores 1.0 without clustering, as in mteb.
    """
    _, y = _checked(embeddings, labels)
    v_measure = float(v_measure_score(y, cluster_assignments(embeddings, labels, batch_size=batch_size, seed=seed)))
    return {"v_measure": v_measure, "main_score": v_measure}


def cluster_assignments(embeddings: np.ndarray, labels: Sequence | np.ndarray, *, batch_size: int = LEGACY_BATCH_SIZE,
                        seed: int = 42) -> np.ndarray:
    """The cluster of each row in :func:`clustering_scores` (k-means, k = distinct labels), shape (N,); a
    single label gives one cluster, so V-measure is 1.0 as in mteb."""
    x, y = _checked(embeddings, labels)
    n_labels = len(np.unique(y))
    if n_labels <= 1:
        return np.zeros(len(y), dtype=int)
    model = MiniBatchKMeans(n_clusters=n_labels, batch_size=batch_size, n_init="auto", compute_labels=True,
                            random_state=seed)
    model.fit(x)
    return model.labels_


def clustering_scores_over_sets(embedding_sets: Sequence[np.ndarray], label_sets: Sequence[Sequence | np.ndarray], *,
                                batch_size: int = LEGACY_BATCH_SIZE, seed: int = 42) -> dict[str, float]:
    """Legacy mteb clustering of several sets: mean and (population) std of their V-measures.

    Keys ``v_measure``, ``v_measure_std``, ``main_score`` (= v_measure).
    """
    if len(embedding_sets) != len(label_sets):
        raise ValueError(f"got {len(embedding_sets)} embedding sets but {len(label_sets)} label sets")
    if not embedding_sets:
        raise ValueError("no clustering set to score")
    v_measures = [clustering_scores(x, y, batch_size=batch_size, seed=seed)["v_measure"]
                  for x, y in zip(embedding_sets, label_sets, strict=True)]
    mean = float(np.mean(v_measures))
    return {"v_measure": mean, "v_measure_std": float(np.std(v_measures)), "main_score": mean}


def fast_clustering_scores(embeddings: np.ndarray, labels: Sequence | np.ndarray, *, n_experiments: int = 10,
                           sample_size: int = FAST_SAMPLE_SIZE, batch_size: int = FAST_BATCH_SIZE, seed: int = 42,
                           rng: random.Random | None = None) -> dict[str, float]:
    """mteb's fast (bootstrapped) clustering: keys ``v_measure``, ``v_measure_std``, ``ami``,
    ``ami_std``, ``main_score`` (= v_measure), over ``n_experiments`` samples.

    Sample e is ``rng.choices(range(N), k=sample_size)`` (with replacement, even when N < sample_size),
    with ``rng = random.Random(seed)`` unless given; k is the number of distinct labels in all N rows.
    AMI is scikit-learn's ``adjusted_mutual_info_score``. The std is the population std.
    """
    x, y = _checked(embeddings, labels)
    if n_experiments < 1 or sample_size < 1:
        raise ValueError(f"n_experiments and sample_size must be positive, got {n_experiments} and {sample_size}")
    rng = random.Random(seed) if rng is None else rng
    model = MiniBatchKMeans(n_clusters=len(np.unique(y)), batch_size=batch_size, init="k-means++", n_init=1,
                            random_state=seed)
    v_measures, amis = [], []
    for _ in range(n_experiments):
        sample = rng.choices(range(len(y)), k=sample_size)
        assignment = model.fit_predict(x[sample])
        v_measures.append(float(v_measure_score(y[sample], assignment)))
        amis.append(float(adjusted_mutual_info_score(y[sample], assignment)))
    return {"v_measure": float(np.mean(v_measures)), "v_measure_std": float(np.std(v_measures)),
            "ami": float(np.mean(amis)), "ami_std": float(np.std(amis)), "main_score": float(np.mean(v_measures))}


def _checked(embeddings: np.ndarray, labels: Sequence | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(embeddings), np.asarray(labels)
    if x.ndim != 2 or y.ndim != 1:
        raise ValueError(f"need (N, H) embeddings and (N,) labels, got shapes {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"embeddings has {len(x)} rows but labels has {len(y)} labels")
    if len(y) == 0:
        raise ValueError("nothing to cluster: embeddings and labels are empty")
    return x, y
