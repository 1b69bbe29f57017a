"""ONNX export of tiny random embedders, checked against Embedder.encode (PyTorch) and run by onnxruntime."""

from __future__ import annotations

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from gtekit import Embedder
from gtekit.export import ExportSettings, ExportVerificationError, OnnxEmbedder, OptionalDependencyError, export_onnx
from gtekit.export.runtime import MANIFEST, POOLED_OUTPUT, SENTENCE_OUTPUT
from gtekit.model.model_files import ModelNotFoundError, read_settings
from tests.helpers import make_tiny_embedder

TEXTS = [
    "A man is playing a guitar.",
    "",
    "def add(a, b):\n    return a + b",
    "Ünïcödé — “quotes” 🙂 東京",
    "word " * 200,  # truncated at max_seq_length
    "what is the capital of france",
    "Paris is the capital and most populous city of France.",
    "42",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
]
PREFIXES = {"query_prefix": "query: ", "document_prefix": "passage: "}
EXACT = 1e-5  # fp32 ONNX Runtime against PyTorch: both normalised, the same math in another order


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


@pytest.fixture(scope="module")
def mean_export(tiny_model_dir, tmp_path_factory):
    """The session's tiny mean-pooling model (no prefixes), exported with int8."""
    folder = tmp_path_factory.mktemp("export") / "mean"
    result = export_onnx(tiny_model_dir, ExportSettings(folder, int8=True))
    return Embedder.load(tiny_model_dir), folder, result


@pytest.fixture(scope="module")
def cls_prefixed_export(tmp_path_factory):
    """CLS pooling, query/document prefixes, no normalisation in the model's settings."""
    model = make_tiny_embedder(pooling="cls", normalize=False, max_seq_length=48, **PREFIXES)
    folder = tmp_path_factory.mktemp("export") / "cls"
    export_onnx(model, ExportSettings(folder))
    return model, folder


@pytest.mark.parametrize("kind", [None, "query", "document"])
@pytest.mark.parametrize("normalize", [None, True, False])
def test_mean_pooling_equals_pytorch(mean_export, kind, normalize):
    model, folder, _ = mean_export
    exported = OnnxEmbedder.load(folder)
    ours = exported.encode(TEXTS, batch_size=4, kind=kind, normalize=normalize)
    reference = model.encode(TEXTS, batch_size=4, kind=kind, normalize=normalize)
    assert ours.dtype == np.float32 and ours.shape == reference.shape == (len(TEXTS), 32)
    assert cosines(ours, reference).min() >= 0.999
    np.testing.assert_allclose(ours, reference, atol=EXACT)


@pytest.mark.parametrize("kind", [None, "query", "document"])
@pytest.mark.parametrize("normalize", [None, True])
def test_cls_pooling_with_prefixes_equals_pytorch(cls_prefixed_export, kind, normalize):
    model, folder = cls_prefixed_export
    exported = OnnxEmbedder.load(folder, threads=1)
    ours = exported.encode(TEXTS, batch_size=3, kind=kind, normalize=normalize)
    reference = model.encode(TEXTS, batch_size=3, kind=kind, normalize=normalize)
    assert cosines(ours, reference).min() >= 0.999
    np.testing.assert_allclose(ours, reference, atol=EXACT * max(1.0, float(np.abs(reference).max())))
    if kind == "query":  # the prefix reached the graph: embeddings differ from the unprefixed ones
        assert np.abs(ours - exported.encode(TEXTS, batch_size=3, normalize=normalize)).max() > 1e-3


