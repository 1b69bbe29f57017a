"""`gtekit card`: regenerate a model folder's card from its run folder, with evaluation results."""

from __future__ import annotations

import json

import numpy as np
import yaml

from gtekit.cli.main import main
from tests.cli.conftest import assert_help_explains_every_option


def front_matter(folder):
    text = (folder / "README.md").read_text()
    meta, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(meta), body


def test_card_regenerates_the_card_with_results(tiny_model_dir, tmp_path, capsys):
    from gtekit import Embedder
    from tests.training.test_run_summary import step, write_run

    run = write_run(tmp_path / "run", ["qa.jsonl"], [step(1, "qa", 2.0), step(2, "qa", 1.0)])
    model = run / "model"
    Embedder.load(tiny_model_dir).save(model)
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"model": str(model), "tasks": {"STSBenchmark": {
        "main_score": 0.75, "type": "STS", "split": "test", "cosine_spearman": 0.75, "cosine_pearson": 0.7}}}))

    assert main(["card", str(model), "--results", str(results)]) == 0
    assert f"training run {run.resolve()}" in capsys.readouterr().out
    meta, body = front_matter(model)
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2" and meta["datasets"] == ["qa"]
    (result,) = meta["model-index"][0]["results"]
    assert result["dataset"]["name"] == "STSBenchmark" and result["metrics"][0]["value"] == 0.75
    assert "| steps | 2 of 4 |" in body and "| STSBenchmark | STS | test | 75.00 |" in body

    assert main(["card", str(model), "--base-model", "BAAI/bge-small-en-v1.5", "--name", "my-model"]) == 0
    meta, body = front_matter(model)
    assert meta["base_model"] == "BAAI/bge-small-en-v1.5" and "model-index" not in meta
    assert 'SentenceTransformer("my-model")' in body

    from sentence_transformers import SentenceTransformer

    texts = ["a card does not change the model", "second"]
    np.testing.assert_allclose(SentenceTransformer(str(model), device="cpu").encode(texts),
                               Embedder.load(tiny_model_dir).encode(texts), atol=1e-5)


def test_card_without_a_run_keeps_base_model_and_datasets(tiny_model_dir, tmp_path):
    from gtekit import Embedder
    from gtekit.model.model_card import write_card

    model = tmp_path / "downloaded"
    Embedder.load(tiny_model_dir).save(model)
    write_card(model, {"name": "x", "model": {}, "base_model": "thenlper/gte-small", "datasets": ["msmarco"]})
    assert main(["card", str(model)]) == 0
    meta, _ = front_matter(model)
    assert meta["base_model"] == "thenlper/gte-small" and meta["datasets"] == ["msmarco"]
    assert main(["card", str(tmp_path / "missing")]) == 2


def test_help_explains_every_option(capsys):
    assert_help_explains_every_option("card", capsys=capsys)
