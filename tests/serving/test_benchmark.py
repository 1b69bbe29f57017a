"""The serving load benchmark at toy size: the tiny model served in a subprocess, no errors, exit 0."""

from __future__ import annotations

import pytest

from benchmarks.serving import format_report, request_texts, run_serving_bench, warm_up_texts


def test_requests_are_seeded_real_sentences():
    requests = request_texts(50, 16, seed=3)
    assert requests == request_texts(50, 16, seed=3) != request_texts(50, 16, seed=4)
    assert all(1 <= len(texts) <= 16 for texts in requests) and len({len(t) for t in requests}) > 5
    assert all(isinstance(text, str) and " " in text for texts in requests for text in texts)
    warm = warm_up_texts(requests, 3, 16)
    longest = max(len(text) for texts in requests for text in texts)
    assert len(warm) == 3 and len(warm[0]) == 16 and max(map(len, warm[0])) == longest


@pytest.mark.slow
def test_benchmark_runs_without_errors(tiny_model_dir):
    import fastapi  # noqa: F401  (the server under test)

    record = run_serving_bench(str(tiny_model_dir), 12, (1, 4), max_texts=4, log=lambda _: None)
    assert record["errors"] == 0 and record["exit_code_after_sigterm"] == 0
    assert [level["concurrency"] for level in record["levels"]] == [1, 4]
    for level in record["levels"]:
        assert level["requests"] == 12 and level["texts"] == record["settings"]["texts"]
        assert level["texts_per_s"] > 0 and level["p99_ms"] >= level["p50_ms"] > 0
        assert 1 <= level["texts_per_model_call"] <= 32
    assert record["in_process_baseline"]["texts_per_s"] > 0
    assert record["rss_mib"]["after_warm_up"] > 0 and record["rss_growth_mib"] is not None
    assert record["rss_growth_across_levels_mib"] is not None
    report = format_report(record)
    for expected in ("texts/s", "p99 ms", "Embedder.encode", "exit code after SIGTERM: 0"):
        assert expected in report
