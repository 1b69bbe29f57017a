"""The throughput harness end to end on a tiny random model that both systems load from one folder."""

from __future__ import annotations

import pytest
import sentence_transformers  # noqa: F401  (the throughput benchmark compares against it)

from benchmarks.throughput import FP32_RTOL, RunConfig, add_utilisation, check_losses, compare, measure
from gtekit import Embedder
from gtekit.data.pairs import Pair

PAIRS = [Pair(f"what does helper number {i} do " * (1 + i % 4),
              f"def helper_{i}(x):\n    return x * {i}\n" * (1 + i % 3)) for i in range(8)]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench-tiny")
    Embedder.from_config("all-MiniLM-L6-v2", hidden_size=32, num_layers=2, num_heads=2, seed=0).save(folder)
    return str(folder)


def test_both_systems_run_and_their_losses_agree(tiny_folder):
    configs = [RunConfig("gtekit", 8, 4), RunConfig("sentence-transformers", 8, 4),
               RunConfig("sentence-transformers", 8, 4, token_budget=48),
               RunConfig("gtekit", 8, 4, overrides=("train.loss_block_size=3", "train.prefetch=false"))]
    results = measure(configs, tiny_folder, PAIRS, repeats=1, max_seq_length=128, log=lambda _: None)
    gtekit, st, packed, blocked = results
    assert blocked["name"] == "gtekit fp32 chunk 4 train.loss_block_size=3 train.prefetch=false (batch 8)"
    assert blocked["check_loss"] == pytest.approx(gtekit["check_loss"], rel=FP32_RTOL)

    checks = check_losses(results)
    assert [c["name"] for c in checks] == [st["name"], packed["name"], blocked["name"]]  # each against gtekit
    assert all(c["ok"] and c["rel_diff"] <= FP32_RTOL for c in checks), checks
    assert st["check_loss"] == pytest.approx(gtekit["check_loss"], rel=FP32_RTOL)

    for r in results:
        assert len(r["seconds"]) == len(r["train_losses"]) == 1
        assert r["pairs_per_s"] == pytest.approx(8 / r["median_s"])
        assert 0 < r["useful_tokens"] <= r["executed_tokens"]
        assert 0 < r["useful_flops"] <= r["executed_flops"]
    assert gtekit["useful_tokens"] == st["useful_tokens"] == packed["useful_tokens"]  # the same tokens
    assert gtekit["encoder_calls"] == st["encoder_calls"] == 4  # 2 columns x 2 chunks of 4
    assert gtekit["executed_tokens"] <= st["executed_tokens"]  # chunks by length pad less

    add_utilisation(results, {"fp32": {"peak_flop_per_s": 1e12}})
    assert gtekit["useful_mfu"] == pytest.approx(gtekit["useful_flop_per_s"] / 1e12)
    (comparison,) = compare(results)
    ours = max(gtekit["pairs_per_s"], blocked["pairs_per_s"])
    theirs = max(st["pairs_per_s"], packed["pairs_per_s"])
    assert comparison["ratio_pairs_per_s"] == pytest.approx(ours / theirs)


def test_unknown_system_lists_the_valid_ones(tiny_folder):
    with pytest.raises(ValueError, match="gtekit, sentence-transformers"):
        measure([RunConfig("other", 8, 4)], tiny_folder, PAIRS, repeats=1)
