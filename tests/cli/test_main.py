"""The gtekit command: help texts, encode, eval, train and quickstart end to end (tiny model)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gtekit.cli.main import build_parser, main

COMMANDS = ["train", "encode", "eval", "convert", "quickstart"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_explains_every_option(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"] if command is None else [command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    parser = build_parser()
    if command is not None:
        parser = parser._subparsers._group_actions[0].choices[command]
    for action in parser._actions:
        assert action.help, f"option {action.option_strings or action.dest} of {command} has no help"
        for flag in action.option_strings:
            assert flag in text


def test_encode_text_and_jsonl(tiny_model_dir, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("first text\nsecond text\nthird\n")
    assert main(["encode", str(tiny_model_dir), str(texts), "-o", str(tmp_path / "a.npy")]) == 0
    a = np.load(tmp_path / "a.npy")
    assert a.shape == (3, 32)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps({"body": t}) for t in ["first text", "second text", "third"]))
    assert main(["encode", str(tiny_model_dir), str(rows), "--field", "body", "-o", str(tmp_path / "b.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "b.npy"), a, atol=1e-6)


def test_bad_input_is_a_clear_error_not_a_traceback(tiny_model_dir, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "ok"}\n{"text": \n')
    assert main(["encode", str(tiny_model_dir), str(rows), "-o", str(tmp_path / "x.npy")]) == 2
    assert f"{rows}:2: invalid JSON" in capsys.readouterr().err
    assert not (tmp_path / "x.npy").exists()
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"query": "q", "positive": "p"}\n{"query": "q2"}\n')
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"model: {{name: {tiny_model_dir}}}\ndata: {{sources: [{pairs}]}}\n"
                      f"train: {{output_dir: {tmp_path / 'run'}, steps: 1, batch_size: 1}}\n")
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert f"{pairs}:2" in err and "'positive'" in err and "Traceback" not in err


def test_eval_writes_results_json(tiny_model_dir, tmp_path, capsys):
    output = tmp_path / "results.json"
    assert main(["eval", str(tiny_model_dir), "--tasks", "STSBenchmark", "-o", str(output)]) == 0
    results = json.loads(output.read_text())
    assert results["model"] == str(tiny_model_dir)
    scores = results["tasks"]["STSBenchmark"]
    assert -1 <= scores["main_score"] <= 1 and scores["main_score"] == scores["cosine_spearman"]
    assert "| STSBenchmark |" in capsys.readouterr().out
    assert main(["eval", str(tiny_model_dir), "--tasks", "NoSuchTask"]) == 2


def test_train_then_quickstart_with_a_tiny_model(tiny_model_dir, tmp_path, capsys):
    output_dir = tmp_path / "qs"
    code = main(["quickstart", "--output-dir", str(output_dir), "--set", f"model.name={tiny_model_dir}",
                 "--set", "train.steps=2", "--set", "train.batch_size=4", "--set", "model.max_seq_length=32"])
    assert code == 0
    results = json.loads((output_dir / "quickstart_results.json").read_text())
    assert set(results["before"]) == set(results["after"]) == {
        "code_search_mrr_at_10", "code_search_ndcg_at_10", "stsb_spearman"}
    assert results["held_out_pairs"] > 300
    out = capsys.readouterr().out
    assert "| held-out code search MRR@10 |" in out
    rows = (output_dir / "data" / "python-stdlib-code.jsonl").read_text().splitlines()
    assert len(rows) > 3000 and set(json.loads(rows[0])) == {"query", "positive"}
    assert (output_dir / "model" / "modules.json").is_file()


@pytest.mark.minilm
def test_minilm_stsbenchmark_matches_the_reference(tmp_path):
    output = tmp_path / "results.json"
    assert main(["eval", "all-MiniLM-L6-v2", "--tasks", "STSBenchmark", "-o", str(output)]) == 0
    score = json.loads(output.read_text())["tasks"]["STSBenchmark"]["main_score"]
    assert score == pytest.approx(0.8203, abs=5e-4)
