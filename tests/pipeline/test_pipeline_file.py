"""Reading a pipeline file: references between stages, their errors, overrides, paths and the config hash."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest

from gtekit.config import ConfigError
from gtekit.pipeline import StageKind, load_pipeline
from gtekit.pipeline.pipeline_file import pipeline_from_dict

from .conftest import tiny_recipe, write_inputs, write_recipe

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def content(tmp_path):
    """A pipeline file's content, as YAML gives it."""
    return tiny_recipe(Path("tiny-model"), tmp_path / "run")


def load(content, *overrides, base=None):
    return pipeline_from_dict(copy.deepcopy(content), where="tiny.yaml", base=base, overrides=overrides)


def test_references_resolve_to_the_outputs_of_earlier_stages(content, tmp_path):
    pipeline = load(content)
    pretrain, mine, finetune, compare = pipeline.stages
    assert [s.kind for s in pipeline.stages] == [StageKind.TRAIN, StageKind.MINE, StageKind.TRAIN, StageKind.EVAL]
    assert pretrain.output_dir == tmp_path / "run" / "pretrain" == pretrain.state_dir
    assert mine.settings.model == str(tmp_path / "run/pretrain/model")
    assert finetune.settings.model.name == str(tmp_path / "run/pretrain/model")
    assert finetune.settings.model.max_seq_length == 32  # model: {from: pretrain, max_seq_length: 32}
    assert finetune.settings.data.sources == [str(tmp_path / "run/mine/triples.jsonl")]
    assert [(m.label, m.model) for m in compare.settings.models] == [
        ("base", "tiny-model"), ("pretrain", str(tmp_path / "run/pretrain/model")),
        ("PT+FT", str(tmp_path / "run/finetune/model"))]
    assert [(r.stage, r.slot) for r in compare.references] == [("pretrain", "models[1].model"),
                                                                ("finetune", "models[2].model")]


@pytest.mark.parametrize(("stage", "key", "value", "message"), [
    (1, "model", {"from": "pretrian"}, "model refers to unknown stage 'pretrian'; stages: pretrain, mine, finetune"),
    (1, "model", {"from": "finetune"}, "model refers to stage 'finetune', which comes later"),
    (1, "pairs", [{"from": "mine"}], r"pairs\[0\] refers to itself"),
    (2, "model", {"from": "mine"}, r"model.name needs a model folder \(a train or merge stage\), but 'mine' is a "
                                   "mine stage"),
    (2, "data", {"sources": [{"from": "pretrain"}]}, r"data.sources\[0\] needs a pair file \(triples.jsonl\) "
                                                     r"\(a mine stage\) or a built mixture folder of pairs \(a data "
                                                     r"stage\), but 'pretrain' is a train stage"),
    (3, "models", [{"from": "compare"}], r"models\[0\].model refers to itself"),
    (1, "model", {"from": "pretrain", "file": "x"}, "a reference is {from: STAGE} alone"),
])
def test_bad_references_are_clear_errors(content, stage, key, value, message):
    content["stages"][stage][key] = value
    with pytest.raises(ConfigError, match=message):
        load(content)


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r["stages"][0]["train"].update(stpes=3), "stage 'pretrain': unknown key 'train.stpes'; valid keys "
                                                          "in 'train': output_dir, steps"),
    (lambda r: r["stages"][0].update(modle={}), "unknown key 'modle'; valid keys: model, data, loss, train, eval"),
    (lambda r: r["stages"][1].update(topk=3), "stage 'mine': unknown key 'topk'; valid keys: model, pairs"),
    (lambda r: r["stages"][3].update(task=["x"]), "stage 'compare': unknown key 'task'; valid keys: models, tasks"),
    (lambda r: r["stages"][1].update(num_negatives="two"), "num_negatives: expected int, got 'two'"),
    (lambda r: r["stages"][1].update(sampling="best"), "stage 'mine': sampling: unknown value 'best'; valid: top, "
                                                        "random"),
    (lambda r: r["stages"][1].update(index="exact"), "stage 'mine': index: unknown value 'exact'; valid: auto, flat, "
                                                     "ivf, hnsw"),
    (lambda r: r["stages"][1].update(device="gpu"), "stage 'mine': device: unknown value 'gpu'; valid: auto, cpu, "
                                                    "cuda, cuda:N"),
    (lambda r: r["stages"][1].update(index="ivfpq"), "stage 'mine': index: unknown value 'ivfpq'; valid: auto, flat, "
                                                     "ivf, hnsw$"),
    (lambda r: r["stages"][1].update(samples=-1), "stage 'mine': samples must be >= 0, got -1"),
    (lambda r: r["stages"][3].update(markdown="x.md"), "stage 'compare': markdown: an eval stage writes "
                                                       "output_dir/results.json and output_dir/results.md"),
    (lambda r: r["stages"][3].update(results_layout="table"), "stage 'compare': results_layout: unknown value "
                                                              "'table'; valid: labelled_list, object_for_one"),
    (lambda r: r["stages"][3].update(tasks=["NoSuchTask"]), r"stage 'compare': tasks: unknown name\(s\) "
                                                            r"\['NoSuchTask'\]; valid tasks: STSBenchmark"),
    (lambda r: r["stages"][3].update(suite="onlin"), r"stage 'compare': suite: unknown name\(s\) \['onlin'\]; "
                                                     "valid suites: offline"),
    (lambda r: r["stages"][2]["data"].update(guard_tasks=["STSBench"]), r"stage 'finetune': data.guard_tasks: "
                                                                        r"unknown name\(s\) \['STSBench'\]; "
                                                                        "valid suites: offline.*; tasks: "),
    (lambda r: r["stages"][2].update(eval={"tasks": ["STSB"]}), r"stage 'finetune': eval.tasks: unknown "
                                                                r"name\(s\) \['STSB'\]; valid tasks: "),
    (lambda r: r["stages"][2].update(loss={"name": "gtr"}), "stage 'finetune': loss.name: unknown value 'gtr'; "
                                                            "valid: gte, infonce, symmetric, bidirectional"),
    (lambda r: r["stages"][2]["model"].update(pooling="max"), "stage 'finetune': model.pooling: unknown value "
                                                              "'max'; valid: mean, cls, last"),
    (lambda r: r["stages"][0]["train"].update(device="gpu"), "stage 'pretrain': train.device: unknown value 'gpu'; "
                                                             "valid: auto, cpu, cuda, cuda:N"),
    (lambda r: r["stages"][3].update(task_files=[]), "nothing to evaluate"),
    (lambda r: r["stages"][2]["train"].update(output_dir=r["output_dir"] + "/pretrain"),
     "stages pretrain, finetune write to the same folder"),
    (lambda r: r["stages"][2].update(kind="finetune"), "unknown kind 'finetune'; valid: data, train, mine, eval"),
    (lambda r: r["stages"][2].update(name="pretrain"), "stage names must be unique; repeated: pretrain"),
    (lambda r: r["stages"][2].update(name="fine.tune"), "name must be letters, digits"),
    (lambda r: r.update(output="x"), "unknown key 'output'; valid keys: output_dir, stages"),
    (lambda r: r.pop("output_dir"), "output_dir .* is required"),
    (lambda r: r.update(stages=[]), "stages must be a non-empty list"),
])
def test_bad_pipeline_files_name_the_key(content, change, message):
    change(content)
    with pytest.raises(ConfigError, match=message):
        load(content)