def test_last_token_pooling_with_delimiters_equals_pytorch(tmp_path):
    model = make_tiny_embedder(pooling="last", delimiters=True, **PREFIXES)
    model.train()
    attention = model.encoder.config._attn_implementation
    export_onnx(model, ExportSettings(tmp_path / "last"))
    assert model.training and model.encoder.config._attn_implementation == attention  # left as it was
    exported = OnnxEmbedder.load(tmp_path / "last")
    for kind in (None, "query", "document"):
        np.testing.assert_allclose(exported.encode(TEXTS, kind=kind), model.encode(TEXTS, kind=kind), atol=EXACT)


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_dynamic_batch_and_sequence_axes(mean_export, batch_size):
    """The dummy batch was 2 texts of <= 20 tokens; the graph takes any batch size and length up to max_seq_length."""
    model, folder, _ = mean_export
    exported = OnnxEmbedder.load(folder)
    texts = [" ".join(["token"] * n) for n in (1, 7, 30, 61, 200, 0, 3)]  # up to 64 tokens after truncation
    lengths = set()
    for start in range(0, len(texts), batch_size):
        batch = texts[start:start + batch_size]
        inputs = exported.tokenize(batch)
        lengths.add(inputs["input_ids"].shape[1])
        ours = exported.session.run([POOLED_OUTPUT], inputs)[0]
        with torch.no_grad():
            reference = model.eval()(model.tokenize(batch)).numpy()
        np.testing.assert_allclose(ours, reference, atol=EXACT * max(1.0, float(np.abs(reference).max())))
    assert max(lengths) == 64 and (batch_size > 1 or min(lengths) == 2)  # "" is [CLS] [SEP]


def test_graph_declares_symbolic_axes(mean_export):
    _, folder, _ = mean_export
    graph = onnx.load(str(folder / "model.onnx")).graph
    def dims(values) -> dict[str, list]:
        return {value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim] for value in values}

    inputs = ("input_ids", "attention_mask", "token_type_ids")
    assert dims(graph.input) == {name: ["batch", "sequence"] for name in inputs}
    assert dims(graph.output) == {SENTENCE_OUTPUT: ["batch", 32], POOLED_OUTPUT: ["batch", 32]}


