"""`gtekit encode` -> `gtekit index build` -> `gtekit search` with the tiny random model, and the commands' errors."""

from __future__ import annotations

import json

import pytest

from gtekit import Embedder
from gtekit.cli.main import build_parser, main
from gtekit.search import SearchIndex

DOCUMENTS = ["how to read a file", "sort a list of numbers", "open a network socket", "parse a date string",
             "format a float with two decimals", "join paths on any system"]


def subparser(parser, *names):
    for name in names:
        parser = parser._subparsers._group_actions[0].choices[name]
    return parser


@pytest.mark.parametrize("command", [("index", "build"), ("index", "info"), ("search",)])
def test_help_explains_every_option(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for action in subparser(build_parser(), *command)._actions:
        assert action.help, f"option {action.option_strings or action.dest} of {command} has no help"
        for flag in action.option_strings:
            assert flag in text


@pytest.fixture(scope="module")
def shards_dir(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("round-trip")
    (folder / "docs.txt").write_text("\n".join(DOCUMENTS) + "\n")
    assert main(["encode", str(tiny_model_dir), str(folder / "docs.txt"), "-o", str(folder / "shards"),
                 "--kind", "document"]) == 0
    return folder / "shards"


def test_round_trip_build_and_search(shards_dir, tiny_model_dir, tiny_embedder, tmp_path, capsys):
    index_dir = tmp_path / "index"
    assert main(["index", "build", str(shards_dir), "-o", str(index_dir), "--precision", "int8",
                 "--kind", "hnsw", "--hnsw-m", "8", "--rescore-multiplier", "3"]) == 0
    assert "indexed 6 x 32 embeddings" in capsys.readouterr().out
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["model"] == str(tiny_model_dir)  # from the shards' manifest
    assert (manifest["kind"], manifest["precision"], manifest["factory"]) == ("hnsw", "int8", "HNSW8,SQ8")
    assert manifest["parameters"]["rescore_multiplier"] == 3 and manifest["parameters"]["hnsw_m"] == 8

    queries = ["parse a date string", "open a socket"]
    assert main(["search", str(index_dir), *queries, "-k", "3", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["query"] for line in lines] == queries
    assert lines[0]["hits"][0]["text"] == "parse a date string"  # the tiny model has no query prefix
    assert lines[0]["hits"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    expected = SearchIndex.load(index_dir).search(tiny_embedder.encode(queries, kind="query"), 3)
    for line, hits in zip(lines, expected, strict=True):
        assert [(row["rank"], row["id"], row["text"]) for row in line["hits"]] == [
            (rank, hit.id, hit.text) for rank, hit in enumerate(hits, 1)]
        assert [row["score"] for row in line["hits"]] == pytest.approx([hit.score for hit in hits], abs=1e-5)

    assert main(["search", str(index_dir), "parse a date string", "-k", "2", "--no-rescore"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "query: parse a date string"
    assert printed[1].split()[0] == "1" and printed[1].endswith("parse a date string") and len(printed) == 4
    assert main(["index", "info", str(index_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 6


def test_command_errors_are_clear(shards_dir, tmp_path, capsys):
    assert main(["index", "build", str(tmp_path / "nowhere"), "-o", str(tmp_path / "index")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["index", "build", str(shards_dir), "-o", str(tmp_path / "index"), "--kind", "ivfpq",
                 "--precision", "binary"]) == 2
    assert "ivfpq stores product-quantized codes" in capsys.readouterr().err
    assert main(["index", "build", str(shards_dir), "-o", str(tmp_path / "index")]) == 0
    capsys.readouterr()
    other = Embedder.from_config("all-MiniLM-L6-v2", hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                                 max_position_embeddings=64, seed=0).save(tmp_path / "other-model")
    assert main(["search", str(tmp_path / "index"), "a query", "--model", str(other)]) == 2
    assert "makes 16-dimensional embeddings but the index holds 32-dimensional ones" in capsys.readouterr().err
    assert main(["search", str(tmp_path / "index")]) == 2
    assert "no queries" in capsys.readouterr().err
    assert main(["search", str(tmp_path / "index"), "a query", "--rescore"]) == 2
    assert "without a rescore store" in capsys.readouterr().err
