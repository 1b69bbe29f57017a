"""`gtekit export onnx`: the command round trip and its error messages."""

from __future__ import annotations

import json

import numpy as np
import onnx  # noqa: F401  (the export writes with onnx; OnnxEmbedder runs on onnxruntime)
import onnxruntime  # noqa: F401
import pytest

from gtekit import Embedder
from gtekit.cli.main import main
from gtekit.export import OnnxEmbedder

TEXTS = ["a cat sits on the mat", "", "def f(x):\n    return x", "word " * 100]


def test_export_onnx_round_trip(tiny_model_dir, tmp_path, capsys):
    output = tmp_path / "exported"
    assert main(["export", "onnx", str(tiny_model_dir), str(output), "--int8", "--opset", "18"]) == 0
    printed = capsys.readouterr().out
    assert f"to {output}" in printed and "model.onnx" in printed and "model_int8.onnx" in printed
    assert "minimum cosine 1.000000" in printed
    manifest = json.loads((output / "export_manifest.json").read_text())
    assert manifest["opset"] == 18 and manifest["model"] == str(tiny_model_dir) and not manifest["optimized"]
    reference = Embedder.load(tiny_model_dir).encode(TEXTS)
    np.testing.assert_allclose(OnnxEmbedder.load(output).encode(TEXTS), reference, atol=1e-5)
    assert (OnnxEmbedder.load(output, int8=True).encode(TEXTS) * reference).sum(axis=1).min() >= 0.999

    assert main(["export", "onnx", str(tiny_model_dir), str(output)]) == 2  # exists, no --overwrite
    error = capsys.readouterr().err
    assert "gtekit export: error:" in error and "not empty" in error and "--overwrite" in error
    assert main(["export", "onnx", str(tiny_model_dir), str(output), "--overwrite"]) == 0
    assert not (output / "model_int8.onnx").exists()  # replaced whole


def test_export_onnx_errors(tmp_path, capsys):
    assert main(["export", "onnx", str(tmp_path / "missing-model"), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "gtekit export: error:" in error and "missing-model" in error and "does not exist" in error
    assert main(["export", "onnx", "all-MiniLM-L6-v2", str(tmp_path / "out"), "--opset", "9"]) == 2
    assert "valid: 14..20" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_export_help_lists_formats_and_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "onnx", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for expected in ("--int8", "--opset", "--optimize", "--overwrite", "examples:", "model_int8.onnx",
                     "pip install 'gtekit[onnx]'"):
        assert expected in text
    with pytest.raises(SystemExit):
        main(["export"])  # a format is required
    assert "onnx" in capsys.readouterr().err
