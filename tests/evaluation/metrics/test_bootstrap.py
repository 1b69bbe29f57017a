"""Paired bootstrap intervals: against scipy's paired bootstrap and a naive loop, significance, seeding, and every
task type's main score as a function of its units."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import bootstrap

from gtekit.evaluation.metrics.bootstrap import (
    UnitScores,
    deltas_to_baseline,
    mean_of,
    paired_average_interval,
    paired_interval,
    resample_indices,
)
from gtekit.evaluation.runner import evaluate_tasks_with_units
from gtekit.evaluation.tasks.task_files import load_task_file
from tests.evaluation.tasks.test_task_files import make_task_files


def scores_pair(shift: float, units: int = 400, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 1, units)
    return base, np.clip(base + shift + rng.normal(0, 0.2, units), 0, 1)


def test_interval_matches_a_naive_loop() -> None:
    base, other = scores_pair(0.03)
    interval = paired_interval(mean_of(base), mean_of(other), "task", resamples=300, seed=7)
    draws = resample_indices(len(base), "task", resamples=300, seed=7)
    deltas = [np.mean([other[i] for i in row]) - np.mean([base[i] for i in row]) for row in draws]
    assert interval.delta == pytest.approx(other.mean() - base.mean(), abs=1e-12)
    assert interval.low == pytest.approx(np.percentile(deltas, 2.5), abs=1e-12)
    assert interval.high == pytest.approx(np.percentile(deltas, 97.5), abs=1e-12)


def test_interval_agrees_with_scipy_paired_bootstrap() -> None:
    base, other = scores_pair(0.02, units=600)
    ours = paired_interval(mean_of(base), mean_of(other), "t", resamples=4000, seed=3)
    reference = bootstrap((base, other), lambda a, b: np.mean(b) - np.mean(a), paired=True, vectorized=False,
                          n_resamples=4000, method="percentile", random_state=np.random.default_rng(3))
    width = ours.high - ours.low
    assert abs(ours.low - reference.confidence_interval.low) < 0.06 * width  # Monte Carlo error only
    assert abs(ours.high - reference.confidence_interval.high) < 0.06 * width


def test_significance_follows_the_effect() -> None:
    assert paired_interval(mean_of(scores_pair(0.05)[0]), mean_of(scores_pair(0.05)[1]), "t").significant
    base, _ = scores_pair(0.0)
    same = paired_interval(mean_of(base), mean_of(base), "t")
    assert (same.delta, same.low, same.high, same.significant) == (0.0, 0.0, 0.0, False)
    noise = np.random.default_rng(5).normal(0, 0.2, len(base))
    assert not paired_interval(mean_of(base), mean_of(base + noise - noise.mean()), "t").significant


def test_draws_are_seeded_by_seed_and_task() -> None:
    a = resample_indices(50, "STSBenchmark", resamples=20, seed=0)
    assert np.array_equal(a, resample_indices(50, "STSBenchmark", resamples=20, seed=0))
    assert not np.array_equal(a, resample_indices(50, "LeeReranking", resamples=20, seed=0))
    assert not np.array_equal(a, resample_indices(50, "STSBenchmark", resamples=20, seed=1))


def test_average_interval_averages_replicates() -> None:
    tasks = {"a": tuple(map(mean_of, scores_pair(0.04, seed=1))), "b": tuple(map(mean_of, scores_pair(-0.01, seed=2)))}
    interval = paired_average_interval(tasks, resamples=200)
    singles = [paired_interval(*tasks[name], name, resamples=200) for name in tasks]
    assert interval.delta == pytest.approx(np.mean([s.delta for s in singles]))
    assert min(s.low for s in singles) <= interval.low <= interval.high <= max(s.high for s in singles)
    out = deltas_to_baseline({k: v[0] for k, v in tasks.items()}, {k: v[1] for k, v in tasks.items()}, resamples=200)
    assert set(out["tasks"]) == {"a", "b"} and out["average"]["delta"] == pytest.approx(interval.delta)


def test_units_must_match() -> None:
    with pytest.raises(ValueError, match="same units"):
        paired_interval(mean_of([1.0, 0.0]), mean_of([1.0, 0.0, 1.0]), "t")
    with pytest.raises(ValueError, match="resamples must be positive"):
        resample_indices(3, "t", resamples=0)


def test_every_task_type_gives_its_main_score_on_all_units(tmp_path, tiny_embedder) -> None:
    tasks = [load_task_file(path) for path in make_task_files(tmp_path)]
    results, units = evaluate_tasks_with_units(tiny_embedder, tasks, use_cache=False)
    assert set(units) == set(results) and len(units) == 8
    for name, scores in results.items():
        assert isinstance(units[name], UnitScores)
        assert units[name].full() == pytest.approx(scores["main_score"], abs=1e-12), name
        resampled = units[name].statistic(np.zeros(units[name].units, dtype=int) + units[name].units - 1)
        assert np.isnan(resampled) or -1.0 <= resampled <= 1.0, name
