"""all-MiniLM-L6-v2 exported to ONNX: ONNX Runtime against gtekit's PyTorch encode and sentence-transformers."""

from __future__ import annotations

import numpy as np
import onnx  # noqa: F401  (export_onnx and OnnxEmbedder run on onnx and onnxruntime)
import onnxruntime  # noqa: F401
import pytest

from gtekit import Embedder
from gtekit.export import ExportSettings, OnnxEmbedder, export_onnx

SENTENCES = 400  # distinct STS-B test sentences


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.minilm
def test_minilm_onnx_matches_pytorch_and_sentence_transformers_on_stsb(tmp_path):
    from sentence_transformers import SentenceTransformer

    from gtekit.evaluation.tasks.sts import load_stsb
    from gtekit.model.model_files import resolve_model_folder

    data = load_stsb("test")
    texts = list(dict.fromkeys(data.sentences1 + data.sentences2))[:SENTENCES]
    model = Embedder.load("all-MiniLM-L6-v2")
    result = export_onnx(model, ExportSettings(tmp_path / "minilm", int8=True))
    assert result.manifest["dimension"] == 384 and result.manifest["normalized_output"]

    reference = model.encode(texts)
    fp32 = OnnxEmbedder.load(tmp_path / "minilm").encode(texts)
    assert row_cosines(fp32, reference).min() >= 0.999
    np.testing.assert_allclose(fp32, reference, atol=1e-5)
    theirs = SentenceTransformer(str(resolve_model_folder("all-MiniLM-L6-v2")), device="cpu").encode(texts)
    assert row_cosines(fp32, theirs).min() >= 0.999

    int8 = OnnxEmbedder.load(tmp_path / "minilm", int8=True).encode(texts)
    cosines = row_cosines(int8, reference)
    assert cosines.min() >= 0.95 and cosines.mean() >= 0.99  # measured over 2,000 sentences: 0.965 and 0.991
