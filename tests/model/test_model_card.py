"""Model cards: Hugging Face front matter and sections from plain data; a folder with its card still loads in
sentence-transformers; merged folders get one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from gtekit.model.card_data import build_card, load_results, resolve_base_model
from gtekit.model.model_card import CARD_FILE, TAGS, front_matter, read_front_matter, render_card, write_card

CARD = {
    "name": "gte-tiny", "model_id": "runs/tiny/model", "base_model": "sentence-transformers/all-MiniLM-L6-v2",
    "model": {"dimension": 384, "max_seq_length": 128, "pooling": "mean", "normalize": True,
              "query_prefix": "query: ", "document_prefix": ""},
    "training": {"loss": "gte", "temperature": 0.05, "steps": 100, "planned_steps": 100, "batch_size": 32,
                 "lr": 2e-5, "negatives_per_query": 1, "final_loss": 0.4321, "run_dir": "runs/tiny"},
    "sources": [{"name": "gcide", "kind": "knowledge_base", "licence": "GPL-3.0-or-later", "count": 1000,
                 "steps": 60, "pairs_trained": 1920, "mean_loss": 0.5,
                 "provenance": {"package": "gcide-data", "version": "1.0", "files": "dict/*.xml"}},
                {"name": "qa", "count": 500, "steps": 40, "pairs_trained": 1280},
                {"name": "replay:general", "count": 50, "steps": 0}],
    "validation": {"step": 100, "scores": {"TinySTS": 0.71}, "mean": 0.71},
    "results": [{"task": "STSBenchmark", "type": "STS", "split": "test", "main_score": 0.8203,
                 "metrics": {"cosine_spearman": 0.8203, "cosine_pearson": 0.83}},
                {"task": "PythonStdlibCodeSearch", "type": "CodeSearch", "split": "test", "main_score": 0.5,
                 "metrics": {"ndcg_at_10": 0.5}}],
}


def parse(text: str) -> tuple[dict, str]:
    assert text.startswith("---\n")
    meta, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(meta), body


def test_front_matter_has_the_hub_keys_and_a_well_formed_model_index():
    meta, _ = parse(render_card(CARD))
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["library_name"] == "sentence-transformers" and meta["pipeline_tag"] == "sentence-similarity"
    assert meta["tags"] == TAGS == ["sentence-transformers", "sentence-similarity", "feature-extraction", "gtekit"]
    assert meta["datasets"] == ["gcide", "qa", "general"]
    (index,) = meta["model-index"]
    assert index["name"] == "gte-tiny" and len(index["results"]) == 2
    for result, row in zip(index["results"], CARD["results"], strict=True):
        assert result["task"]["type"] == row["type"]
        assert result["dataset"] == {"name": row["task"], "type": row["task"], "split": "test"}
        assert result["metrics"][0] == {"type": "main_score", "value": row["main_score"], "name": "main score"}
        assert all(set(metric) >= {"type", "value"} for metric in result["metrics"])


def test_the_hub_library_reads_the_card_and_its_results():
    from huggingface_hub import ModelCard

    data = ModelCard(render_card(CARD)).data
    assert data.library_name == "sentence-transformers" and data.base_model == CARD["base_model"]
    scores = {(result.dataset_type, result.metric_type): result.metric_value for result in data.eval_results}
    assert scores[("STSBenchmark", "main_score")] == 0.8203
    assert scores[("PythonStdlibCodeSearch", "ndcg_at_10")] == 0.5


def test_sections_usage_recipe_sources_licences_and_evaluation():
    _, body = parse(render_card(CARD))
    for heading in ("# gte-tiny", "## Model details", "## Usage", "## Training", "## Training data",
                    "## Evaluation"):
        assert f"\n{heading}\n" in f"\n{body}", heading
    assert 'SentenceTransformer("runs/tiny/model")' in body and 'prompt_name="query"' in body
    assert 'Embedder.load("runs/tiny/model")' in body and 'kind="query"' in body
    assert "| temperature τ | 0.05 |" in body and "| batch size (pairs) | 32 |" in body
    assert "| gcide | knowledge_base | GPL-3.0-or-later | 1,000 | 60 | 1,920 | 0.5 |" in body
    assert "| qa |  | not recorded | 500 | 40 | 1,280 |  |" in body
    assert "`gcide-data==1.0`, dict/*.xml" in body
    assert "| STSBenchmark | STS | test | 82.03 |" in body
    assert "best at step 100" in body and "| TinySTS | 71.00 |" in body


def test_a_card_without_training_or_results_has_no_model_index():
    card = {"name": "plain", "model": {"dimension": 32}}
    meta, body = parse(render_card(card))
    assert "model-index" not in meta and "base_model" not in meta and "datasets" not in meta
    assert "## Training" not in body and "## Evaluation" not in body
    assert front_matter({**card, "datasets": ["x"]})["datasets"] == ["x"]


def test_a_saved_folder_with_its_card_loads_in_sentence_transformers_with_the_same_embeddings(tiny_model_dir,
                                                                                             tmp_path):
    from sentence_transformers import SentenceTransformer

    from gtekit import Embedder

    folder = tmp_path / "model"
    Embedder.load(tiny_model_dir).save(folder)
    write_card(folder, build_card(folder, results=load_results([], folder)))
    assert (folder / CARD_FILE).is_file() and read_front_matter(folder)["library_name"] == "sentence-transformers"
    texts = ["a cat sits on the mat", "stocks fell sharply", ""]
    ours = Embedder.load(folder).encode(texts)
    theirs = SentenceTransformer(str(folder), device="cpu").encode(texts)
    np.testing.assert_allclose(theirs, ours, atol=1e-5)


def test_results_files_one_model_or_the_named_one_of_several(tiny_model_dir, tmp_path):
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"model": "x", "tasks": {"STSBenchmark": {
        "main_score": 0.5, "type": "STS", "split": "dev", "cosine_spearman": 0.5, "evaluation_time": 3.0,
        "license": "MIT"}}}))
    (row,) = load_results([one], tiny_model_dir)
    assert row == {"task": "STSBenchmark", "type": "STS", "split": "dev", "main_score": 0.5,
                   "metrics": {"cosine_spearman": 0.5}}
    several = tmp_path / "several.json"
    entry = {"tasks": {"STSBenchmark": {"main_score": 0.6, "type": "STS"}}}
    several.write_text(json.dumps([{"model": "other", **entry}, {"model": str(tiny_model_dir), **entry}]))
    assert load_results([one, several], tiny_model_dir)[0]["main_score"] == 0.6  # the later file wins
    several.write_text(json.dumps([{"model": "a", **entry}, {"model": "b", **entry}]))
    with pytest.raises(ValueError, match=r"several models \(a, b\)"):
        load_results([several], tiny_model_dir)


def test_base_model_names(tmp_path):
    assert resolve_base_model("all-MiniLM-L6-v2") == ("sentence-transformers/all-MiniLM-L6-v2", None)
    assert resolve_base_model("BAAI/bge-small-en-v1.5") == ("BAAI/bge-small-en-v1.5", None)
    assert resolve_base_model(str(tmp_path)) == (None, f"local folder `{tmp_path}`")
    write_card(tmp_path, {"name": "start", "model": {}, "base_model": "thenlper/gte-small"})
    assert resolve_base_model(str(tmp_path)) == ("thenlper/gte-small", f"local folder `{tmp_path}`")


def test_a_merged_folder_has_a_card_naming_the_start_and_the_trained_models_datasets(tmp_path):
    from gtekit.model.weight_merge import MergeSettings, merge_models
    from tests.helpers import write_start_and_trained

    start, trained = write_start_and_trained(tmp_path)
    write_card(start, {"name": "start", "model": {}, "base_model": "sentence-transformers/all-MiniLM-L6-v2"})
    write_card(trained, {"name": "trained", "model": {}, "sources": [{"name": "gcide"}, {"name": "qa"}]})
    output = merge_models(MergeSettings(str(start), str(trained), 0.3, str(tmp_path / "merged")))
    meta, body = parse((output / CARD_FILE).read_text())
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["datasets"] == ["gcide", "qa"]
    assert "## Merge" in body and "λ = 0.3" in body and f"trained = `{trained}`" in body