def test_overrides_name_a_stage(content, tmp_path):
    pipeline = load(content, "pretrain.train.steps=7", "mine.top_k=20", "output_dir=" + str(tmp_path / "elsewhere"))
    assert pipeline.stage("pretrain").settings.train.steps == 7
    assert pipeline.stage("mine").settings.top_k == 20
    assert pipeline.stage("finetune").settings.data.sources == [str(tmp_path / "elsewhere/mine/triples.jsonl")]
    with pytest.raises(ConfigError, match=r"expected STAGE\.KEY=VALUE .* stages: pretrain, mine, finetune, compare"):
        load(content, "train.steps=7")
    with pytest.raises(ConfigError, match="a stage's kind cannot be overridden"):
        load(content, "mine.kind=eval")
    with pytest.raises(ConfigError, match=r"unknown key 'train\.stpes'"):
        load(content, "pretrain.train.stpes=7")


def test_data_files_are_found_beside_the_pipeline_file(tmp_path, tiny_model_dir):
    write_inputs(tmp_path / "inputs")
    pipeline = load_pipeline(write_recipe(tmp_path / "inputs", tiny_recipe(tiny_model_dir, tmp_path / "run")))
    assert pipeline.stage("pretrain").settings.data.sources == [str(tmp_path / "inputs/pretrain.jsonl")]
    assert pipeline.stage("mine").settings.pairs == [str(tmp_path / "inputs/finetune.jsonl")]
    assert pipeline.stage("compare").settings.task_files == [str(tmp_path / "inputs/sts.yaml")]
    assert pipeline.stage("pretrain").settings.model.name == str(tiny_model_dir)  # models: as given


