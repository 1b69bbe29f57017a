"""evaluate_models: the tasks EvalSettings name, one result per model, and the files it asks for in either layout."""

from __future__ import annotations

import json

import pytest

from gtekit.config import ConfigError, from_dict
from gtekit.evaluation.comparison import evaluate_models
from gtekit.evaluation.results_report import format_deltas, format_table
from gtekit.evaluation.settings import EvalModel, EvalSettings, ResultsLayout

WORDS = ["cat", "dog", "car", "bus", "tree", "rose"]


@pytest.fixture
def sts_file(tmp_path):
    (tmp_path / "pairs.csv").write_text("s1,s2,score\n" + "".join(
        f"the {a} is here,a {b} is there,{4.5 if a == b else 0.5 + (i % 3)}\n"
        for i, (a, b) in enumerate((a, b) for a in WORDS for b in WORDS)))
    path = tmp_path / "sts.yaml"
    path.write_text(json.dumps({"name": "TinySTS", "type": "STS",
                                "data": {"path": "pairs.csv", "text1": "s1", "text2": "s2"}}))
    return str(path)


def test_labelled_list_names_each_model_and_writes_the_table(tiny_model_dir, sts_file, tmp_path):
    shown = []
    settings = EvalSettings(models=[EvalModel(str(tiny_model_dir), "base"), EvalModel(str(tiny_model_dir))],
                            task_files=[sts_file], results_json=str(tmp_path / "results.json"),
                            markdown=str(tmp_path / "results.md"), plot=str(tmp_path / "chart.png"))
    comparison = evaluate_models(settings, echo=shown.append)
    results = json.loads((tmp_path / "results.json").read_text())
    assert [(r["model"], r["path"]) for r in results] == [("base", str(tiny_model_dir)),
                                                         (str(tiny_model_dir), str(tiny_model_dir))]
    assert results == comparison.results and comparison.tasks == 1
    assert shown == [comparison.table] == [format_table(results) + "\n\n" + format_deltas(results)]
    assert results[1]["delta_to_first"]["baseline"] == "base" and "delta_to_first" not in results[0]
    assert (tmp_path / "results.md").read_text() == comparison.table + "\n"
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_object_for_one_model_and_a_list_for_several(tiny_model_dir, sts_file, tmp_path):
    one = EvalSettings(models=[EvalModel(str(tiny_model_dir))], task_files=[sts_file],
                       results_json=str(tmp_path / "one.json"), results_layout="object_for_one")
    assert one.results_layout is ResultsLayout.OBJECT_FOR_ONE
    evaluate_models(one)
    result = json.loads((tmp_path / "one.json").read_text())
    assert set(result) == {"model", "tasks"} and result["model"] == str(tiny_model_dir)
    two = EvalSettings(models=[EvalModel(str(tiny_model_dir))] * 2, task_files=[sts_file],
                       results_json=str(tmp_path / "two.json"), results_layout=ResultsLayout.OBJECT_FOR_ONE)
    evaluate_models(two)
    assert [set(r) for r in json.loads((tmp_path / "two.json").read_text())] == [{"model", "tasks"},
                                                                               {"model", "tasks", "delta_to_first"}]
    assert not (tmp_path / "results.md").exists()  # nothing asked, nothing written


def test_nothing_to_evaluate_and_bad_layouts_are_config_errors():
    with pytest.raises(ConfigError, match="nothing to evaluate: give tasks, suite, task_files or beir"):
        EvalSettings(models=[EvalModel("m")])
    with pytest.raises(ConfigError, match="stage 'compare': results_layout: unknown value 'list'"):
        from_dict(EvalSettings, {"tasks": ["STSBenchmark"], "results_layout": "list"}, where="stage 'compare'")
    assert EvalModel("m").label == "m" and EvalModel("m", "base").label == "base"


def test_the_split_is_an_enum_checked_when_read():
    from gtekit.evaluation.settings import EvalSplit

    assert from_dict(EvalSettings, {"tasks": ["STSBenchmark"], "split": "dev"}).split is EvalSplit.DEV
    assert EvalSettings(tasks=["STSBenchmark"]).split is EvalSplit.TEST
    with pytest.raises(ConfigError, match="stage 'compare': split: unknown value 'train'; valid: test, dev"):
        from_dict(EvalSettings, {"tasks": ["STSBenchmark"], "split": "train"}, where="stage 'compare'")
    with pytest.raises(ConfigError, match="resamples must be 0"):
        EvalSettings(tasks=["STSBenchmark"], resamples=-1)


def test_dev_split_scores_the_dev_tasks(tiny_model_dir, tmp_path):
    settings = EvalSettings(models=[EvalModel(str(tiny_model_dir))], tasks=["LeeDocumentSimilarity"], split="dev",
                            use_cache=False)
    (result,) = evaluate_models(settings).results
    assert result["tasks"]["LeeDocumentSimilarity"]["split"] == "dev"
    assert "15 dev documents" in result["tasks"]["LeeDocumentSimilarity"]["description"]


def test_dims_score_the_truncated_embeddings_each_as_its_own_model(tiny_model_dir, sts_file, tmp_path):
    settings = EvalSettings(models=[EvalModel(str(tiny_model_dir), "tiny")], task_files=[sts_file], dims=[8, 32],
                            results_json=str(tmp_path / "results.json"), resamples=10)
    results = evaluate_models(settings).results
    assert [r["model"] for r in results] == ["tiny@8", "tiny@32"]
    assert results[1]["delta_to_first"]["baseline"] == "tiny@8"
    full = evaluate_models(EvalSettings(models=[EvalModel(str(tiny_model_dir), "tiny")], task_files=[sts_file],
                                        resamples=0)).results[0]["tasks"]["TinySTS"]["main_score"]
    scores = [r["tasks"]["TinySTS"]["main_score"] for r in results]
    assert scores[1] == pytest.approx(full, abs=1e-6) and scores[0] != pytest.approx(full, abs=1e-6)
    with pytest.raises(ValueError, match=r"dims \[64\]: more than the 32 dimensions of model .*; give sizes in "
                                         r"\[1, 32\]"):
        evaluate_models(EvalSettings(models=[EvalModel(str(tiny_model_dir))], task_files=[sts_file], dims=[8, 64]))
    for dims in ([0], [8, 8]):
        with pytest.raises(ConfigError, match="dims must be distinct whole numbers >= 1"):
            EvalSettings(models=[EvalModel(str(tiny_model_dir))], task_files=[sts_file], dims=dims)
