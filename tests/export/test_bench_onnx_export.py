"""benchmarks/onnx_export.py at toy scale: every system runs, agrees with PyTorch, and the record is written."""

from __future__ import annotations

import json

import onnx  # noqa: F401  (the benchmark exports and runs ONNX models)
import onnxruntime  # noqa: F401

SYSTEMS = {"torch fp32", "onnx fp32", "onnx int8", "onnx fp32 --optimize", "onnx int8 --optimize"}


def test_speed_ups_are_ratios_to_pytorch():
    from benchmarks.onnx_export import speed_ups

    ratios = speed_ups({"torch fp32": [2.0, 8.0, 4.0], "onnx fp32": [1.0, 2.0, 4.0]})
    assert ratios["torch fp32"] == {"of_medians": 1.0, "per_round_median": 1.0}
    assert ratios["onnx fp32"] == {"of_medians": 2.0, "per_round_median": 2.0}  # 4/2; rounds: 2, 4, 1


def test_benchmark_runs_every_system(tiny_model_dir, tmp_path, capsys):
    from benchmarks.onnx_export import main

    record = main(["--model", str(tiny_model_dir), "--texts", "24", "--rounds", "2", "--batch-size", "8",
                   "--threads", "1", "--skip-quality", "--output-dir", str(tmp_path)])
    assert set(record["seconds"]) == SYSTEMS and all(len(v) == 2 for v in record["seconds"].values())
    for name in ("onnx fp32", "onnx fp32 --optimize"):
        assert record["agreement"][name]["min_cosine"] >= 0.999
    for name in ("onnx int8", "onnx int8 --optimize"):
        assert record["agreement"][name]["min_cosine"] >= 0.99
    (written,) = tmp_path.glob("onnx-export-*.json")
    assert json.loads(written.read_text())["seconds"] == record["seconds"]
    assert "| onnx int8 |" in capsys.readouterr().out
