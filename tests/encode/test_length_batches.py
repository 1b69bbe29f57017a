"""Length-sorted batches under a row and a padded-token budget, padded exactly as the tokenizer pads."""

from __future__ import annotations

import numpy as np
import pytest

from gtekit.encode.length_batches import plan_batches, window_batches


def test_plan_sorts_longest_first_and_respects_both_budgets():
    lengths = np.array([5, 30, 5, 12, 30, 7, 3])
    batches = plan_batches(lengths, batch_size=3, max_batch_tokens=64)
    assert np.concatenate(batches).tolist() == [1, 4, 3, 5, 0, 2, 6]  # longest first, ties in input order
    for index in batches:
        assert len(index) <= 3 and len(index) * lengths[index].max() <= 64
    assert [len(index) for index in batches] == [2, 3, 2]  # 2 x 30; 3 x 12; then 2 x 5
    assert [len(index) for index in plan_batches(lengths, batch_size=3)] == [3, 3, 1]
    assert [len(index) for index in plan_batches(np.array([100, 2]), batch_size=8, max_batch_tokens=10)] == [1, 1]
    with pytest.raises(ValueError, match="batch_size"):
        plan_batches(lengths, batch_size=0)


def test_padded_batches_equal_the_tokenizers_own_padding(tiny_embedder):
    texts = ["a short one", "a much longer text with many more words in it than the others", "mid length text",
             "x"]
    batches = window_batches(tiny_embedder.tokenizer, tiny_embedder.settings, texts, kind="query", batch_size=2)
    assert sorted(np.concatenate([batch.index for batch in batches]).tolist()) == [0, 1, 2, 3]
    for batch in batches:
        expected = tiny_embedder.tokenize([texts[i] for i in batch.index], kind="query")
        assert set(batch.features) == set(expected)
        for key, value in expected.items():
            np.testing.assert_array_equal(batch.features[key], value.numpy())


def test_truncates_to_max_length(tiny_embedder):
    [batch] = window_batches(tiny_embedder.tokenizer, tiny_embedder.settings, ["word " * 200], max_length=16)
    assert batch.features["input_ids"].shape == (1, 16)