def test_sentence_output_is_normalised_in_the_graph_when_the_model_normalises(mean_export, cls_prefixed_export):
    _, folder, _ = mean_export
    session = OnnxEmbedder.load(folder).session
    inputs = OnnxEmbedder.load(folder).tokenize(TEXTS)
    sentence, pooled = session.run([SENTENCE_OUTPUT, POOLED_OUTPUT], inputs)
    np.testing.assert_allclose(np.linalg.norm(sentence, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(sentence, pooled / np.linalg.norm(pooled, axis=1, keepdims=True), atol=1e-6)
    _, cls_folder = cls_prefixed_export  # normalize=False: both outputs are the raw pooled vector
    exported = OnnxEmbedder.load(cls_folder)
    sentence, pooled = exported.session.run([SENTENCE_OUTPUT, POOLED_OUTPUT], exported.tokenize(TEXTS))
    np.testing.assert_array_equal(sentence, pooled)
    assert np.abs(np.linalg.norm(pooled, axis=1) - 1).max() > 0.1


def test_int8_graph_is_quantised_and_stays_close(mean_export):
    model, folder, result = mean_export
    fp32, int8 = OnnxEmbedder.load(folder), OnnxEmbedder.load(folder, int8=True)
    assert int8.precision.value == "int8" and int8.source.endswith(":int8")
    ops = {node.op_type for node in onnx.load(str(folder / "model_int8.onnx")).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops or "DynamicQuantizeMatMul" in ops
    assert (folder / "model_int8.onnx").stat().st_size < 0.4 * (folder / "model.onnx").stat().st_size
    reference = model.encode(TEXTS)
    quantised = int8.encode(TEXTS)
    assert np.abs(quantised - fp32.encode(TEXTS)).max() > 1e-5  # really another graph
    assert cosines(quantised, reference).min() >= 0.999  # tiny model: 0.99998 measured
    assert result.agreement["int8"].min_cosine >= 0.999


def test_folder_is_self_describing(mean_export, cls_prefixed_export):
    model, folder, result = mean_export
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["format"] == "gtekit-onnx" and manifest["version"] == 1
    assert manifest["model"] == str(model.source) and manifest["opset"] == 17 and manifest["dimension"] == 32
    assert manifest["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert manifest["versions"]["onnxruntime"] == ort.__version__
    assert set(manifest["files"]) == {"fp32", "int8"}
    assert manifest["files"]["fp32"]["verified"]["min_cosine"] >= 0.999
    assert manifest["files"]["fp32"]["bytes"] == (folder / "model.onnx").stat().st_size
    assert manifest == result.manifest
    assert read_settings(folder) == model.settings
    cls_model, cls_folder = cls_prefixed_export
    assert read_settings(cls_folder) == cls_model.settings  # prefixes, cls, no normalisation, length 48
    assert json.loads((cls_folder / "config_sentence_transformers.json").read_text())["prompts"] == {
        "query": "query: ", "document": "passage: "}
    assert json.loads((cls_folder / "1_Pooling" / "config.json").read_text())["pooling_mode_cls_token"]


def test_optimized_graph_is_fused_and_agrees(tiny_model_dir, tmp_path):
    result = export_onnx(tiny_model_dir, ExportSettings(tmp_path / "optimized", optimize=True, int8=True))
    ops = {node.op_type for node in onnx.load(str(tmp_path / "optimized" / "model.onnx")).graph.node}
    assert {"Attention", "SkipLayerNormalization"} <= ops
    assert result.manifest["optimized"] and result.manifest["fused_operators"]["Attention"] == 2
    model = Embedder.load(tiny_model_dir)
    np.testing.assert_allclose(OnnxEmbedder.load(tmp_path / "optimized").encode(TEXTS), model.encode(TEXTS),
                               atol=EXACT)
    int8 = OnnxEmbedder.load(tmp_path / "optimized", int8=True)
    assert cosines(int8.encode(TEXTS), model.encode(TEXTS)).min() > 0.999


# ----------------------------------------------------------------- errors
def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        export_onnx(tmp_path / "no-such-model", ExportSettings(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_existing_non_empty_folder_needs_overwrite(tiny_model_dir, tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match=r"not empty.*--overwrite"):
        export_onnx(tiny_model_dir, ExportSettings(target))
    assert (target / "notes.txt").read_text() == "keep me"
    export_onnx(tiny_model_dir, ExportSettings(target, overwrite=True))
    assert not (target / "notes.txt").exists() and (target / "model.onnx").is_file()
    (tmp_path / "empty").mkdir()
    export_onnx(tiny_model_dir, ExportSettings(tmp_path / "empty"))  # an empty folder is fine
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="not a folder"):
        export_onnx(tiny_model_dir, ExportSettings(tmp_path / "file"))


def test_unsupported_opset_lists_the_valid_ones(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match=r"valid: 14\.\.20"):
        export_onnx(tiny_model_dir, ExportSettings(tmp_path / "out", opset=13))


def test_disagreeing_graph_fails_and_writes_nothing(tiny_model_dir, tmp_path, monkeypatch):
    def wrong(self, texts, **kwargs):
        return np.random.default_rng(0).normal(size=(len(texts), self.dimension)).astype(np.float32)

    monkeypatch.setattr(OnnxEmbedder, "encode", wrong)
    with pytest.raises(ExportVerificationError, match="minimum cosine"):
        export_onnx(tiny_model_dir, ExportSettings(tmp_path / "out"))
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []


def test_missing_onnxruntime_names_the_extra(mean_export, tiny_model_dir, tmp_path, monkeypatch):
    _, folder, _ = mean_export
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with pytest.raises(OptionalDependencyError, match=r"pip install 'gtekit\[onnx\]'"):
        OnnxEmbedder.load(folder)
    with pytest.raises(ImportError, match=r"gtekit\[onnx\]"):
        export_onnx(tiny_model_dir, ExportSettings(tmp_path / "out"))


def test_loading_errors(mean_export, cls_prefixed_export, tmp_path):
    _, cls_folder = cls_prefixed_export
    with pytest.raises(FileNotFoundError, match=r"no int8 graph.*--int8"):
        OnnxEmbedder.load(cls_folder, int8=True)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        OnnxEmbedder.load(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="not a gtekit ONNX export"):
        OnnxEmbedder.load(tmp_path)
    (tmp_path / MANIFEST).write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="expected 'gtekit-onnx'"):
        OnnxEmbedder.load(tmp_path)
    _, folder, _ = mean_export
    with pytest.raises(ValueError, match="threads must be >= 1"):
        OnnxEmbedder.load(folder, threads=0)
    with pytest.raises(ValueError, match="unknown text kind"):
        OnnxEmbedder.load(folder).encode(["a"], kind="passage")


def test_encode_edge_cases(mean_export):
    model, folder, _ = mean_export
    exported = OnnxEmbedder.load(folder)
    assert exported.encode([]).shape == (0, 32)
    np.testing.assert_allclose(exported.encode("a cat"), model.encode("a cat"), atol=EXACT)
    assert exported.dimension == model.dimension == 32
    assert exported.prepare(["x"], kind="query") == model.prepare(["x"], kind="query")