def test_the_config_hash_follows_what_a_stage_computes(content, tmp_path):
    hashes = {stage.name: stage.config_hash() for stage in load(content).stages}
    moved = load(content, f"output_dir={tmp_path / 'moved'}", "pretrain.train.device=cpu", "mine.samples=4",
                 "compare.use_cache=false", "compare.plot=chart.png", "compare.results_layout=object_for_one")
    assert {stage.name: stage.config_hash() for stage in moved.stages} == hashes
    changed = load(content, "pretrain.train.lr=0.01", "compare.batch_size=8")
    assert [s.config_hash() == hashes[s.name] for s in changed.stages] == [False, True, True, False]


def test_the_example_pipeline_loads():
    pipeline = load_pipeline(REPO / "recipes/multistage-example.yaml")
    assert pipeline.names() == ["pretrain", "mine", "finetune", "basefinetune", "compare"]
    assert pipeline.stage("finetune").settings.data.sources == [str(pipeline.output_dir / "mine/triples.jsonl")]
    assert [m.label for m in pipeline.stage("compare").settings.models] == ["base", "PT", "FT", "PT+FT"]


def test_the_quickstart_pipeline_resolves_to_the_paper_table_9_comparison():
    pipeline_file = Path(__file__).resolve().parents[2] / "recipes" / "quickstart.yaml"
    pipeline = load_pipeline(pipeline_file, ["output_dir=runs/elsewhere"])
    assert [(stage.name, stage.kind) for stage in pipeline.stages] == [
        ("pretrain-data", StageKind.DATA), ("finetune-data", StageKind.DATA), ("pretrain", StageKind.TRAIN),
        ("mine", StageKind.MINE), ("finetune", StageKind.TRAIN), ("basefinetune", StageKind.TRAIN),
        ("merge", StageKind.MERGE), ("compare", StageKind.EVAL)]
    for stage in pipeline.stages[:2]:
        assert Path(stage.settings.mixture).is_file()
    pretrain, mine, finetune, basefinetune, merge, compare = pipeline.stages[2:]
    assert pretrain.settings.data.sources == ["runs/elsewhere/pretrain-data/mixture"]
    assert pretrain.settings.loss.name == "gte" and pretrain.settings.data.negatives_per_query == 0
    assert mine.settings.model == "runs/elsewhere/pretrain/model" and mine.settings.relative_margin == 0.05
    assert finetune.settings.train.lr == pytest.approx(pretrain.settings.train.lr / 10)  # GTE section 3.4
    assert finetune.settings.data == basefinetune.settings.data and finetune.settings.train == dataclasses.replace(
        basefinetune.settings.train, output_dir=finetune.settings.train.output_dir)
    assert finetune.settings.data.negatives_per_query == mine.settings.num_negatives
    assert pretrain.settings.loss.temperature == 0.05  # the base model's own τ, chosen on dev (docs/forgetting.md)
    assert pretrain.settings.loss.distill_teacher == "all-MiniLM-L6-v2" and pretrain.settings.loss.distill_weight == 400
    assert finetune.settings.loss == basefinetune.settings.loss == pretrain.settings.loss  # every stage distils too
    assert merge.settings.start == "all-MiniLM-L6-v2" and merge.settings.trained == "runs/elsewhere/finetune/model"
    assert merge.settings.tasks == compare.settings.tasks and compare.settings.split == "test"
    assert [(m.label, m.model) for m in compare.settings.models] == [
        ("base", "all-MiniLM-L6-v2"), ("PT", "runs/elsewhere/pretrain/model"),
        ("FT", "runs/elsewhere/basefinetune/model"), ("PT+FT", "runs/elsewhere/finetune/model"),
        ("PT+FT merged", "runs/elsewhere/merge/model")]


def test_a_merge_stage_reads_models_and_gives_one(content, tmp_path):
    content["stages"].insert(3, {"name": "merge", "kind": "merge", "start": "tiny-model",
                                 "trained": {"from": "finetune"}, "weights": [0.0, 0.5, 1.0],
                                 "tasks": ["STSBenchmark"]})
    content["stages"][4]["models"].append({"label": "merged", "model": {"from": "merge"}})
    pipeline = load(content)
    merge = pipeline.stage("merge")
    assert merge.kind is StageKind.MERGE and merge.settings.trained == str(tmp_path / "run/finetune/model")
    folder = tmp_path / "run/merge"
    assert merge.outputs() == {"model": folder / "model", "selection": folder / "selection.json"}
    assert pipeline.stage("compare").settings.models[-1].model == str(tmp_path / "run/merge/model")
    content["stages"][3]["weights"] = [1.5]
    with pytest.raises(ConfigError, match=r"stage 'merge'.*weights must be a non-empty list of numbers in \[0, 1\]"):
        load(content)
    content["stages"][3].update(weights=[0.5], tasks=["STSBenchmrk"])
    with pytest.raises(ConfigError, match=r"stage 'merge': tasks: unknown name\(s\) \['STSBenchmrk'\]"):
        load(content)
