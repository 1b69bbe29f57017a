"""Summarization against mteb's SummarizationEvaluator, and against scipy directly."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from gtekit.evaluation.metrics.summarization import predicted_scores, summarization_scores
from tests.helpers import TableEncoder


def summeval_like(seed: int, num_texts: int = 12, width: int = 8):
    """Texts with 2..8 machine summaries, 1..4 references and 1..5 human scores (ties likely).

    Text 0 has constant human scores and text 1 a single machine summary: both are skipped.
    """
    rng = np.random.default_rng(seed)
    machine, human, gold = [], [], []
    for t in range(num_texts):
        m = 1 if t == 1 else int(rng.integers(2, 9))
        machine.append(rng.normal(size=(m, width)))
        human.append(rng.normal(size=(int(rng.integers(1, 5)), width)))
        gold.append(np.full(m, 3.0) if t == 0 else rng.integers(1, 6, size=m).astype(float))
    return machine, human, gold


def test_matches_mteb_summarization_evaluator():
    from mteb._evaluators import SummarizationEvaluator
    from mteb.timing import TimingStack

    machine, human, gold = summeval_like(0)
    machine_texts = [[f"machine {t} {j}" for j in range(len(m))] for t, m in enumerate(machine)]
    human_texts = [[f"human {t} {j}" for j in range(len(h))] for t, h in enumerate(human)]
    table = {}
    for names, rows in zip(machine_texts + human_texts, machine + human, strict=True):
        table.update(zip(names, rows, strict=True))
    evaluator = SummarizationEvaluator(human_summaries=human_texts, machine_summaries=machine_texts,
                                       texts=[f"text {t}" for t in range(len(gold))],
                                       gold_scores=[((g - 1) / 4).tolist() for g in gold],  # mteb's scaling to [0, 1]
                                       task_metadata=None, hf_split="test", hf_subset="default", timer=TimingStack())
    model = TableEncoder(table)
    reference = evaluator._calculate_metrics(evaluator(model, encode_kwargs={"batch_size": 64}))
    ours = summarization_scores(machine, human, gold)
    assert set(ours) == set(reference) | {"main_score"}
    for key in reference:  # mteb computes cosines in float32
        assert ours[key] == pytest.approx(reference[key], abs=1e-6), key
    assert ours["main_score"] == ours["cosine_spearman"]


def test_matches_scipy_directly():
    machine, human, gold = summeval_like(1)
    spearman, pearson = [], []
    for m, h, g in zip(machine, human, gold, strict=True):
        cosine = (m @ h.T / np.outer(np.linalg.norm(m, axis=1), np.linalg.norm(h, axis=1))).max(axis=1)
        if len(set(g)) == 1 or len(set(cosine)) == 1:  # texts 0 and 1, and any with equal human scores
            continue
        spearman.append(spearmanr(g, cosine).statistic)
        pearson.append(pearsonr(g, cosine).statistic)
    ours = summarization_scores(machine, human, gold)
    assert ours["cosine_spearman"] == pytest.approx(np.mean(spearman), abs=1e-12)
    assert ours["cosine_pearson"] == pytest.approx(np.mean(pearson), abs=1e-12)
    assert summarization_scores(machine, human, gold, similarity="dot")["spearman"] == ours["dot_spearman"]


def test_max_over_references():
    machine = np.array([[1.0, 0.0], [0.0, 2.0]])
    human = np.array([[1.0, 1.0], [0.0, 3.0]])
    cosine, dot, _ = predicted_scores(machine, human, np.array([1.0, 2.0]))
    np.testing.assert_allclose(cosine, [1 / np.sqrt(2), 1.0])
    np.testing.assert_allclose(dot, [1.0, 6.0])


def test_errors_name_the_problem():
    machine, human, gold = summeval_like(2, num_texts=3)
    with pytest.raises(ValueError, match="3 machine-summary sets, 2 human-summary sets and 3 score lists"):
        summarization_scores(machine, human[:2], gold)
    with pytest.raises(ValueError, match=r"text 2: \d+ machine summaries but human scores have shape"):
        summarization_scores(machine, human, [*gold[:2], gold[2][:-1]])
    with pytest.raises(ValueError, match="constant"):
        summarization_scores(machine[:2], human[:2], gold[:2])  # only the two skipped texts
    with pytest.raises(ValueError, match="valid: cosine, dot"):
        summarization_scores(machine, human, gold, similarity="manhattan")
