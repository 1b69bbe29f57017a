"""The search benchmark at toy size: exact float32 search scores recall 1, compact precisions report sizes."""

from __future__ import annotations

from benchmarks.search import markdown_table, run_search_bench


def test_search_bench_reports_every_configuration(tmp_path):
    record = run_search_bench(num_docs=600, num_queries=20, dim=16, configs=["flat/float32", "flat/binary",
                                                                             "hnsw/int8"],
                              clusters=10, shard_size=250, sweep=(1, 8), workdir=tmp_path, log=lambda _: None)
    flat, binary, hnsw = record["points"]
    assert flat["plain"]["recall"] == 1.0 and "rescored" not in flat
    assert binary["rescored"]["recall"] >= binary["plain"]["recall"]
    assert binary["index_mib"] < flat["index_mib"] and binary["rescore_store_mib"] > 0
    assert hnsw["factory"] == "HNSW32,SQ8" and hnsw["rescored"]["latency_ms_p50"] > 0
    assert binary["multipliers"][8]["recall"] >= binary["multipliers"][1]["recall"]
    assert markdown_table(record).count("\n") == 4 + 3 + 4  # 3 points; a blank line, 2 header lines, 2 x 2 sweeps
