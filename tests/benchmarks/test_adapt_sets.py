"""The committed adaptation sets load as BEIR folders and match manifest.json; the selection rules hold."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from benchmarks.adapt_sets.candidates import Candidate, choose
from benchmarks.adapt_sets.code_sets import javascript_name
from gtekit.evaluation.tasks.beir import load_beir

SETS = Path(__file__).resolve().parents[2] / "benchmarks" / "adapt_sets"
MANIFEST = json.loads((SETS / "manifest.json").read_text(encoding="utf-8"))
REQUIRED = ("pypi-docstrings", "npm-jsdoc", "pypi-doc-sections")


def test_the_required_sets_are_built():
    assert set(REQUIRED) <= set(MANIFEST)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_set_loads_and_matches_its_manifest(name):
    entry = MANIFEST[name]
    folder = SETS / name
    data = load_beir(folder, "test")
    assert len(data.corpus_ids) == entry["documents"] <= 3000
    assert len(data.query_ids) == entry["queries"]
    assert sum(len(judged) for judged in data.qrels.values()) == entry["qrels"]
    assert (folder / "corpus.jsonl").stat().st_size == entry["corpus_bytes"]
    assert all(package["sha256"] and package["version"] and package["licence"] for package in entry["packages"])

    rows = [json.loads(line) for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(set(row) == {"_id", "title", "text"} and row["title"] == "" for row in rows)
    texts = {row["_id"]: row["text"] for row in rows}
    assert len(texts) == len(rows) == len({" ".join(text.split()) for text in texts.values()})
    queries = dict(zip(data.query_ids, data.query_texts, strict=True))
    with open(folder / "qrels" / "test.tsv", encoding="utf-8", newline="") as stream:
        qrels = list(csv.reader(stream, delimiter="\t"))
    assert qrels[0] == ["query-id", "corpus-id", "score"]
    for query_id, doc_id, score in qrels[1:]:
        assert doc_id in texts and score == "1"
        assert queries[query_id] not in texts[doc_id]
    assert len({text.casefold() for text in queries.values()}) == len(queries)


def _candidate(doc_id, query, text, source="p"):
    return Candidate(doc_id, query, text, source)


def test_choose_merges_repeated_documents_and_drops_ambiguous_or_leaking_queries():
    candidates = [
        _candidate("a", "sort the list in place", "def a(x):\n    x.sort()"),
        _candidate("a-copy", "sort the list in place", "def a(x):  \n    x.sort()"),  # same text, spacing aside
        _candidate("b", "Return the first item", "def b(x):\n    return x[0]"),
        _candidate("c", "return the FIRST item", "def c(y):\n    return y[0]"),  # same query, other document
        _candidate("d", "def d", "def d(z):\n    return z"),  # the query is inside the document
        _candidate("e", "", "def e(w):\n    return w"),  # a document without a query
    ]
    chosen = choose(candidates, n_queries=10, max_docs=10, seed=0, min_query_words=2, min_doc_words=1)
    assert [doc_id for doc_id, _ in chosen.corpus] == ["a", "b", "c", "d", "e"]
    assert [(text, doc_id) for _, text, doc_id in chosen.queries] == [("sort the list in place", "a")]
    assert chosen.counts["query_written_for_several_documents"] == 2
    assert chosen.counts["query_inside_document"] == 1


def test_choose_caps_each_source_and_keeps_every_queried_document():
    candidates = [_candidate(f"{source}{i}", f"query number {i} of {source}", f"text {i} {source}", source)
                  for source in "xy" for i in range(10)]
    chosen = choose(candidates, n_queries=8, max_docs=9, seed=1, min_query_words=2, min_doc_words=1,
                    max_source_share=0.5)
    sources = [doc_id[0] for _, _, doc_id in chosen.queries]
    assert sources.count("x") == sources.count("y") == 4
    corpus = {doc_id for doc_id, _ in chosen.corpus}
    assert len(corpus) == 9 and {doc_id for _, _, doc_id in chosen.queries} <= corpus


@pytest.mark.parametrize(("first_line", "name"), [
    ("function chunk(array, size) {", "chunk"), ("var camelCase = createCompounder(function(r, w) {", "camelCase"),
    ("Foo.prototype.bar = function () {", "bar"), ("export default async function load() {", "load"),
    ("static async create(doc) {", "create"), ("Matrix.prototype[Symbol.iterator] = function* () {", "iterator"),
])
def test_javascript_name(first_line, name):
    assert javascript_name(first_line + "\n}") == name
