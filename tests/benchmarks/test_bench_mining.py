"""The mining benchmark at toy size: inputs, then both systems in fresh processes selecting the same negatives."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.mining import run_mining_bench, write_inputs


def test_inputs_plant_near_duplicates_of_positives(tmp_path):
    write_inputs(tmp_path, num_docs=500, num_queries=40, dim=16, planted=0.25, seed=0)
    docs, queries = np.load(tmp_path / "docs.npy"), np.load(tmp_path / "queries.npy")
    positives = [int(json.loads(line)["positive"][1:]) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1, rtol=1e-5)
    assert 0.5 < np.mean(np.sum(queries * docs[positives], axis=1)) < 0.9
    twins = (docs[positives[:10]] @ docs.T > 0.99).sum(axis=1)
    assert (twins == 2).all()  # the positive and its planted near-duplicate
    assert (tmp_path / "corpus.txt").read_text().splitlines()[:2] == ["d0", "d1"]


@pytest.mark.slow
def test_both_systems_select_the_same_negatives(tmp_path):
    record = run_mining_bench(num_docs=2000, num_queries=100, dim=32, planted=0.2, workdir=tmp_path, log=lambda _: None)
    assert record["same_negatives"] and record["queries_compared"] > 0
    assert record["planted_false_negatives_dropped"] >= 20
    assert record["gtekit"]["index"] == "flat"
    for system in ("gtekit", "sentence_transformers"):
        assert record[system]["peak_rss_mib"] >= record[system]["rss_before_mib"] > 0
    assert record["time_ratio"] > 0 and record["memory_ratio"] > 0
