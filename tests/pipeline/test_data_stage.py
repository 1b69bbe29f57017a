"""A data stage (`gtekit data build` inside `gtekit run`): its built mixture feeds a train stage and a mine
stage, and editing its mixture YAML makes it (and what reads it) run again."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import yaml

from gtekit.config import ConfigError
from gtekit.pipeline import Status, load_pipeline, plan_run, run_pipeline
from gtekit.pipeline.pipeline_file import pipeline_from_dict

from .conftest import train_stage, write_recipe

ANIMALS = ["cat", "dog", "horse", "goat", "sheep", "camel", "llama", "zebra"]


def write_library(folder):
    """Eight modules of documented functions: the python_stdlib reader's (docstring, code) pairs."""
    folder.mkdir(parents=True)
    for animal in ANIMALS:
        (folder / f"{animal}.py").write_text("".join(
            f'def {verb}_{animal}(count):\n    """{verb.capitalize()} the {animal} {{count}} times over."""\n'
            f'    return ["{verb}"] * count\n\n\n' for verb in ("feed", "wash", "count", "ride")))


def data_recipe(folder, tiny_model_dir):
    write_library(folder / "lib")
    (folder / "mix.yaml").write_text(yaml.safe_dump({
        "tokenizer": str(tiny_model_dir), "evaluation_guard": [], "rows_per_shard": 8,
        "sources": [{"name": "code", "kind": "code", "reader": "python_stdlib", "licence": "PSF-2.0",
                     "held_out": 0.2, "options": {"root": str(folder / "lib"), "include_classes": False}}]}))
    recipe = {"output_dir": str(folder / "run"), "stages": [
        {"name": "data", "kind": "data", "mixture": "mix.yaml"},
        train_stage("pretrain", str(tiny_model_dir), [{"from": "data"}]),
        {"name": "mine", "kind": "mine", "model": {"from": "pretrain"}, "pairs": [{"from": "data"}], "top_k": 6,
         "num_negatives": 2, "relative_margin": None, "samples": 1}]}
    return write_recipe(folder, recipe)


def test_a_data_stage_builds_the_mixture_that_later_stages_read(tmp_path, tiny_model_dir):
    recipe_file = data_recipe(tmp_path, tiny_model_dir)
    pipeline = load_pipeline(recipe_file)
    built = tmp_path / "run/data/mixture"
    assert pipeline.stage("pretrain").settings.data.sources == [str(built)]
    assert pipeline.stage("mine").settings.pairs == [str(built)]
    run_pipeline(pipeline, echo=lambda line: None)
    manifest = json.loads((built / "manifest.json").read_text())
    trained = manifest["sources"][0]["count"]
    assert trained > 0 and manifest["sources"][0]["held_out"]["count"] > 0
    triples = [json.loads(line) for line in (tmp_path / "run/mine/triples.jsonl").read_text().splitlines()]
    assert len(triples) == trained  # every training pair of the build, none of its held-out split
    held_out = {row["query"] for path in (built / "held-out").rglob("*.parquet")
                for row in pq.read_table(path).to_pylist()}
    assert held_out and not held_out & {row["query"] for row in triples}
    assert {plan.stage.name: plan.status for plan in plan_run(load_pipeline(recipe_file))} == {
        "data": Status.DONE, "pretrain": Status.DONE, "mine": Status.DONE}

    mixture = tmp_path / "mix.yaml"
    mixture.write_text(mixture.read_text().replace("rows_per_shard: 8", "rows_per_shard: 4"))
    plans = {plan.stage.name: plan for plan in plan_run(load_pipeline(recipe_file))}
    assert plans["data"].status is Status.CHANGED and "mixture_sha256" in plans["data"].detail
    assert plans["pretrain"].status is Status.STALE


def test_data_stage_errors(tmp_path):
    def stages(*items):
        return pipeline_from_dict({"output_dir": str(tmp_path / "run"), "stages": list(items)}, base=tmp_path)

    with pytest.raises(ConfigError, match="stage 'data': mixture is required"):
        stages({"name": "data", "kind": "data"})
    data = {"name": "data", "kind": "data", "mixture": "mix.yaml"}
    with pytest.raises(ConfigError, match=r"model.name needs a model folder \(a train or merge stage\), but 'data' "
                                          r"is a data stage \(a built mixture folder of pairs\)"):
        stages(data, train_stage("pretrain", {"from": "data"}, ["x.jsonl"]))
    with pytest.raises(ConfigError, match="unknown key 'sources'"):
        stages(data | {"sources": ["x"]})
    with pytest.raises(ConfigError, match="stage 'data': rows_per_shard must be at least 1, got 0"):
        stages(data | {"rows_per_shard": 0})
