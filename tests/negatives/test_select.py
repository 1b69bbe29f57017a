"""The selection rules against a per-candidate loop written from their definition."""

from __future__ import annotations

import numpy as np
import pytest

from gtekit.negatives.select import Reason, Sampling, SelectionRules, random_keys, select_negatives


def naive_select(scores, ids, positive_ids, positive_score, rules, query_id, query_corpus_id=-1):
    """One query, candidate by candidate: the rules of ``select``'s docstring, in order."""
    order = sorted(range(len(ids)), key=lambda c: -scores[c])
    reasons, left = {}, []
    for c in order:
        score = float(scores[c])
        if ids[c] < 0:
            reasons[c] = Reason.NONE
        elif ids[c] in positive_ids:
            reasons[c] = Reason.POSITIVE
        elif query_corpus_id >= 0 and ids[c] == query_corpus_id:
            reasons[c] = Reason.QUERY_TEXT
        elif rules.absolute_margin is not None and np.float32(scores[c] + rules.absolute_margin) > positive_score:
            reasons[c] = Reason.ABSOLUTE_MARGIN
        elif rules.relative_margin is not None and score > np.float32(
                positive_score - abs(positive_score) * np.float32(rules.relative_margin)):
            reasons[c] = Reason.RELATIVE_MARGIN
        elif rules.max_score is not None and score > rules.max_score:
            reasons[c] = Reason.MAX_SCORE
        elif rules.min_score is not None and score < rules.min_score:
            reasons[c] = Reason.MIN_SCORE
        else:
            left.append(c)
    high = len(left) if rules.range_max is None else rules.range_max
    window = left[rules.range_min:high]
    for c in left:
        reasons[c] = Reason.NOT_SAMPLED if c in window else Reason.RANK_RANGE
    if rules.sampling is Sampling.TOP:
        chosen = window[:rules.num_negatives]
    else:
        keys = random_keys(rules.seed, np.array([query_id]), np.array([[ids[c] for c in window]], dtype=np.int64))[0]
        chosen = sorted((window[i] for i in np.argsort(keys, kind="stable")[:rules.num_negatives]),
                        key=lambda c: -scores[c])
    for c in chosen:
        reasons[c] = Reason.SELECTED
    return [ids[c] for c in chosen], [reasons[c] for c in range(len(ids))]


RULES = [
    SelectionRules(num_negatives=3, relative_margin=0.05),
    SelectionRules(num_negatives=2, range_min=3, range_max=8, absolute_margin=0.05, relative_margin=None),
    SelectionRules(num_negatives=4, max_score=0.6, min_score=0.1, relative_margin=0.2),
    SelectionRules(num_negatives=3, range_min=1, absolute_margin=-0.1, relative_margin=0.1, sampling="random", seed=7),
    SelectionRules(num_negatives=5, range_max=12, relative_margin=None, sampling="random"),
]


@pytest.mark.parametrize("rules", RULES, ids=range(len(RULES)))
def test_matches_the_rules_written_as_a_loop(rules):
    rng = np.random.default_rng(1)
    q, k = 30, 20
    scores = rng.uniform(-0.5, 1.0, size=(q, k)).astype(np.float32)
    ids = rng.permutation(1000)[: q * k].reshape(q, k)
    ids[rng.uniform(size=(q, k)) < 0.05] = -1  # missing candidates
    positive_ids = np.full((q, 2), -1)
    positive_ids[:, 0] = np.where(rng.uniform(size=q) < 0.6, ids[np.arange(q), rng.integers(0, k, q)], 5000)
    positive_ids[::3, 1] = ids[::3, 0]  # some queries have a second positive among the candidates
    positive_scores = rng.uniform(-0.3, 0.95, size=q).astype(np.float32)
    shuffled = rng.permuted(np.tile(np.arange(k), (q, 1)), axis=1)  # rows need not come sorted
    scores, ids = np.take_along_axis(scores, shuffled, 1), np.take_along_axis(ids, shuffled, 1)
    query_ids = np.arange(100, 100 + q)
    query_corpus_ids = np.where(rng.uniform(size=q) < 0.5, ids[np.arange(q), rng.integers(0, k, q)], -1)

    selection = select_negatives(scores, ids, positive_ids, positive_scores, rules, query_ids, query_corpus_ids)
    for row in range(q):
        chosen, reasons = naive_select(scores[row], ids[row], positive_ids[row], positive_scores[row], rules,
                                       query_ids[row], query_corpus_ids[row])
        assert selection.ids[row, :len(chosen)].tolist() == chosen
        assert (selection.ids[row, len(chosen):] == -1).all()
        assert selection.counts[row] == len(chosen)
        assert selection.reasons[row].tolist() == reasons
    assert set(np.unique(selection.reasons)) > {Reason.SELECTED, Reason.POSITIVE, Reason.QUERY_TEXT}


def test_random_sampling_is_seeded_and_independent_of_chunking():
    rng = np.random.default_rng(2)
    scores = np.sort(rng.uniform(size=(10, 30)).astype(np.float32), axis=1)[:, ::-1]
    ids = rng.integers(0, 10**6, size=(10, 30))
    none = np.full((10, 1), -1)
    rules = SelectionRules(num_negatives=4, relative_margin=None, sampling="random", seed=3)
    whole = select_negatives(scores, ids, none, np.ones(10), rules, np.arange(10)).ids
    halves = [select_negatives(scores[a:a + 5], ids[a:a + 5], none[:5], np.ones(5), rules, np.arange(a, a + 5)).ids
              for a in (0, 5)]
    np.testing.assert_array_equal(whole, np.concatenate(halves))
    other_seed = SelectionRules(num_negatives=4, relative_margin=None, sampling="random", seed=4)
    assert not np.array_equal(whole, select_negatives(scores, ids, none, np.ones(10), other_seed, np.arange(10)).ids)


def test_relative_margin_is_sign_safe():
    """A negative positive score must not raise the threshold above the positive (sentence-transformers #3819)."""
    rules = SelectionRules(num_negatives=1, relative_margin=0.1)
    selection = select_negatives(np.array([[-0.19, -0.25]]), np.array([[1, 2]]), np.array([[-1]]),
                                 np.array([-0.2]), rules)
    assert selection.reasons.tolist() == [[Reason.RELATIVE_MARGIN, Reason.SELECTED]]  # -0.19 > -0.22: dropped


@pytest.mark.parametrize(("options", "message"), [
    (dict(num_negatives=0), "num_negatives must be >= 1"),
    (dict(range_min=-1), "range_min must be >= 0"),
    (dict(range_min=5, range_max=7, num_negatives=3), "cannot take 3 negatives from ranks [5, 7)"),
    (dict(relative_margin=0.95), "Arctic-Embed's 'drop candidates above 0.95 x the positive' is relative_margin=0.05"),
    (dict(min_score=0.5, max_score=0.2), "nothing could pass"),
    (dict(sampling="best"), "unknown sampling 'best'; valid: top, random"),
])
def test_bad_rules_say_what_is_wrong(options, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(")", r"\)").replace("(", r"\(")):
        SelectionRules(**options)
