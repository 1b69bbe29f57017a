"""Summarization (SummEval): how well embedding similarity to human reference summaries ranks
machine summaries the way human judges do, as mteb 2.26.24's ``SummarizationEvaluator`` scores it.

No model knowledge: takes numpy embeddings of each text's machine and human summaries and the
human scores of the machine summaries. Depends on numpy and scipy only.

For text t with machine summaries m_1..m_M, references h_1..h_R and human scores g_1..g_M:

- predicted score of m_j: ``cosine`` = max_r cos(m_j, h_r), ``dot`` = max_r m_j · h_r;
- per text, Spearman and Pearson correlation of (g_j) with each predicted (·)_j;
- a text whose human scores, cosine scores or dot scores are all equal is skipped (as in mteb);
- each correlation averaged over the remaining texts.

Keys ``cosine_spearman``, ``cosine_pearson``, ``dot_spearman``, ``dot_pearson``, ``spearman`` and
``pearson`` (mteb's model-similarity columns; here cosine or dot as the caller says), and
``main_score`` = ``cosine_spearman``, mteb's main score for all four summarization tasks. mteb maps
human scores to [0, 1] first; correlations are unchanged by that. This is the fixed evaluator of
SummEval v2 (mteb issue #1156): the deprecated one also averaged in the p-values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import pearsonr, spearmanr

SIMILARITIES = ("cosine", "dot")  # what the "spearman"/"pearson" keys may stand for


def summarization_scores(machine_summary_embeddings: Sequence[np.ndarray],
                         human_summary_embeddings: Sequence[np.ndarray], human_scores: Sequence[np.ndarray], *,
                         similarity: str = "cosine") -> dict[str, float]:
    """mteb's summarization metrics; text t has (m_t, H) machine summaries, (h_t, H) human ones and
    (m_t,) human scores."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"unknown similarity {similarity!r}; valid: {', '.join(SIMILARITIES)}")
    if not len(machine_summary_embeddings) == len(human_summary_embeddings) == len(human_scores):
        raise ValueError(f"got {len(machine_summary_embeddings)} machine-summary sets, "
                         f"{len(human_summary_embeddings)} human-summary sets and {len(human_scores)} score lists")
    correlations: dict[str, list[float]] = {f"{name}_{stat}": [] for name in SIMILARITIES
                                            for stat in ("spearman", "pearson")}
    texts = zip(machine_summary_embeddings, human_summary_embeddings, human_scores, strict=True)
    for t, (machine, human, gold) in enumerate(texts):
        cosine, dot, gold = predicted_scores(machine, human, gold, t)
        if len(set(gold.tolist())) == 1 or len(set(dot.tolist())) == 1 or len(set(cosine.tolist())) == 1:
            continue  # a constant has no correlation; mteb skips the text
        for name, predicted in (("cosine", cosine), ("dot", dot)):
            correlations[f"{name}_spearman"].append(float(spearmanr(gold, predicted).statistic))
            correlations[f"{name}_pearson"].append(float(pearsonr(gold, predicted).statistic))
    if not correlations["cosine_spearman"]:
        raise ValueError("every text has constant human, cosine or dot scores; no correlation to average")
    scores = {name: float(np.mean(values)) for name, values in correlations.items()}
    scores["spearman"] = scores[f"{similarity}_spearman"]
    scores["pearson"] = scores[f"{similarity}_pearson"]
    scores["main_score"] = scores["cosine_spearman"]
    return scores


def predicted_scores(machine: np.ndarray, human: np.ndarray, gold: np.ndarray,
                     t: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(max cosine, max dot product over the references, human scores) of one text's machine summaries, each (m,)."""
    machine = np.asarray(machine, dtype=np.float64)
    human = np.asarray(human, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.float64)
    if machine.ndim != 2 or human.ndim != 2 or machine.shape[1] != human.shape[1] or len(human) == 0:
        raise ValueError(f"text {t}: need (m, H) machine and (h >= 1, H) human summary embeddings, "
                         f"got {machine.shape} and {human.shape}")
    if gold.shape != (len(machine),):
        raise ValueError(f"text {t}: {len(machine)} machine summaries but human scores have shape {gold.shape}")
    dot = machine @ human.T  # (m, h)
    norms = np.linalg.norm(machine, axis=1)[:, None] * np.linalg.norm(human, axis=1)[None, :]
    cosine = dot / np.where(norms > 0, norms, 1.0)
    return cosine.max(axis=1), dot.max(axis=1), gold
