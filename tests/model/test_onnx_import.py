"""ONNX -> BertModel conversion, checked on the real paraphrase-MiniLM-L3-v2 graph against onnxruntime."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from transformers import BertConfig, BertModel

from gtekit import Embedder
from gtekit.model.onnx_import import convert_onnx, paraphrase_minilm_l3_v2_onnx, read_onnx_bert

ONNX_PREFIX = "model.0.auto_model."  # how this export names the tensors it kept under their PyTorch names
POOLED_OUTPUT = "461"  # the graph's mean-pooled embedding (not normalised)
SENTENCES = [
    "A man is playing a guitar.",
    "A woman is slicing an onion in the kitchen.",
    "The stock market fell sharply after the announcement.",
    "How do I reset my password?",
    "def add(a, b):\n    return a + b",
    "SELECT name, COUNT(*) FROM users GROUP BY name HAVING COUNT(*) > 1;",
    "short",
    "",
    "42",
    "3.14159 is approximately pi, and e is about 2.71828.",
    "Ünïcödé text — with dashes, “quotes” and émojis 🙂",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "東京は日本の首都です。",
    "The quick brown fox jumps over the lazy dog " * 40,  # longer than max_seq_length: truncated
    "what is the capital of france",
    "Paris is the capital and most populous city of France.",
    "!!! ??? ... ---",
    "https://example.com/path?query=1&other=two#fragment",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "I can't believe it's not butter!",
    "   leading and trailing spaces   ",
]


@pytest.fixture(scope="module")
def onnx_file():
    import onnx  # noqa: F401  (the conversion reads the file with onnx)

    return paraphrase_minilm_l3_v2_onnx()


@pytest.fixture(scope="module")
def bert(onnx_file):
    return read_onnx_bert(onnx_file)


def test_config_is_read_from_the_graph(bert):
    assert bert.config == {
        "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 3, "num_attention_heads": 12,
        "intermediate_size": 1536, "hidden_act": "gelu", "max_position_embeddings": 512, "type_vocab_size": 2,
        "layer_norm_eps": 1e-12}
    assert sum(array.size for array in bert.state_dict.values()) == 17_241_984  # every float in the graph


def test_structural_mapping_agrees_with_the_names_the_exporter_kept(onnx_file, bert):
    import onnx
    from onnx import numpy_helper

    expected = set(BertModel(BertConfig(**bert.config)).state_dict()) - {"pooler.dense.weight", "pooler.dense.bias"}
    assert set(bert.state_dict) == expected
    graph = onnx.load(str(onnx_file)).graph
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    matmul_names = {}  # initializer -> the PyTorch module named in its MatMul node, e.g. encoder.layer.0...query
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in initializers:
            module = node.name.removeprefix("/model/model.0/auto_model/").removesuffix("/MatMul")
            matmul_names[node.input[1]] = module.replace("/", ".") + ".weight"
    assert len(matmul_names) == 18  # 6 per layer
    for name, source in bert.sources.items():
        if source.startswith(ONNX_PREFIX):  # biases, LayerNorms, embeddings: named by the exporter
            assert source == ONNX_PREFIX + name
            np.testing.assert_array_equal(bert.state_dict[name], initializers[source])
        else:  # onnx::MatMul_470 and friends: only the node name tells what they are
            assert matmul_names[source] == name
            np.testing.assert_array_equal(bert.state_dict[name], initializers[source].T)


def test_mapping_needs_no_tensor_names(onnx_file, bert, tmp_path):
    """Rename every initializer to an opaque name: the same weights land in the same places."""
    import onnx

    model = onnx.load(str(onnx_file))
    renamed = {tensor.name: f"w{index}" for index, tensor in enumerate(model.graph.initializer)}
    for tensor in model.graph.initializer:
        tensor.name = renamed[tensor.name]
    for node in model.graph.node:
        node.name = ""
        node.input[:] = [renamed.get(name, name) for name in node.input]
    path = tmp_path / "anonymous.onnx"
    onnx.save(model, str(path))
    anonymous = read_onnx_bert(path)
    assert anonymous.config == bert.config
    assert set(anonymous.state_dict) == set(bert.state_dict)
    for name, array in bert.state_dict.items():
        np.testing.assert_array_equal(anonymous.state_dict[name], array, err_msg=name)


def test_weights_without_a_place_in_bert_are_an_error(onnx_file, tmp_path):
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(onnx_file))  # add a Dense layer after the pooling: gtekit could not reproduce it
    pooled = next(node for node in model.graph.node if POOLED_OUTPUT in node.output)
    pooled.output[0] = "pooled"
    model.graph.initializer.append(numpy_helper.from_array(np.eye(384, dtype=np.float32), "dense.weight"))
    model.graph.node.append(helper.make_node("MatMul", ["pooled", "dense.weight"], [POOLED_OUTPUT]))
    path = tmp_path / "with_dense.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ValueError, match=r"no place for: \['dense.weight'\]"):
        read_onnx_bert(path)


def test_missing_onnx_package_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(ImportError, match="pip install onnx"):
        read_onnx_bert(tmp_path / "model.onnx")


@pytest.mark.minilm
def test_converted_model_matches_onnxruntime(onnx_file):
    import onnxruntime

    model = Embedder.from_onnx(paraphrase_minilm_l3_v2_onnx())
    assert model.settings.pooling == "mean" and model.settings.max_seq_length == 128
    ours = model.encode(SENTENCES, batch_size=8)  # batched and padded, L2-normalised
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    reference = []
    for sentence in SENTENCES:  # one at a time: no padding on the onnxruntime side
        features = model.tokenize([sentence])
        inputs = {name: features[name].numpy() for name in ("input_ids", "attention_mask")}
        reference.append(session.run([POOLED_OUTPUT], inputs)[0][0])
    reference = np.stack(reference)  # (N, 384), pooled, not normalised
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    cosines = (ours * reference).sum(axis=1)
    assert cosines.min() >= 0.9999, dict(zip(SENTENCES, cosines.round(6), strict=True))
    np.testing.assert_allclose(ours, reference, atol=1e-4)
    similarity = ours @ ours.T  # a sanity check that the weights are trained, not just equal
    assert similarity[14, 15] > similarity[14, 2]  # capital of France: the Paris sentence, not stocks


@pytest.mark.minilm
def test_convert_onnx_writes_a_folder_that_loads_back(onnx_file, tmp_path):
    folder = convert_onnx(onnx_file, tmp_path / "paraphrase-MiniLM-L3-v2")
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    loaded = Embedder.load(folder)
    assert loaded.settings.max_seq_length == 128 and loaded.settings.normalize
    direct = Embedder.from_onnx(onnx_file)
    np.testing.assert_allclose(loaded.encode(SENTENCES[:5]), direct.encode(SENTENCES[:5]), atol=1e-6)
