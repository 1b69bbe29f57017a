"""The Embedder: pooling, prefixes, encode, save/load and sentence-transformers compatibility."""

from __future__ import annotations

import io
import json
import re
import shutil

import numpy as np
import pytest
import torch

from gtekit import Embedder
from gtekit.model.model_files import ModelNotFoundError
from gtekit.model.pooling import cls_pooling, get_pooling, last_token_pooling, mean_pooling

TEXTS = ["A man is playing a guitar.", "def add(a, b):\n    return a + b", "short",
         "The quick brown fox jumps over the lazy dog " * 5, "Ünïcödé text — with dashes"]


def test_poolings_by_hand():
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).view(2, 4, 3)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert torch.allclose(mean_pooling(hidden, right)[0], hidden[0, :2].mean(0))
    assert torch.allclose(mean_pooling(hidden, right)[1], hidden[1].mean(0))
    assert torch.equal(cls_pooling(hidden, right), hidden[:, 0])
    assert torch.equal(last_token_pooling(hidden, right), torch.stack([hidden[0, 1], hidden[1, 3]]))
    assert torch.equal(last_token_pooling(hidden, left), torch.stack([hidden[0, 3], hidden[1, 3]]))
    with pytest.raises(ValueError, match="valid: mean, cls, last"):
        get_pooling("max")


def test_prefixes_and_cpt_delimiters(tiny_embedder):
    tiny_embedder.settings.query_prefix = "query: "
    tiny_embedder.settings.document_prefix = "passage: "
    assert tiny_embedder.prepare(["x"], "query") == ["query: x"]
    assert tiny_embedder.prepare(["x"], "document") == ["passage: x"]
    assert tiny_embedder.prepare(["x"]) == ["x"]
    tiny_embedder.settings.delimiters = True
    assert tiny_embedder.prepare(["x"], "query") == ["[query: x]"]
    assert tiny_embedder.prepare(["x"], "document") == ["{passage: x}"]
    with pytest.raises(ValueError, match="valid: 'query', 'document'"):
        tiny_embedder.prepare(["x"], "passage")


def test_encode_is_independent_of_batching_and_order(tiny_embedder):
    full = tiny_embedder.encode(TEXTS, batch_size=64)
    one_by_one = np.stack([tiny_embedder.encode(text)[0] for text in TEXTS])
    assert full.shape == (len(TEXTS), 32) and full.dtype == np.float32
    np.testing.assert_allclose(full, one_by_one, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(full, axis=1), 1.0, rtol=1e-5)
    raw = tiny_embedder.encode(TEXTS, normalize=False)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)


@pytest.mark.parametrize("pooling", ["mean", "cls", "last"])
def test_saved_model_loads_in_sentence_transformers_with_same_embeddings(tmp_path, pooling):
    import sentence_transformers

    from tests.helpers import make_tiny_embedder

    model = make_tiny_embedder(pooling=pooling, max_seq_length=64, query_prefix="query: ")
    model.save(tmp_path / "m")
    ours = model.encode(TEXTS)
    theirs = sentence_transformers.SentenceTransformer(str(tmp_path / "m"), device="cpu").encode(TEXTS)
    cosine = (ours * theirs).sum(1) / np.linalg.norm(theirs, axis=1)
    assert cosine.min() >= 0.9999
    reloaded = Embedder.load(tmp_path / "m")
    assert reloaded.settings == model.settings
    np.testing.assert_allclose(reloaded.encode(TEXTS), ours, atol=1e-6)
    st_config = json.loads((tmp_path / "m" / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "query: "}


def test_loads_sentence_transformers_and_plain_folders(tmp_path, tiny_model_dir):
    st_only = tmp_path / "st"
    shutil.copytree(tiny_model_dir, st_only)
    (st_only / "gtekit_config.json").unlink()  # read the sentence-transformers files alone
    model = Embedder.load(st_only)
    assert (model.settings.pooling, model.settings.normalize, model.settings.max_seq_length) == ("mean", True, 64)
    plain = tmp_path / "plain"
    model.encoder.save_pretrained(plain)
    model.tokenizer.save_pretrained(plain)
    plain_model = Embedder.load(plain)
    assert plain_model.settings.pooling == "mean"
    np.testing.assert_allclose(plain_model.encode(TEXTS[:2]), model.encode(TEXTS[:2]), atol=1e-6)


def test_never_unpickles_weights(tmp_path, tiny_model_dir):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match="never unpickles"):
        Embedder.load(folder)


def test_offline_hub_name_fails_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="pass its path"):
        Embedder.load("some-org/some-model-that-is-not-here")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        Embedder.load("./no/such/folder")


def test_from_config_is_random_and_seeded():
    from tests.helpers import make_tiny_embedder

    a, b = make_tiny_embedder(), make_tiny_embedder()
    np.testing.assert_array_equal(a.encode(TEXTS[:2]), b.encode(TEXTS[:2]))
    assert a.dimension == 32 and a.source.startswith("random:")


