"""BEIR folders: loading conventions, clear errors for bad folders, metrics against pytrec_eval."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import pytrec_eval

from gtekit.evaluation.embedding_cache import EmbeddingCache
from gtekit.evaluation.tasks.beir import RetrievalData, evaluate_retrieval, load_beir

TOPICS = ["cats", "dogs", "rivers", "stars", "bread"]
QRELS_HEADER = "query-id\tcorpus-id\tscore"


def corpus_rows() -> list[dict]:
    """20 documents, 4 per topic; some with a title, some with an empty or no title, one integer id."""
    rows = []
    for i in range(20):
        topic = TOPICS[i % 5]
        row: dict = {"_id": f"d{i}", "text": f"  A note number {i} about {topic} and other things. "}
        if i % 3 == 0:
            row["title"] = f"{topic.title()} {i}"
        elif i % 3 == 1:
            row["title"] = ""
        rows.append(row)
    rows[7]["_id"] = 107  # a JSON number id; the qrels spell it "107"
    return rows


def query_rows() -> list[dict]:
    queries = [{"_id": f"q{t}", "text": f"what about {topic}?"} for t, topic in enumerate(TOPICS)]
    return [*queries, {"_id": "q-unjudged", "text": "a query with no qrels in this split"}]


def qrels_lines() -> list[str]:
    """Graded qrels: for topic t, docs t, t+5, t+10, t+15 with relevance 2, 1, 1, 0."""
    lines = [QRELS_HEADER]
    for t in range(5):
        for grade, i in zip((2, 1, 1, 0), (t, t + 5, t + 10, t + 15), strict=True):
            doc = "107" if i == 7 else f"d{i}"
            lines.append(f"q{t}\t{doc}\t{grade}")
    return lines


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def write_beir(folder: Path, corpus: list[dict] | None = None, queries: list[dict] | None = None,
               qrels: list[str] | None = None, split: str = "test", gz: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "qrels").mkdir(exist_ok=True)
    files = {"corpus.jsonl": jsonl(corpus_rows() if corpus is None else corpus),
             "queries.jsonl": jsonl(query_rows() if queries is None else queries),
             f"qrels/{split}.tsv": "\n".join(qrels_lines() if qrels is None else qrels) + "\n"}
    for name, text in files.items():
        if gz:
            with gzip.open(folder / f"{name}.gz", "wt", encoding="utf-8") as handle:
                handle.write(text)
        else:
            (folder / name).write_text(text, encoding="utf-8")
    return folder


# ----------------------------------------------------------------- loading
def test_load_conventions(tmp_path: Path) -> None:
    data = load_beir(write_beir(tmp_path / "toy"), "test")
    assert (data.name, data.split, data.skipped_qrels) == ("toy", "test", 0)
    assert len(data.corpus_ids) == 20 and data.corpus_ids[7] == "107"
    # mteb: (title + " " + text).strip(), so the text's own leading spaces stay after the title
    assert data.corpus_texts[0] == "Cats 0   A note number 0 about cats and other things."
    assert data.corpus_texts[1] == "A note number 1 about dogs and other things."  # empty title
    assert data.corpus_texts[2] == "A note number 2 about rivers and other things."  # no title
    assert data.query_ids == ["q0", "q1", "q2", "q3", "q4"]  # the query without qrels is dropped
    assert data.query_texts[1] == "what about dogs?"
    assert data.qrels["q2"] == {"d2": 2, "107": 1, "d12": 1, "d17": 0}
    assert all(isinstance(v, int) for rels in data.qrels.values() for v in rels.values())


def test_gzipped_folder_loads_the_same(tmp_path: Path) -> None:
    assert load_beir(write_beir(tmp_path / "gz", gz=True)) == load_beir(write_beir(tmp_path / "gz"))


def test_qrels_without_header_and_repeated_lines(tmp_path: Path) -> None:
    lines = ["q0\td0\t1", "q0\td5\t1", "q0\td0\t2", ""]  # no header: the first line is data; the last d0 wins
    data = load_beir(write_beir(tmp_path, qrels=lines))
    assert data.qrels == {"q0": {"d0": 2, "d5": 1}}


def test_unknown_ids_can_be_skipped_or_kept(tmp_path: Path) -> None:
    lines = [*qrels_lines(), "q0\tnowhere\t1", "q-missing\td0\t1"]
    folder = write_beir(tmp_path, qrels=lines)
    skipped = load_beir(folder, unknown_ids="skip")
    assert skipped.skipped_qrels == 2 and "nowhere" not in skipped.qrels["q0"]
    kept = load_beir(folder, unknown_ids="keep")  # unretrievable relevant document, as mteb scores it
    assert kept.skipped_qrels == 1 and kept.qrels["q0"]["nowhere"] == 1 and "q-missing" not in kept.qrels
    with pytest.raises(ValueError, match="unknown_ids='maybe'; valid: error, skip, keep"):
        load_beir(folder, unknown_ids="maybe")


# ----------------------------------------------------------------- bad folders
def _malformed_line(folder: Path) -> None:
    lines = (folder / "corpus.jsonl").read_text().splitlines()
    lines[2] = lines[2][:-3]
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n")


BAD_FOLDERS = {
    "no corpus": (lambda f: (f / "corpus.jsonl").unlink(), FileNotFoundError, r"no corpus\.jsonl"),
    "no queries": (lambda f: (f / "queries.jsonl").unlink(), FileNotFoundError, r"no queries\.jsonl"),
    "no split": (lambda f: (f / "qrels" / "test.tsv").rename(f / "qrels" / "dev.tsv"), FileNotFoundError,
                 r"test\.tsv: no qrels for split 'test' \(splits found: dev\)"),
    "empty corpus": (lambda f: (f / "corpus.jsonl").write_text("\n"), ValueError, "the corpus is empty"),
    "malformed json": (_malformed_line, ValueError, r"corpus\.jsonl:3: malformed JSON"),
    "no _id": (lambda f: (f / "queries.jsonl").write_text('{"_id": "q0", "text": "x"}\n{"text": "y"}\n'),
               ValueError, r"queries\.jsonl:2: missing field '_id'"),
    "no text": (lambda f: (f / "corpus.jsonl").write_text('{"_id": "d0", "title": "t"}\n'),
                ValueError, r"corpus\.jsonl:1: missing field 'text'"),
    "text not a string": (lambda f: (f / "corpus.jsonl").write_text('{"_id": "d0", "text": null}\n'),
                          ValueError, r"corpus\.jsonl:1: field 'text' must be a string, got NoneType"),
    "duplicate id": (lambda f: (f / "queries.jsonl").write_text('{"_id": "q0", "text": "a"}\n' * 2),
                     ValueError, r"queries\.jsonl:2: duplicate _id 'q0' \(first at line 1\)"),
    "two columns": (lambda f: (f / "qrels" / "test.tsv").write_text(f"{QRELS_HEADER}\nq0\td0\t1\nq1\td1\n"),
                    ValueError, r"test\.tsv:3: expected 3 tab-separated columns .* got 2"),
    "score not int": (lambda f: (f / "qrels" / "test.tsv").write_text(f"{QRELS_HEADER}\nq0\td0\t0.5\n"),
                      ValueError, r"test\.tsv:2: score must be an integer, got '0\.5'"),
    "unknown ids": (lambda f: (f / "qrels" / "test.tsv").write_text(
        "\n".join([QRELS_HEADER, "q0\td0\t1", "q8\td0\t1", "q9\td1\t1", "q9\td2\t1", "q0\tzz\t1"]) + "\n"),
        ValueError, r"test\.tsv: 3 line\(s\) name 2 query ids not in queries\.jsonl, e\.g\. 'q8' \(line 3\), "
                    r"'q9' \(line 4\); 1 line\(s\) name 1 corpus ids not in corpus\.jsonl, e\.g\. 'zz' \(line 6\)"
                    r".*unknown_ids='skip'"),
    "no query has qrels": (lambda f: (f / "qrels" / "test.tsv").write_text(QRELS_HEADER + "\n"),
                           ValueError, r"test\.tsv: no query has qrels"),
}


@pytest.mark.parametrize("case", list(BAD_FOLDERS))
def test_bad_folder_gives_a_clear_error(tmp_path: Path, case: str) -> None:
    spoil, error, message = BAD_FOLDERS[case]
    folder = write_beir(tmp_path / "bad")
    spoil(folder)
    with pytest.raises(error, match=message):
        load_beir(folder)


# ----------------------------------------------------------------- evaluation
def pytrec_reference(data: RetrievalData, scores: np.ndarray, k_values: tuple[int, ...]) -> dict[str, float]:
    """pytrec_eval on the full (Q, D) score matrix, averaged over the queries (0 for a missing measure)."""
    run = {q: {d: float(s) for d, s in zip(data.corpus_ids, row, strict=True)}
           for q, row in zip(data.query_ids, scores, strict=True)}
    cutoffs = ",".join(map(str, k_values))
    measures = {f"ndcg_cut.{cutoffs}", f"map_cut.{cutoffs}", f"recall.{cutoffs}", f"P.{cutoffs}", "recip_rank"}
    per_query = pytrec_eval.RelevanceEvaluator(data.qrels, measures).evaluate(run)
    names = {f"{ours}_at_{k}": f"{trec}_{k}" for k in k_values for ours, trec in
             (("ndcg", "ndcg_cut"), ("map", "map_cut"), ("recall", "recall"), ("precision", "P"))}
    names[f"mrr_at_{max(k_values)}"] = "recip_rank"  # the run holds every document
    return {ours: float(np.mean([per_query[q][trec] for q in data.query_ids])) for ours, trec in names.items()}


def test_evaluate_retrieval_matches_pytrec_eval(tmp_path: Path, tiny_embedder) -> None:
    data = load_beir(write_beir(tmp_path / "toy"))
    k_values = (1, 3, 5, 10, 100, 1000)
    metrics = evaluate_retrieval(tiny_embedder, data, k_values=k_values, chunk_size=2)
    queries = tiny_embedder.encode(data.query_texts, normalize=True, kind="query")
    documents = tiny_embedder.encode(data.corpus_texts, normalize=True, kind="document")
    reference = pytrec_reference(data, queries @ documents.T, k_values)
    for name, value in reference.items():
        assert metrics[name] == pytest.approx(value, abs=1e-6), name
    assert metrics["main_score"] == metrics["ndcg_at_10"]
    assert (metrics["queries"], metrics["documents"]) == (5, 20)
    assert 0 < metrics["ndcg_at_10"] < 1

    cached = evaluate_retrieval(tiny_embedder, data, k_values=k_values, cache=EmbeddingCache(tmp_path / "cache"))
    assert cached == pytest.approx(metrics)


def test_ignore_identical_ids(tmp_path: Path, tiny_embedder) -> None:
    """A query that is also a document (ArguAna, Quora) finds itself first unless identical ids are ignored."""
    corpus = corpus_rows()
    queries = [{"_id": "d4", "text": corpus[4]["text"].strip()}]  # doc 4 has no title: the same text
    folder = write_beir(tmp_path, corpus=corpus, queries=queries, qrels=[QRELS_HEADER, "d4\td4\t1"])
    data = load_beir(folder)
    assert evaluate_retrieval(tiny_embedder, data)["mrr_at_1"] == 1.0  # mteb's default: kept
    assert evaluate_retrieval(tiny_embedder, data, ignore_identical_ids=True)["mrr_at_1000"] == 0.0
