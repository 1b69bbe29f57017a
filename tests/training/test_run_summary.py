"""run_summary: a run folder's recipe, sources and log as card data; sources.json, or the mixtures' manifests."""

from __future__ import annotations

import json

import pytest
import yaml

from gtekit.training.run_summary import run_summary, source_facts, write_sources_file


def step(n, source, loss):
    return {"step": n, "source": source, "loss": loss, "lr": 1e-4, "pairs_per_s": 10.0, "tokens_per_s": 100.0,
            "source_mean_loss": loss}


def write_run(folder, sources, records, **train):
    folder.mkdir(parents=True, exist_ok=True)
    recipe = {"model": {"name": "all-MiniLM-L6-v2", "random_init": False, "max_seq_length": 64},
              "data": {"sources": sources, "alpha": 0.5, "negatives_per_query": 1},
              "loss": {"name": "gte", "temperature": 0.05, "distill_teacher": ""},
              "train": {"steps": 4, "batch_size": 8, "lr": 2e-5, **train}}
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    (folder / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_summary_joins_recipe_sources_file_and_log(tmp_path):
    records = [step(1, "qa", 2.0), step(2, "code", 1.0), {"step": 2, "validation": {"T": 0.4}, "validation_mean": 0.4,
                                                          "best_step": 2},
               step(3, "qa", 1.0), step(4, "qa", 0.5), {"step": 4, "validation": {"T": 0.3}, "validation_mean": 0.3,
                                                        "best_step": 2}]
    run = write_run(tmp_path / "run", ["qa.jsonl", "mix"], records)
    (run / "sources.json").write_text(json.dumps({"sources": [
        {"name": "qa", "path": "qa.jsonl", "count": 100},
        {"name": "code", "path": "mix/manifest.json", "count": 40, "licence": "PSF-2.0", "kind": "code"}]}))
    summary = run_summary(run)
    assert summary["start_model"] == "all-MiniLM-L6-v2" and summary["random_init"] is False
    training = summary["training"]
    assert training["steps"] == training["planned_steps"] == 4
    assert (training["loss"], training["temperature"], training["batch_size"]) == ("gte", 0.05, 8)
    assert training["final_loss"] == pytest.approx((2.0 + 1.0 + 1.0 + 0.5) / 4)
    assert summary["sources"] == [
        {"name": "qa", "path": "qa.jsonl", "count": 100, "steps": 3, "pairs_trained": 24, "mean_loss": 1.1667},
        {"name": "code", "path": "mix/manifest.json", "count": 40, "licence": "PSF-2.0", "kind": "code", "steps": 1,
         "pairs_trained": 8, "mean_loss": 1.0}]
    assert summary["validation"] == {"step": 2, "scores": {"T": 0.4}, "mean": 0.4, "validations": 2}


def test_without_sources_json_the_manifests_give_counts_and_licences(tmp_path):
    mix = tmp_path / "mix"
    mix.mkdir()
    (mix / "manifest.json").write_text(json.dumps({"version": 1, "sources": [
        {"name": "gcide", "kind": "knowledge_base", "licence": "GPL-3.0-or-later", "count": 50, "shards": [],
         "provenance": {"package": "gcide", "version": "0.1"}}]}))
    run = write_run(tmp_path / "run", [str(mix), str(tmp_path / "qa.jsonl")], [step(1, "gcide", 1.0),
                                                                              step(2, "qa", 1.0)])
    by_name = {source["name"]: source for source in run_summary(run)["sources"]}
    assert by_name["gcide"]["licence"] == "GPL-3.0-or-later" and by_name["gcide"]["count"] == 50
    assert by_name["gcide"]["provenance"] == {"package": "gcide", "version": "0.1"}
    assert by_name["qa"] == {"name": "qa", "steps": 1, "pairs_trained": 8, "mean_loss": 1.0}  # a pair file


def test_sources_file_of_loaded_sources(tmp_path):
    from gtekit.data.pairs import load_sources
    from tests.helpers import write_source

    sources = load_sources([write_source(tmp_path / "alpha.jsonl", 5)])
    sources[0].metadata = {"licence": "CC0-1.0", "kind": "qa", "filters": {"empty": 0}}
    path = write_sources_file(tmp_path, sources)
    assert json.loads(path.read_text()) == {"sources": source_facts(sources)} == {"sources": [
        {"name": "alpha", "path": str(tmp_path / "alpha.jsonl"), "count": 5, "kind": "qa", "licence": "CC0-1.0"}]}


def test_a_folder_that_is_no_run_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a training run folder"):
        run_summary(tmp_path)
