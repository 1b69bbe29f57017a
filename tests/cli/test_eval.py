"""`gtekit eval`: help, the results JSON of one model (an object) and of several (a list), the Markdown table."""

from __future__ import annotations

import json

import pytest

from gtekit.cli.main import main

from .conftest import assert_help_explains_every_option


def test_help_explains_every_option(capsys):
    assert_help_explains_every_option("eval", capsys=capsys)


def test_eval_writes_results_json(tiny_model_dir, tmp_path, capsys):
    output = tmp_path / "results.json"
    assert main(["eval", str(tiny_model_dir), "--tasks", "STSBenchmark", "-o", str(output)]) == 0
    results = json.loads(output.read_text())
    assert results["model"] == str(tiny_model_dir)
    scores = results["tasks"]["STSBenchmark"]
    assert -1 <= scores["main_score"] <= 1 and scores["main_score"] == scores["cosine_spearman"]
    assert "| STSBenchmark |" in capsys.readouterr().out
    assert main(["eval", str(tiny_model_dir), "--tasks", "NoSuchTask"]) == 2


def test_several_models_give_a_list_and_one_table(tiny_model_dir, tmp_path, capsys):
    output, table = tmp_path / "results.json", tmp_path / "table.md"
    assert main(["eval", str(tiny_model_dir), str(tiny_model_dir), "--tasks", "STSBenchmark", "-o", str(output),
                 "--markdown", str(table)]) == 0
    results = json.loads(output.read_text())
    assert [set(result) for result in results] == [{"model", "tasks"}, {"model", "tasks", "delta_to_first"}]
    assert results[0]["tasks"]["STSBenchmark"]["main_score"] == results[1]["tasks"]["STSBenchmark"]["main_score"]
    assert results[1]["delta_to_first"]["tasks"]["STSBenchmark"]["delta"] == 0.0
    assert table.read_text() == capsys.readouterr().out  # the table printed is the table written
    assert table.read_text().startswith(f"| task | type | {tiny_model_dir} | {tiny_model_dir} |")


@pytest.mark.minilm
def test_minilm_stsbenchmark_matches_the_reference(tmp_path):
    output = tmp_path / "results.json"
    assert main(["eval", "all-MiniLM-L6-v2", "--tasks", "STSBenchmark", "-o", str(output)]) == 0
    score = json.loads(output.read_text())["tasks"]["STSBenchmark"]["main_score"]
    assert score == pytest.approx(0.8203, abs=5e-4)


def test_dims_give_one_column_per_truncation(tiny_model_dir, tmp_path, capsys):
    output = tmp_path / "results.json"
    assert main(["eval", str(tiny_model_dir), "--tasks", "STSBenchmark", "--dims", "16,8", "--resamples", "0",
                 "-o", str(output)]) == 0
    results = json.loads(output.read_text())
    assert [result["model"] for result in results] == [f"{tiny_model_dir}@16", f"{tiny_model_dir}@8"]
    assert f"| {tiny_model_dir}@16 | {tiny_model_dir}@8 |" in capsys.readouterr().out
    for bad in ("0", "8,8", "eight"):
        with pytest.raises(SystemExit) as exit_info:
            main(["eval", str(tiny_model_dir), "--tasks", "STSBenchmark", "--dims", bad])
        assert exit_info.value.code == 2