@pytest.mark.minilm
def test_bundled_minilm_matches_sentence_transformers_and_roundtrips(tmp_path):
    import sentence_transformers

    model = Embedder.load("sentence-transformers/all-MiniLM-L6-v2")
    assert (model.dimension, model.settings.pooling, model.settings.max_seq_length) == (384, "mean", 256)
    ours = model.encode(TEXTS)
    model.save(tmp_path / "saved")
    theirs = sentence_transformers.SentenceTransformer(str(tmp_path / "saved"), device="cpu").encode(TEXTS)
    assert ((ours * theirs).sum(1)).min() >= 0.9999


def _folder_shipping_code(tmp_path, tiny_model_dir, config_file: str):
    """A copy of the tiny model whose ``config_file`` maps classes to a module of the folder that, if ever
    imported, writes a marker file."""
    folder = tmp_path / f"ships-code-{config_file.split('.')[0]}"
    shutil.copytree(tiny_model_dir, folder)
    marker = tmp_path / f"ran-{config_file}"
    (folder / "shipped.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from transformers import BertConfig as ShippedConfig, BertModel as ShippedModel\n"
        "from transformers import BertTokenizerFast as ShippedTokenizer\n")
    config = json.loads((folder / config_file).read_text())
    if config_file == "config.json":
        config.pop("model_type", None)  # no built-in class to fall back on: transformers would ask to run the code
        config["auto_map"] = {"AutoConfig": "shipped.ShippedConfig", "AutoModel": "shipped.ShippedModel"}
    else:
        config["auto_map"] = {"AutoTokenizer": [None, "shipped.ShippedTokenizer"]}
    (folder / config_file).write_text(json.dumps(config))
    return folder, marker


@pytest.mark.parametrize("config_file", ["config.json", "tokenizer_config.json"])
def test_refuses_model_folders_that_ship_code(tmp_path, tiny_model_dir, monkeypatch, capsys, config_file):
    from gtekit.cli.main import main
    from gtekit.export.runtime import OnnxEmbedder
    from gtekit.model.model_files import RemoteCodeRefusedError

    def no_questions(*args):
        raise AssertionError("something asked on the terminal whether to run a model folder's code")

    monkeypatch.setattr("builtins.input", no_questions)
    monkeypatch.setattr("sys.stdin", io.StringIO())  # nothing to read: a question would get no answer
    folder, marker = _folder_shipping_code(tmp_path, tiny_model_dir, config_file)
    message = rf"{re.escape(str(folder))}: {config_file} has \"auto_map\".*does not run code shipped in model"
    for load in (Embedder.load, lambda path: Embedder.from_config(path, hidden_size=32, num_layers=1, num_heads=2),
                 OnnxEmbedder.load):
        with pytest.raises(RemoteCodeRefusedError, match=message):
            load(folder)
    texts = tmp_path / "texts.txt"
    texts.write_text("a text\n")
    assert main(["encode", str(folder), str(texts), "-o", str(tmp_path / "out.npy"), "--no-progress"]) == 2
    assert "does not run code shipped in model folders" in capsys.readouterr().err
    assert not marker.exists()


def test_every_transformers_loader_call_refuses_remote_code():
    """Every transformers loader in gtekit and its benchmarks says trust_remote_code=False, so none can ask."""
    import ast
    from pathlib import Path

    def loader(call: ast.Call) -> bool:
        function = call.func
        if isinstance(function, ast.Name):
            return function.id == "SentenceTransformer"
        return (isinstance(function, ast.Attribute) and function.attr == "from_pretrained"
                and isinstance(function.value, ast.Name) and function.value.id.startswith("Auto"))

    def refuses(call: ast.Call) -> bool:
        return any(word.arg == "trust_remote_code" and isinstance(word.value, ast.Constant)
                   and word.value.value is False for word in call.keywords)

    root = Path(__file__).resolve().parents[2]
    calls = {f"{path.relative_to(root)}:{node.lineno}": refuses(node)
             for path in [*root.glob("gtekit/**/*.py"), *root.glob("benchmarks/**/*.py")]
             for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call) and loader(node)}
    assert len(calls) >= 8, calls
    assert all(calls.values()), [where for where, ok in calls.items() if not ok]


def test_encode_names_the_index_of_a_text_the_tokenizer_cannot_take(tiny_embedder):
    texts = ["fine", "also fine", "half a pair: \ud800", "x"]
    with pytest.raises(ValueError, match=r"^texts\[2\] holds a lone surrogate U\+D800 at character 13"):
        tiny_embedder.encode(texts)
    with pytest.raises(ValueError, match=r"^texts\[1\] is a NoneType, not a string"):
        tiny_embedder.encode(["fine", None])
    with pytest.raises(ValueError, match=r"^texts\[0\] holds a lone surrogate U\+DC00"):
        tiny_embedder.tokenize(["\udc00", "fine"])
    assert tiny_embedder.encode(["", "  "]).shape == (2, 32)  # empty texts embed as the special tokens alone
