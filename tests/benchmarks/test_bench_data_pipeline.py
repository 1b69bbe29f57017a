"""The data pipeline benchmark at toy size: synthetic mixtures, a point in this process and in a fresh one."""

from __future__ import annotations

from benchmarks.data_pipeline import format_report, measure_point, run_data_pipeline_bench, synthetic_mixture
from gtekit.data.pairs import load_sources


def test_synthetic_mixture_has_geometric_sources_in_shards(tmp_path):
    synthetic_mixture(tmp_path, 3000, sources=3, rows_per_shard=500, query_words=3, positive_words=5)
    sources = load_sources([tmp_path])
    assert [len(s) for s in sources] == [1714, 857, 429]  # 1/2, 1/4, 1/8 of 3000, renormalised
    assert sources[0].shard_sizes == [500, 500, 500, 214]
    pair = next(sources[2].iter_pairs())
    assert len(pair.query.split()) == 3 and len(pair.positive.split()) == 5


def test_point_reports_peak_memory_and_pairs_per_second(tmp_path):
    synthetic_mixture(tmp_path, 2000, rows_per_shard=500, positive_words=8)
    point = measure_point(tmp_path, batch=32, batches=3, chunk=16, max_seq_length=32)
    assert point["pairs"] == 2000 and point["shards"] == 7 and point["batches_timed"] == 2  # 1067 = 500 + 500 + 67, ...
    assert point["peak_rss_mib"] >= point["rss_before_mib"] > 0 and point["pairs_per_s"] > 0
    assert point["resident_shards_peak"] <= 5  # one per source, plus one


def test_whole_benchmark_with_a_given_training_rate(tmp_path):
    record = run_data_pipeline_bench([1500], batch=32, batches=2, chunk=16, max_seq_length=32, sources=2,
                                     rows_per_shard=500, train_pairs_per_s=1.0, workdir=tmp_path, timeout=300)
    (point,) = record["points"]
    assert point["size"] == 1500 and point["pairs"] == 1500 and point["peak_rss_mib"] > 0
    assert record["ratio"] == round(point["pairs_per_s"], 2) and record["meets_target"] is (record["ratio"] >= 5)
    assert "pairs/s" in format_report(record)
    assert not list(tmp_path.iterdir())  # the synthetic mixtures are removed
