"""The source sampler: GTE Eq. 4 frequencies, one source per batch, epochs, and exact resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gtekit.data.sampler import SourceSampler, source_probabilities

SIZES = [100, 1000, 10000]


def draw(sampler: SourceSampler, count: int) -> list[tuple[int, list[int]]]:
    return [(source, indices.tolist()) for source, indices in (sampler.next_batch() for _ in range(count))]


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_probabilities_match_eq4(alpha):
    sampler = SourceSampler(SIZES, batch_size=4, alpha=alpha)
    expected = [n**alpha / sum(m**alpha for m in SIZES) for n in SIZES]
    np.testing.assert_allclose(sampler.probabilities, expected, rtol=1e-12)
    assert sampler.probabilities.sum() == pytest.approx(1.0)


def test_probabilities_special_cases():
    np.testing.assert_allclose(source_probabilities(SIZES, 0.0), [1 / 3] * 3)
    np.testing.assert_allclose(source_probabilities(SIZES, 1.0), np.array(SIZES) / sum(SIZES))
    np.testing.assert_allclose(source_probabilities([100, 400], 0.5), [1 / 3, 2 / 3])


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_empirical_frequencies_match_probabilities(alpha):
    draws = 20_000
    sampler = SourceSampler(SIZES, batch_size=4, alpha=alpha, seed=1)
    counts = np.bincount([sampler.next_batch()[0] for _ in range(draws)], minlength=len(SIZES))
    p = sampler.probabilities
    standard_error = np.sqrt(p * (1 - p) / draws)
    assert np.all(np.abs(counts / draws - p) <= 5 * standard_error + 1e-12), (counts / draws, p)


def test_each_batch_comes_from_one_source_within_range():
    sampler = SourceSampler([7, 12, 30], batch_size=5, alpha=0.5, seed=3)
    for _ in range(500):
        source, indices = sampler.next_batch()
        assert indices.shape == (5,) and indices.dtype == np.int64
        assert indices.min() >= 0 and indices.max() < [7, 12, 30][source]


def test_no_example_repeats_within_an_epoch():
    sizes, batch_size = [10, 23, 64], 4
    sampler = SourceSampler(sizes, batch_size=batch_size, alpha=0.0, seed=5)
    per_source: dict[int, list[list[int]]] = {i: [] for i in range(len(sizes))}
    for source, indices in draw(sampler, 3000):
        per_source[source].append(indices)
    for source, batches in per_source.items():
        per_epoch = sizes[source] // batch_size  # the remainder of each epoch is skipped
        complete = len(batches) // per_epoch * per_epoch
        epochs = [np.concatenate(batches[k : k + per_epoch]).tolist() for k in range(0, complete, per_epoch)]
        assert len(epochs) >= 5
        for examples in epochs:
            assert len(set(examples)) == len(examples) == per_epoch * batch_size
        assert epochs[0] != epochs[1]  # a fresh permutation each epoch
        assert set().union(*map(set, epochs)) == set(range(sizes[source]))  # over epochs, all are seen


def test_epoch_permutation_depends_only_on_seed_source_and_epoch():
    def batches_by_source(sampler: SourceSampler) -> dict[int, list[list[int]]]:
        batches: dict[int, list[list[int]]] = {0: [], 1: []}
        for source, indices in draw(sampler, 40):
            batches[source].append(indices)
        return batches

    # batch_size == size, so the k-th batch of a source is its whole permutation for epoch k
    uniform = batches_by_source(SourceSampler([8, 8], batch_size=8, alpha=0.0, seed=11))
    skewed = batches_by_source(SourceSampler([8, 8], batch_size=8, seed=11, weights=[1, 3]))
    for source in (0, 1):
        assert uniform[source][:3] == skewed[source][:3]
        assert sorted(uniform[source][0]) == list(range(8))


def test_same_seed_same_stream_other_seed_other_stream():
    assert draw(SourceSampler(SIZES, 4, seed=7), 50) == draw(SourceSampler(SIZES, 4, seed=7), 50)
    assert draw(SourceSampler(SIZES, 4, seed=7), 50) != draw(SourceSampler(SIZES, 4, seed=8), 50)


def test_resume_from_state_dict_matches_uninterrupted_run():
    sizes, k = [9, 30, 50], 37
    uninterrupted = SourceSampler(sizes, batch_size=4, seed=2)
    expected = draw(uninterrupted, k + 100)[k:]

    interrupted = SourceSampler(sizes, batch_size=4, seed=2)
    draw(interrupted, k)
    state = json.loads(json.dumps(interrupted.state_dict()))
    draw(interrupted, 5)  # drawing more from the old sampler must not matter

    resumed = SourceSampler(sizes, batch_size=4, seed=2)
    resumed.load_state_dict(state)
    assert draw(resumed, 100) == expected


def test_load_state_dict_rejects_a_different_setup():
    state = SourceSampler(SIZES, batch_size=4, seed=2).state_dict()
    with pytest.raises(ValueError, match=r"saved with sizes=\[100, 1000, 10000\], but this sampler has"):
        SourceSampler([100, 1000], batch_size=4, seed=2).load_state_dict(state)
    with pytest.raises(ValueError, match="batch_size=4, but this sampler has batch_size=8"):
        SourceSampler(SIZES, batch_size=8, seed=2).load_state_dict(state)
    with pytest.raises(ValueError, match="seed=2, but this sampler has seed=3"):
        SourceSampler(SIZES, batch_size=4, seed=3).load_state_dict(state)


def test_weights_multiply_n_to_the_alpha():
    weighted = SourceSampler(SIZES, batch_size=4, alpha=0.5, weights=[4.0, 1.0, 0.0])
    scores = np.sqrt(SIZES) * [4.0, 1.0, 0.0]
    np.testing.assert_allclose(weighted.probabilities, scores / scores.sum())
    assert {source for source, _ in draw(weighted, 2000)} == {0, 1}  # a weight of 0 turns a source off
    unit = SourceSampler(SIZES, batch_size=4, weights=[2.0, 2.0, 2.0])
    np.testing.assert_allclose(unit.probabilities, SourceSampler(SIZES, batch_size=4).probabilities)


def test_source_smaller_than_batch_is_an_error():
    with pytest.raises(ValueError, match=r"source 1 has 3 examples, fewer than the batch size 4"):
        SourceSampler([10, 3], batch_size=4)
    with pytest.raises(ValueError, match=r"source 1 \('tiny'\) has 3 examples, fewer than the batch size 4"):
        SourceSampler([10, 3], batch_size=4, names=["big", "tiny"])
    switched_off = SourceSampler([10, 3], batch_size=4, weights=[1.0, 0.0])  # never drawn: its size does not matter
    assert {source for source, _ in draw(switched_off, 50)} == {0}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sizes": []}, "at least one source"),
    ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"alpha": -0.5}, "alpha must be >= 0"),
    ({"alpha": float("nan")}, "alpha must be >= 0"),
    ({"seed": -1}, "seed must be >= 0"),
    ({"weights": [1.0, 2.0]}, "got 2 weights for 3 sources"),
    ({"weights": [1.0, -1.0, 1.0]}, "weights must be >= 0 with a positive sum"),
    ({"weights": [0.0, 0.0, 0.0]}, "weights must be >= 0 with a positive sum"),
    ({"names": ["a"]}, "got 1 names for 3 sources"),
])
def test_invalid_arguments(kwargs, message):
    arguments = {"sizes": SIZES, "batch_size": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        SourceSampler(arguments.pop("sizes"), arguments.pop("batch_size"), **arguments)


# ---------------------------------------------------------------- shards, caps and the streamed order
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_source_frequencies_pass_a_chi_square_test(alpha):
    """Sharded and capped sources: counts of 30,000 draws against p_i ∝ min(n_i, c_i)^α (fixed seed)."""
    from scipy.stats import chisquare

    sizes = [[40, 60], [500] * 4, [3000, 1000, 2000], 9000]
    caps = [None, None, 4000, 5000]  # counted as 100, 2000, 4000 and 5000 examples
    sampler = SourceSampler(sizes, batch_size=8, alpha=alpha, seed=4, caps=caps)
    counted = np.array([100, 2000, 4000, 5000], dtype=float)
    np.testing.assert_allclose(sampler.probabilities, counted**alpha / (counted**alpha).sum(), rtol=1e-12)
    draws = 30_000
    counts = np.bincount([sampler.next_batch()[0] for _ in range(draws)], minlength=4)
    result = chisquare(counts, draws * sampler.probabilities)
    assert result.pvalue > 1e-3, (counts, draws * sampler.probabilities)


def test_two_level_order_visits_every_row_once_per_epoch_shard_by_shard():
    shards = [5, 7, 3, 9, 0, 6]  # an empty shard is allowed
    batch_size = 4
    sampler = SourceSampler([shards], batch_size=batch_size, seed=9)
    starts = np.concatenate([[0], np.cumsum(shards)[:-1]])
    shard_of = np.repeat(np.arange(len(shards)), shards)  # (30,)
    per_epoch = sum(shards) // batch_size
    epochs = [np.concatenate([sampler.next_batch()[1] for _ in range(per_epoch)]) for _ in range(3)]
    for rows in epochs:
        assert len(set(rows.tolist())) == len(rows) == per_epoch * batch_size  # all but the < batch_size tail
        visited = shard_of[rows]
        runs = [int(s) for k, s in enumerate(visited) if k == 0 or s != visited[k - 1]]
        assert len(runs) == len(set(runs))  # a shard's rows come together: a shard is read once per epoch
        assert set(runs) <= {k for k, n in enumerate(shards) if n}
    assert epochs[0].tolist() != epochs[1].tolist() != epochs[2].tolist()
    # inside a shard, the order is a fresh permutation each epoch: a pure function of (seed, source, epoch, shard)
    again = SourceSampler([shards], batch_size=batch_size, seed=9)
    np.testing.assert_array_equal(again.examples(0, 1, 0, 8), epochs[1][:8])
    first_shard = shard_of[epochs[0][0]]
    rows_of_first = epochs[0][: shards[first_shard]] - starts[first_shard]
    assert sorted(rows_of_first.tolist()) == list(range(shards[first_shard]))


def test_state_round_trips_mid_shard_and_is_small():
    shards = [[50, 30, 20], [16, 16, 16, 16]]
    uninterrupted = SourceSampler(shards, batch_size=6, seed=5)
    expected = draw(uninterrupted, 60)
    interrupted = SourceSampler(shards, batch_size=6, seed=5)
    for k in range(1, 30):  # stop after every k and go on from the saved state
        sampler = SourceSampler(shards, batch_size=6, seed=5)
        sampler.load_state_dict(json.loads(json.dumps(interrupted.state_dict())))
        assert draw(sampler, 60 - k + 1) == expected[k - 1:]
        assert draw(interrupted, 1) == expected[k - 1 : k]
    state = interrupted.state_dict()
    mid_shard = [c for c, n in zip(state["cursors"], [100, 64], strict=True) if 0 < c < n]
    assert mid_shard and len(json.dumps(state)) < 1000


def test_a_billion_row_source_needs_one_shard_permutation_only():
    sampler = SourceSampler([[1_000_000] * 1000, 5_000], batch_size=1024, seed=0)
    assert sampler.sizes == [10**9, 5_000]
    for _ in range(20):
        source, rows = sampler.next_batch()
        assert rows.shape == (1024,) and rows.max() < sampler.sizes[source]
    held = sum(order.nbytes + ends.nbytes for _, order, ends in sampler._shard_orders.values())
    held += sum(rows.nbytes for _, _, rows in sampler._row_orders.values())
    assert held < 5_000_000  # one shard of 10^6 rows (int32) per source, not 10^9 rows (8 GB)


def test_caps_take_the_first_rows_of_each_epochs_order():
    sampler = SourceSampler([[10, 10, 10]], batch_size=4, seed=1, caps=[9])  # an epoch is 2 batches of its order
    for epoch in range(3):
        batches = [sampler.next_batch()[1] for _ in range(2)]
        np.testing.assert_array_equal(np.concatenate(batches), sampler.examples(0, epoch, 0, 8))
    assert sampler.state_dict()["epoch_sizes"] == [9]
    with pytest.raises(ValueError, match=r"source 0 \('a'\) has 3 examples \(capped from 30\), fewer than"):
        SourceSampler([[10, 10, 10]], batch_size=4, caps=[3], names=["a"])
    with pytest.raises(ValueError, match="a cap must be at least 1"):
        SourceSampler([30], batch_size=4, caps=[0])
    state = SourceSampler([[10, 20]], batch_size=4).state_dict()
    with pytest.raises(ValueError, match=r"saved with shards=\['2:.*'\], but this sampler has shards=\['2:"):
        SourceSampler([[20, 10]], batch_size=4).load_state_dict(state)  # same total, other shards
    with pytest.raises(ValueError, match=r"saved with epoch_sizes=\[30\], but this sampler has epoch_sizes=\[12\]"):
        SourceSampler([[10, 20]], batch_size=4, caps=[12]).load_state_dict(state)
    with pytest.raises(ValueError, match="sampler state version 1 is not 2"):
        SourceSampler([[10, 20]], batch_size=4).load_state_dict({**state, "version": 1})
