"""recipes/ablations.yaml changes one setting per run, and benchmarks/ablations.py reports its eval stages."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from benchmarks import ablations
from benchmarks.claims import check_document
from gtekit.pipeline import StageKind, load_pipeline

REPO = Path(__file__).resolve().parents[2]


def plain(stage) -> dict:
    """A train stage's settings without where it writes."""
    recipe = stage.settings
    return dataclasses.asdict(dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, output_dir="")))


def changes(stage, reference) -> dict:
    """{section.key: value} where ``stage`` differs from ``reference``."""
    ours, theirs = plain(stage), plain(reference)
    return {f"{section}.{key}": value for section in ours for key, value in ours[section].items()
            if theirs[section][key] != value}


@pytest.fixture(scope="module")
def pipeline():
    return load_pipeline(REPO / "recipes/ablations.yaml", ["output_dir=runs/elsewhere"])


def test_each_pre_training_run_changes_one_setting_of_the_reference(pipeline):
    reference = pipeline.stage("pt")
    assert reference.settings.data.alpha == 0.5 and reference.settings.loss.name == "gte"
    assert changes(pipeline.stage("pt-alpha-0"), reference) == {"data.alpha": 0.0}
    assert changes(pipeline.stage("pt-alpha-03"), reference) == {"data.alpha": 0.3}
    assert changes(pipeline.stage("pt-alpha-1"), reference) == {"data.alpha": 1.0}
    assert changes(pipeline.stage("pt-loss-qd"), reference) == {"loss.name": "infonce"}
    assert changes(pipeline.stage("pt-loss-qd-dq"), reference) == {"loss.name": "bidirectional"}
    assert changes(pipeline.stage("pt-tau-001"), reference) == {"loss.temperature": 0.01}
    assert changes(pipeline.stage("pt-tau-002"), reference) == {"loss.temperature": 0.02}
    batches = [pipeline.stage(f"pt-batch-{size}") for size in (64, 256, 1024)]
    for stage, size in zip(batches, (64, 256, 1024), strict=True):  # only the batch (and how it is cut) differs
        assert set(changes(stage, batches[0])) <= {"train.batch_size", "train.chunk_size", "train.save_every",
                                                   "train.log_every"}
        assert stage.settings.train.batch_size == size and stage.settings.train.steps == 20
        assert stage.settings.data.weights == {"chatterbot": 0}  # 806 pairs: fewer than 1024


def test_the_stage_runs_are_the_paper_table_9_settings(pipeline):
    pt_ft, ft = pipeline.stage("pt-ft"), pipeline.stage("ft")
    assert pt_ft.settings.model.name == "runs/elsewhere/pt/model" and ft.settings.model.name == "all-MiniLM-L6-v2"
    assert changes(pt_ft, ft) == {"model.name": "runs/elsewhere/pt/model"}
    assert pt_ft.settings.train.lr == pytest.approx(pipeline.stage("pt").settings.train.lr / 10)  # section 3.4


def test_every_ablation_is_an_eval_stage_on_test_splits_of_the_same_tasks(pipeline):
    stages = [pipeline.stage(ablation.stage) for ablation in ablations.ABLATIONS]
    assert all(stage.kind is StageKind.EVAL and stage.settings.split == "test" for stage in stages)
    assert len({tuple(stage.settings.tasks) for stage in stages}) == 1
    assert [m.model for m in stages[2].settings.models][:3] == [
        "runs/elsewhere/pt-loss-qd/model", "runs/elsewhere/pt-loss-qd-dq/model", "runs/elsewhere/pt/model"]


def fake_results(labels, seed):
    tasks = {"STSBenchmark": "STS", "TRECClustering": "Clustering"}
    results = []
    for i, label in enumerate(labels):
        result = {"model": label, "tasks": {task: {"main_score": 0.5 + 0.01 * (i + seed) + 0.001 * j, "type": kind}
                                          for j, (task, kind) in enumerate(tasks.items())}}
        if i:
            cell = {"delta": 0.01 * i, "low": 0.01 * i - 0.004, "high": 0.01 * i + 0.003, "significant": True,
                    "resamples": 1000, "confidence": 0.95}
            result["delta_to_first"] = {"baseline": labels[0], "tasks": dict.fromkeys(tasks, cell), "average": cell}
        results.append(result)
    return results


def test_the_report_writes_tables_plots_and_a_results_file_that_claims_accepts(tmp_path):
    run = tmp_path / "run"
    for n, ablation in enumerate(ablations.ABLATIONS):
        (run / ablation.stage).mkdir(parents=True)
        (run / ablation.stage / "results.json").write_text(json.dumps(fake_results(["first", "second", "third"], n)))
        (run / ablation.stage / ablations.MARKER).write_text(json.dumps(
            {"stage": ablation.stage, "finished_at": f"2026-01-01T00:0{n}:00"}))
    docs = tmp_path / "docs"
    time_log = tmp_path / "time.txt"  # GNU time -v's report, as `make ablations` writes it
    time_log.write_text("\tElapsed (wall clock) time (h:mm:ss or m:ss): 48:42.91\n"
                        "\tMaximum resident set size (kbytes): 5225296\n")
    assert ablations.main(["--from", str(run), "--docs", str(docs), "--time-log", str(time_log)]) == 0
    record = json.loads((docs / "results/ablations.json").read_text())
    assert (record["wall"], record["peak_rss_gib"]) == ("48 min 43 s", 4.98)
    assert [a["stage"] for a in record["ablations"]] == [a.stage for a in ablations.ABLATIONS]
    assert list(record["stages_finished_at"]) == [a.stage for a in ablations.ABLATIONS]
    for ablation in ablations.ABLATIONS:
        assert (docs / f"ablations-{ablation.stage}.png").read_bytes()[:4] == b"\x89PNG"
    markdown = (docs / "results/ablations.md").read_text()
    assert markdown.count("| **average** |") == 2 * len(ablations.ABLATIONS)  # scores and changes
    page = docs / "page.md"  # the tables as docs/ablations.md quotes them: every number is in the results file
    page.write_text("<!-- results: results/ablations.json -->\n" + markdown.replace(
        "\n\n|", "\n<!-- results: results/ablations.json -->\n|"))
    problems, checked = check_document(page, docs, every_table=True)
    assert problems == [] and checked > 100
    page.write_text(page.read_text().replace("+1.00", "+7.77", 1))
    problems, _ = check_document(page, docs, every_table=True)
    assert [problem.message for problem in problems] == ["+7.77 is in none of results/ablations.json"]


def test_an_unfinished_stage_is_named(tmp_path):
    with pytest.raises(SystemExit, match=r"table-9-stages.*has not finished"):
        ablations.read_tables(tmp_path)
