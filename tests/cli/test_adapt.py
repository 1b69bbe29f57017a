"""`gtekit adapt`: its help explains every option; options become AdaptSettings; bad options and bad corpora
are clear errors (exit 2) before any model loads."""

from __future__ import annotations

from gtekit.cli.main import build_parser, main
from tests.cli.conftest import assert_help_explains_every_option


def test_help_explains_every_option(capsys) -> None:
    text = assert_help_explains_every_option("adapt", capsys=capsys)
    assert "held-out" in text and "OpenAI-compatible" in text


def test_options_become_settings(tmp_path) -> None:
    from gtekit.cli.adapt import settings_from_args

    args = build_parser().parse_args(["adapt", "docs/", "more.jsonl", "-o", str(tmp_path / "run"), "--steps", "50",
                                      "--merge-weights", "0.3,1", "--max-general-drop", "1", "--language", "go",
                                      "--llm-url", "http://localhost:1/v1", "--llm-model", "m"])
    settings = settings_from_args(args)
    assert settings.inputs == ["docs/", "more.jsonl"] and settings.training.steps == 50
    assert settings.selection.weights == [0.3, 1.0] and settings.selection.max_general_drop == 0.01
    assert settings.corpus.language == "go" and settings.llm.model == "m"
    assert settings.llm.cache_path.endswith("synthetic-queries-cache.jsonl")


def test_bad_options_and_corpora_exit_2(tmp_path, capsys) -> None:
    out = str(tmp_path / "run")
    assert main(["adapt", str(tmp_path), "-o", out, "--llm-url", "http://x/v1"]) == 2
    assert "--llm-url and --llm-model go together" in capsys.readouterr().err
    assert main(["adapt", str(tmp_path), "-o", out, "--merge-weights", "0.5,2"]) == 2
    assert "every λ must be in [0, 1]" in capsys.readouterr().err
    (tmp_path / "corpus").mkdir()
    assert main(["adapt", str(tmp_path / "corpus"), "-o", out]) == 2
    assert "no document to adapt to" in capsys.readouterr().err
