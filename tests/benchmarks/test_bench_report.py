"""The JSON record is written atomically and the report renders every part."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from benchmarks.report import render, result_path, write_json_atomic


def test_write_json_atomic_writes_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "results" / "run.json"
    write_json_atomic(path, {"a": 1, "name": "gtekit ≤8192 tokens"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": 1, "name": "gtekit ≤8192 tokens"}
    write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.json"]


def test_write_json_atomic_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "run.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"a": object()})  # not JSON: fails half-way through the temporary file
    assert json.loads(path.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_result_path_names_date_time_and_host(tmp_path):
    path = result_path(tmp_path, datetime(2025, 3, 4, 5, 6, 7), host="my host/1")
    assert path == tmp_path / "train-bench-20250304-050607-my_host_1.json"


def test_render_every_part():
    result = {"name": "gtekit fp32 chunk 4 (batch 8)", "pairs_per_s": 2.0, "tokens_per_s": 300.0, "median_s": 4.0,
              "padding_share": 0.25, "useful_flop_per_s": 2e9, "executed_flop_per_s": 3e9, "useful_mfu": 0.02,
              "executed_mfu": 0.03, "check_loss": 1.5}
    record = {
        "machine": {"cpu_model": "CPU", "torch_threads": 2, "torch": "2", "sentence_transformers": "6", "host": "h"},
        "settings": {"repeats": 3},
        "load_average": {"start": [3.5, 2.0, 1.0], "end": [0.1, 0.1, 0.1]},
        "peaks": {"fp32": {"peak_flop_per_s": 1e11, "shapes": [{"shape": [2, 3, 4], "flop_per_s": 1e11, "calls": 5}]}},
        "throughput": [result],
        "loss_checks": [{"name": "st", "loss": 1.5, "reference_loss": 1.5, "rel_diff": 0.0, "rtol": 1e-4, "ok": True}],
        "comparisons": [{"batch": 8, "gtekit": "a", "sentence_transformers_best": "b", "ratio_pairs_per_s": 1.25}],
        "memory": {"chunk": 64, "block": 16, "points": [
            {"kind": "step", "n": 8, "rss_before_mib": 400.0, "peak_mib": 900.0},
            {"kind": "loss", "n": 8, "block": 0, "rss_before_mib": 200.0, "peak_mib": 210.0, "seconds": 0.5},
            {"kind": "loss", "n": 8, "block": 16, "error": "no rows"},
            {"kind": "loss", "n": 32, "block": 0, "rss_before_mib": 200.0, "peak_mib": 260.0, "seconds": 1.0},
            {"kind": "loss", "n": 64, "block": 0, "skipped": "needs ~21.0 GiB, 18.0 GiB available"}]},
    }
    text = render(record)
    for expected in ("fp32 peak", "100.0", "gtekit fp32 chunk 4 (batch 8)", "1.25x", "900 (+500)", "210 (+10) 0.5s",
                     "failed", "loss only", "full step", "skipped (needs ~21.0 GiB)", "shared with other work"):
        assert expected in text
