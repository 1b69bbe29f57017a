"""Mining end to end on precomputed embeddings: planted false negatives, reruns, atomic outputs, bad inputs."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from gtekit.data.pairs import read_pairs
from gtekit.negatives import SearchSettings, SelectionRules, mine_hard_negatives
from gtekit.negatives import hard_negative_mining as mine_module

from .conftest import TableEmbedder, read_jsonl, unit, write_pairs

N_QUERIES, N_RANDOM, DIM = 30, 200, 32


@pytest.fixture
def planted(tmp_path):
    """Each query near its positive (cosine about 0.8); the corpus holds a paraphrase of every positive
    (a near-duplicate: a false negative if mined) and random documents."""
    rng = np.random.default_rng(0)
    table, pairs = {}, []
    for i in range(N_QUERIES):
        positive = unit(rng.normal(size=DIM))
        table[f"positive {i}"] = positive
        table[f"paraphrase of positive {i}"] = unit(positive + 0.02 * rng.normal(size=DIM) / np.sqrt(DIM))
        table[f"query {i}"] = unit(positive + 0.75 * rng.normal(size=DIM) / np.sqrt(DIM))
        pairs.append((f"query {i}", f"positive {i}"))
    for j in range(N_RANDOM):
        table[f"random document {j}"] = unit(rng.normal(size=DIM))
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": t, "id": k}) + "\n" for k, t in enumerate(table)
                              if not t.startswith("query")))
    return TableEmbedder(table), write_pairs(tmp_path / "pairs.jsonl", pairs), corpus


def mine(planted, out, **rules):
    model, pairs, corpus = planted
    return mine_hard_negatives(model, [pairs], out, corpus_file=corpus, chunk_size=8, samples=3,
                               rules=SelectionRules(**{"num_negatives": 3, **rules}),
                               search_settings=SearchSettings(k=20))


def test_the_relative_threshold_removes_planted_false_negatives_and_counts_them(planted, tmp_path):
    report = mine(planted, tmp_path / "out", relative_margin=0.05)
    triples = read_jsonl(tmp_path / "out/triples.jsonl")
    assert len(triples) == N_QUERIES
    assert not any(f"paraphrase of {row['positive']}" in row["negatives"] for row in triples)
    assert report["candidates"]["relative_margin"] == N_QUERIES  # every planted paraphrase, nothing else
    assert report["false_negatives_dropped"] == N_QUERIES
    assert report["queries"]["with_false_negatives_dropped"] == N_QUERIES
    assert report["scores"]["false_negative"]["count"] == N_QUERIES
    assert report["scores"]["false_negative"]["min"] > 0.95 * report["scores"]["positive"]["min"] - 0.05
    assert report["candidates"]["positive"] == N_QUERIES and report["queries"]["positive_retrieved"] == N_QUERIES
    samples = (tmp_path / "out/samples.md").read_text()
    assert "(relative_margin) paraphrase of positive" in samples
    assert (tmp_path / "out/scores.png").read_bytes().startswith(b"\x89PNG")

    # without the threshold (selection only: nothing re-encoded, nothing searched) the paraphrases come back
    planted[0].calls.clear()
    report = mine(planted, tmp_path / "out", relative_margin=None)
    assert planted[0].calls == [] and report["run_file_reused"]
    triples = read_jsonl(tmp_path / "out/triples.jsonl")
    assert all(row["negatives"][0] == f"paraphrase of {row['positive']}" for row in triples)
    assert report["false_negatives_dropped"] == 0


def test_a_query_is_never_its_own_negative(planted, tmp_path):
    """A corpus text equal to the query is the query itself (scored highest of all): dropped and counted."""
    model, pairs, corpus = planted
    with corpus.open("a") as handle:
        handle.writelines(json.dumps({"text": f"query {i}"}) + "\n" for i in range(N_QUERIES))
    report = mine_hard_negatives(model, [pairs], tmp_path / "out", corpus_file=corpus, chunk_size=8,
                                 rules=SelectionRules(num_negatives=3, relative_margin=None),
                                 search_settings=SearchSettings(k=20))
    triples = read_jsonl(tmp_path / "out/triples.jsonl")
    assert len(triples) == N_QUERIES and not any(row["query"] in row["negatives"] for row in triples)
    assert report["candidates"]["query_text"] == N_QUERIES
    assert report["inputs"]["queries_in_corpus"] == N_QUERIES


def test_outputs_are_the_pair_format_with_report(planted, tmp_path):
    model, pairs, corpus = planted
    report = mine_hard_negatives(model, [pairs], tmp_path / "out", corpus_file=corpus, chunk_size=8,
                                 rules=SelectionRules(num_negatives=2), search_settings=SearchSettings(k=8),
                                 with_scores=True)
    mined, problems = read_pairs(tmp_path / "out/triples.jsonl")
    assert problems == [] and len(mined) == N_QUERIES and all(len(p.negatives) == 2 for p in mined)
    row = read_jsonl(tmp_path / "out/triples.jsonl")[0]
    assert row["positive_score"] > row["negative_scores"][0] >= row["negative_scores"][1]
    assert report["inputs"] | {"pair_files": None, "corpus_file": None} == {
        "pair_files": None, "pairs": N_QUERIES, "skipped_rows": 0, "pairs_with_negatives_replaced": 0,
        "queries": N_QUERIES, "corpus_file": None, "corpus_file_texts": 2 * N_QUERIES + N_RANDOM,
        "corpus": 2 * N_QUERIES + N_RANDOM, "queries_in_corpus": 0}
    assert report["encoded_chunks"] == {"queries": "4 of 4", "corpus": "33 of 33"}
    assert report["candidates"]["retrieved"] == 8 * N_QUERIES
    assert report["candidates"]["selected"] == 2 * N_QUERIES == report["scores"]["selected"]["count"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "embeddings", "report.json", "run.parquet", "samples.md", "scores.png", "triples.jsonl"]


def test_queries_short_of_negatives_are_dropped_or_kept_and_counted(planted, tmp_path):
    # max_score 0.3 leaves 18 of 30 queries 6 negatives among their top 20, the others fewer
    strict = dict(num_negatives=6, max_score=0.3, relative_margin=None)
    report = mine(planted, tmp_path / "out", **strict)
    short = report["queries"]["with_too_few"] + report["queries"]["with_none"]
    assert 0 < short < N_QUERIES
    assert report["output"] == {"pairs_written": N_QUERIES - short, "pairs_dropped_too_few_negatives": short}
    assert len(read_jsonl(tmp_path / "out/triples.jsonl")) == N_QUERIES - short
    model, pairs, corpus = planted
    kept = mine_hard_negatives(model, [pairs], tmp_path / "out", corpus_file=corpus, chunk_size=8,
                               rules=SelectionRules(**strict), search_settings=SearchSettings(k=20), keep_short=True)
    assert kept["output"]["pairs_written"] == N_QUERIES
    assert min(len(row["negatives"]) for row in read_jsonl(tmp_path / "out/triples.jsonl")) < 6


def test_a_failed_run_leaves_earlier_outputs_whole(planted, tmp_path, monkeypatch):
    mine(planted, tmp_path / "out")
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    calls = []

    def fails_on_the_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return select_negatives(*args, **kwargs)

    select_negatives = mine_module.select_negatives
    monkeypatch.setattr(mine_module, "select_negatives", fails_on_the_second_chunk)
    with pytest.raises(RuntimeError, match="killed"):
        mine(planted, tmp_path / "out", relative_margin=0.2)
    after = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    assert after == before  # no temporary file left, nothing half-written


def test_queries_with_several_positives_exclude_all_of_them(tmp_path):
    table = {"q": unit(np.array([1.0, 0, 0, 0])), "p1": unit(np.array([1.0, 0.1, 0, 0])),
             "p2": unit(np.array([1.0, 0, 0.2, 0])), "n1": unit(np.array([1.0, 0, 0, 1])),
             "n2": unit(np.array([0.0, 1, 0, 0])), "other": unit(np.array([0.0, 0, 1, 0]))}
    pairs = write_pairs(tmp_path / "pairs.jsonl", [("q", "p1"), ("other", "n1"), ("q", "p2"), ("other", "n2")])
    mine_hard_negatives(TableEmbedder(table), [pairs], tmp_path / "out", search_settings=SearchSettings(k=4),
                        rules=SelectionRules(num_negatives=1, relative_margin=None))
    rows = read_jsonl(tmp_path / "out/triples.jsonl")
    assert [(r["query"], r["positive"], r["negatives"]) for r in rows] == [
        ("q", "p1", ["n1"]), ("q", "p2", ["n1"]), ("other", "n1", ["p2"]), ("other", "n2", ["p2"])]


def test_bad_inputs_name_the_file_line_and_field(planted, tmp_path):
    model, pairs, _ = planted
    bad_pairs = tmp_path / "bad.jsonl"
    bad_pairs.write_text('{"query": "q", "positive": "p"}\n{"query": "q2", "positive": ""}\n')
    with pytest.raises(ValueError, match=re.escape(f"{bad_pairs}:2: field 'positive': empty")):
        mine_hard_negatives(model, [bad_pairs], tmp_path / "out")
    bad_corpus = tmp_path / "bad-corpus.jsonl"
    bad_corpus.write_text('{"text": "a"}\n\n{"body": "b"}\n')
    with pytest.raises(ValueError, match=re.escape(f"{bad_corpus}:3: missing field 'text'")):
        mine_hard_negatives(model, [pairs], tmp_path / "out", corpus_file=bad_corpus)
    with pytest.raises(FileNotFoundError, match=r"missing\.jsonl: no such pair file"):
        mine_hard_negatives(model, [tmp_path / "missing.jsonl"], tmp_path / "out")
    with pytest.raises(ValueError, match="range_max=60 but only k=50"):
        mine_hard_negatives(model, [pairs], tmp_path / "out", rules=SelectionRules(range_max=60))
    assert not (tmp_path / "out").exists()
