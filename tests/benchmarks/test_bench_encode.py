"""The encoding benchmark at toy size: gtekit's rows give sentence-transformers' embeddings, the report adds up."""

from __future__ import annotations

import pytest

from benchmarks.encode import REFERENCE, benchmark_texts, format_report, run_encode_bench


def test_texts_mix_sentences_docstrings_and_code():
    texts = benchmark_texts(40, seed=1)
    assert len(texts) == 40 and texts == benchmark_texts(40, seed=1)
    assert sum(text.lstrip().startswith(("def ", "class ", "async def ")) for text in texts) == 6  # 15 % code


@pytest.mark.slow
def test_tiny_model_rows_equal_sentence_transformers(tiny_model_dir):
    record = run_encode_bench(str(tiny_model_dir), n_texts=24, repeats=1, bf16_texts=4, bf16=True, onnx=False,
                              int8=True, peak_seconds=0.01, peak_tokens=64, processes=1, log=lambda _: None)
    rows = {row["system"]: row for row in record["systems"]}
    assert set(rows) == {REFERENCE, "gtekit b32 inline", "gtekit b32", "gtekit", "gtekit torch int8",
                         f"{REFERENCE} bf16", "gtekit bf16"}
    for name in ("gtekit b32 inline", "gtekit b32", "gtekit"):
        assert rows[name]["equal_embeddings"] and rows[name]["min_cosine_to_reference"] > 0.9999
    assert rows[REFERENCE]["speedup_wall"] == 1.0 and rows["gtekit bf16"]["texts"] == 4
    assert rows["gtekit bf16"]["min_cosine_to_reference"] > 0.99  # against sentence-transformers under bf16 autocast
    assert 0.9 < rows["gtekit torch int8"]["min_cosine_to_reference"] < 1  # against fp32: close, not equal
    assert record["texts"]["count"] == 24 and record["texts"]["useful_flops"] > 0
    report = format_report(record)
    assert "CHECK FAILED" not in report and "gtekit torch int8" in report
