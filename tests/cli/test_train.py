"""`gtekit train`: help, and a bad pair row named by file, line and field instead of a traceback. Training itself
is tested in tests/training, the dry run in tests/training/test_recipes.py."""

from __future__ import annotations

from gtekit.cli.main import main

from .conftest import assert_help_explains_every_option


def test_help_explains_every_option(capsys):
    text = assert_help_explains_every_option("train", capsys=capsys)
    assert "train.output_dir/recipe.yaml" in text


def test_bad_input_is_a_clear_error_not_a_traceback(tiny_model_dir, tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"query": "q", "positive": "p"}\n{"query": "q2"}\n')
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"model: {{name: {tiny_model_dir}}}\ndata: {{sources: [{pairs}]}}\n"
                      f"train: {{output_dir: {tmp_path / 'run'}, steps: 1, batch_size: 1}}\n")
    assert main(["train", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert f"{pairs}:2" in err and "'positive'" in err and "Traceback" not in err


def test_output_dir_goes_with_dry_run(tiny_model_dir, tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"query": "q", "positive": "p"}\n')
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"model: {{name: {tiny_model_dir}}}\ndata: {{sources: [{pairs}]}}\n")
    assert main(["train", str(recipe), "--output-dir", str(tmp_path / "elsewhere")]) == 2
    assert "--output-dir goes with --dry-run" in capsys.readouterr().err
