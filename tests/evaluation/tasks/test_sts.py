"""STS against mteb's own task run (``AbsTaskSTS`` with its ``AnySTSEvaluator``) on the same embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Dataset, DatasetDict
from mteb.abstasks.sts import AbsTaskSTS
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.mocks.mock_tasks.sts import general_args

from gtekit.evaluation.tasks.sts import sts_scores
from tests.helpers import TableEncoder


class DotTableEncoder(TableEncoder):
    """A TableEncoder whose own similarity is the dot product: mteb's ``pearson`` and ``spearman`` then
    score the dot product, the one gtekit metric that mteb's fixed cosine/Manhattan/Euclidean set lacks."""

    def similarity_pairwise(self, a, b):
        return (np.asarray(a) * np.asarray(b)).sum(axis=1)


def sts_pairs(seed: int, n: int = 150, width: int = 8, integer: bool = False):
    """Pairs whose gold score (0..5 in steps of 0.2, so with ties) follows their cosine, with noise.

    ``integer``: small-integer embeddings, no pair of two equal vectors, so that many Manhattan,
    Euclidean and dot scores tie exactly.
    """
    rng = np.random.default_rng(seed)
    if integer:
        a = rng.integers(-2, 3, size=(n, width)).astype(np.float64)
        b = a + rng.integers(-1, 2, size=(n, width))
        b[(a == b).all(axis=1), 0] += 1
    else:
        a = rng.normal(size=(n, width)) * rng.uniform(0.5, 2.0, size=(n, 1))  # unequal norms: dot != cosine
        b = a + rng.normal(size=(n, width)) * rng.uniform(0.2, 2.0, size=(n, 1))
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    gold = np.clip(np.round((2.5 + 2.5 * cosine + rng.normal(scale=0.8, size=n)) * 5) / 5, 0, 5)
    return a, b, gold


def mteb_sts(a: np.ndarray, b: np.ndarray, gold: np.ndarray, encoder_class=TableEncoder) -> dict:
    """mteb's STS task run end to end on texts whose embeddings are ``a`` and ``b``."""
    rows = {"sentence1": [f"first {i}" for i in range(len(a))], "sentence2": [f"second {i}" for i in range(len(b))],
            "score": gold.tolist()}

    class Task(AbsTaskSTS):
        metadata = TaskMetadata(type="STS", name="GtekitProbe", main_score="cosine_spearman", **general_args)

        def load_data(self, **kwargs):
            self.dataset = DatasetDict({"test": Dataset.from_dict(rows)})
            self.data_loaded = True

    table = dict(zip(rows["sentence1"], a, strict=True)) | dict(zip(rows["sentence2"], b, strict=True))
    return Task().evaluate(encoder_class(table), "test", encode_kwargs={"batch_size": 64})["default"]


def differences_from_mteb(a: np.ndarray, b: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    """|gtekit - mteb| for every gtekit metric: cosine, Manhattan and Euclidean Pearson/Spearman and the
    main score against mteb's columns of the same names; dot Pearson/Spearman against mteb's
    model-similarity ``pearson``/``spearman`` under a dot-product model. mteb rescales gold scores to
    [0, 1] first, which leaves both correlations unchanged."""
    ours = sts_scores(a, b, gold)
    reference = mteb_sts(a, b, gold)
    dot = mteb_sts(a, b, gold, encoder_class=DotTableEncoder)
    reference |= {"dot_pearson": dot["pearson"], "dot_spearman": dot["spearman"]}
    assert reference["pearson"] == pytest.approx(reference["cosine_pearson"], abs=1e-6)  # a cosine model
    assert abs(ours["dot_spearman"] - ours["cosine_spearman"]) > 1e-3  # the dot check is not the cosine one again
    assert ours["main_score"] == ours["cosine_spearman"]
    names = ("cosine", "manhattan", "euclidean", "dot")
    assert set(ours) == {f"{name}_{kind}" for name in names for kind in ("pearson", "spearman")} | {"main_score"}
    return {key: abs(ours[key] - reference[key]) for key in ours}


@pytest.mark.parametrize(("seed", "dtype", "tolerance"), [(0, np.float64, 1e-12), (1, np.float32, 1e-6)],
                         ids=["float64", "float32"])
def test_every_metric_matches_mteb(seed, dtype, tolerance):
    """mteb computes the similarities in the embeddings' dtype and gtekit in float64: float32 embeddings
    agree to ~1e-8, float64 ones to ~1e-16."""
    a, b, gold = sts_pairs(seed)
    differences = differences_from_mteb(a.astype(dtype), b.astype(dtype), gold)
    assert differences == pytest.approx(dict.fromkeys(differences, 0.0), abs=tolerance)


def test_exactly_tied_distances_match_mteb():
    """Many exactly tied Manhattan, Euclidean and dot scores: Spearman's average ranks agree. Tied cosines
    are left to the next test (the two compute them with different rounding)."""
    a, b, gold = sts_pairs(2, integer=True)
    differences = differences_from_mteb(a, b, gold)
    del differences["cosine_spearman"], differences["main_score"]
    assert differences == pytest.approx(dict.fromkeys(differences, 0.0), abs=1e-12)


def test_pairs_of_equal_embeddings_tie_as_in_mteb():
    """A pair whose two texts are the same (so are their embeddings) has cosine 1: mteb's pairs of that kind tie."""
    a, b, gold = sts_pairs(3)
    b[:30] = a[:30]
    differences = differences_from_mteb(a, b, gold)
    assert differences["cosine_spearman"] == pytest.approx(0.0, abs=1e-12)
