"""`gtekit mine`: help, a run with a tiny random model, and errors that are messages, not tracebacks."""

from __future__ import annotations

import json

import pytest

from gtekit.cli.main import build_parser, main
from gtekit.data.pairs import read_pairs
from tests.negatives.conftest import write_pairs


def test_help_has_an_example_and_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["mine", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:\n  gtekit mine all-MiniLM-L6-v2 data/msmarco.jsonl -o mined/msmarco" in text
    parser = build_parser()._subparsers._group_actions[0].choices["mine"]
    for action in parser._actions:
        assert action.help, f"option {action.option_strings or action.dest} has no help"
        for flag in action.option_strings:
            assert flag in text


def test_mines_with_a_tiny_model_and_reruns_selection_only(tiny_model_dir, tmp_path, capsys):
    pairs = write_pairs(tmp_path / "pairs.jsonl", [(f"how do I use function {i}?", f"def function_{i}(): return {i}")
                                                   for i in range(12)])
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"class Thing{i}: pass\n" for i in range(20)))
    out = tmp_path / "mined"
    args = ["mine", str(tiny_model_dir), str(pairs), "--corpus", str(corpus), "-o", str(out), "--top-k", "10",
            "--num-negatives", "2", "--chunk-size", "8", "--relative-margin", "none"]
    assert main(args) == 0
    assert "12 pairs with negatives written" in capsys.readouterr().out
    mined, _ = read_pairs(out / "triples.jsonl")
    assert len(mined) == 12 and all(len(pair.negatives) == 2 for pair in mined)
    report = json.loads((out / "report.json").read_text())
    assert report["encoded_chunks"] == {"queries": "2 of 2", "corpus": "4 of 4"} and not report["run_file_reused"]

    assert main([*args[:-1], "0.01", "--keep-short", "--sampling", "random"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["encoded_chunks"] == {"queries": "0 of 2", "corpus": "0 of 4"} and report["run_file_reused"]
    assert report["settings"]["rules"]["relative_margin"] == 0.01


@pytest.mark.parametrize(("extra", "message"), [
    (["--relative-margin", "0.95"], "relative_margin=0.05"),
    (["--top-k", "5", "--num-negatives", "6"], "k=5 candidates cannot give 6 negatives"),
    (["--index", "annoy"], "invalid choice: 'annoy'"),
    (["--samples", "-1"], "samples must be >= 0, got -1"),
    (["--device", "gpu"], "device: unknown value 'gpu'; valid: auto, cpu, cuda, cuda:N"),
])
def test_bad_options_are_messages(extra, message, tiny_model_dir, tmp_path, capsys):
    pairs = write_pairs(tmp_path / "pairs.jsonl", [("q", "p")])
    try:
        code = main(["mine", str(tiny_model_dir), str(pairs), "-o", str(tmp_path / "out"), *extra])
    except SystemExit as error:  # argparse's own errors
        code = error.code
    assert code == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_bad_pair_row_names_file_line_and_field(tiny_model_dir, tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"query": "q", "positive": "p"}\n{"query": "q2"}\n')
    assert main(["mine", str(tiny_model_dir), str(pairs), "-o", str(tmp_path / "out")]) == 2
    assert f"{pairs}:2: field 'positive': missing" in capsys.readouterr().err
