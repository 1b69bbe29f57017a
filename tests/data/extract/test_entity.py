"""(entity, description) mining from glossaries, GCIDE-style JSON and WordNet: exact pairs, skips, doc_id, the CLI."""

from __future__ import annotations

import json

import pytest

from gtekit.data.extract.base import MinedPair
from gtekit.data.extract.entities import mine_entities, parse_wordnet_line

# lines in the format of WordNet 3.0's dict/data.noun and dict/data.adj (license header and glosses shortened)
DATA_NOUN = """\
  1 This software and database is being provided to you, the LICENSEE, by
  2 Princeton University under the following license.
00001740 03 n 01 entity 0 001 ~ 00001930 n 0000 | that which is perceived to have its own distinct existence
02084071 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 000 | a member of the genus Canis; "the dog barked all night"
10114209 18 n 01 dog 1 000 | informal term for a man; "you lucky dog"
00000000 broken line without a gloss
09999999 03 n 01 nothing 0 000 | "only an example"
"""
DATA_ADJ = """\
00001740 00 a 01 able 0 000 | (usually followed by `to') having the means to do something; "able to swim"
00002098 00 a 01 unable(p) 0 002 | (usually followed by `to') not having the necessary means or skill
"""

GCIDE = {
    "bank": {"entry": "bank", "pos": [
        {"part_of_speech": "n.", "definitions": [{"text": "A mound, pile, or ridge of earth.", "examples": []},
                                                 {"text": "An establishment for money.", "examples": []}]},
        {"part_of_speech": "v. t.", "definitions": [{"text": "To raise a mound about.", "examples": []}]}]},
    "zero": {"entry": "zero", "pos": [{"part_of_speech": "n.", "definitions": []}]},
}


@pytest.fixture
def sources(tmp_path, write_tree):
    glossary = "\n".join(json.dumps(row) for row in [
        {"term": "Animation", "description": "The process of creating the illusion of motion."},
        {"headword": "Bank", "definitions": ["The side of a river.", "A row of similar things."]},
        {"term": "Orphan"},
        {"description": "A description without a term."},
        {"term": ["two", "names"], "definition": "Ambiguous."},
        {"term": "Animation", "description": "The process of creating the illusion of motion."},
    ]) + "\n"
    return write_tree(tmp_path / "kb", {
        "glossary.jsonl": glossary,
        "terms.json": json.dumps({"API": "Application programming interface.", "CLI": ["Command-line interface."]}),
        "wordnet/dict/data.noun": DATA_NOUN,
        "wordnet/dict/data.adj": DATA_ADJ,
        "wordnet/dict/index.noun": "dog n 2 ...\n",
        "gcide/words_B.json": json.dumps(GCIDE),
    })


def test_pairs_are_exact(sources):
    pairs, report = mine_entities([sources / "glossary.jsonl", sources / "terms.json", sources / "wordnet"])
    assert pairs == [
        MinedPair("Animation", "The process of creating the illusion of motion.", "entry:animation"),
        MinedPair("Bank", "The side of a river.", "entry:bank"),
        MinedPair("Bank", "A row of similar things.", "entry:bank"),
        MinedPair("API", "Application programming interface.", "entry:api"),
        MinedPair("CLI", "Command-line interface.", "entry:cli"),
        MinedPair("able", "(usually followed by `to') having the means to do something", "entry:able"),
        MinedPair("unable", "(usually followed by `to') not having the necessary means or skill", "entry:unable"),
        MinedPair("entity", "that which is perceived to have its own distinct existence", "entry:entity"),
        MinedPair("dog, domestic dog, Canis familiaris", "a member of the genus Canis", "entry:dog"),
        MinedPair("dog", "informal term for a man", "entry:dog"),  # both senses of "dog" stay together
    ]
    assert report.documents == 6 + 2 + 2 + 5
    assert dict(report.skipped) == {
        "entry without a definition": 1,
        "entry without a term": 1,
        "entry with several terms": 1,
        "duplicate pair": 1,
        "WordNet license header line": 2,
        "malformed WordNet line": 1,
        "WordNet gloss without a definition": 1,
        "not an entry file (JSON, JSONL, CSV, TSV or WordNet data.*)": 1,  # index.noun
    }


def test_gcide_and_field_paths(sources):
    pairs, report = mine_entities([sources / "gcide"])
    assert pairs == mine_entities([sources / "gcide"], fields={"definition": "pos.definitions.text"})[0]
    assert pairs == [MinedPair("bank", "A mound, pile, or ridge of earth.", "entry:bank"),
                     MinedPair("bank", "An establishment for money.", "entry:bank"),
                     MinedPair("bank", "To raise a mound about.", "entry:bank")]
    assert dict(report.skipped) == {"entry without a definition": 1}


def test_parse_wordnet_line():
    assert parse_wordnet_line("1 03 n 02 a_b 0 c 0 000 | gloss; more; \"ex\"") == (["a b", "c"], "gloss; more")
    assert parse_wordnet_line("1 03 n zz a 0 | gloss") is None


def test_cli(sources, mine_cli, read_rows):
    code, output, out = mine_cli("entity", str(sources / "gcide"), "--field", "definition=pos.definitions.text",
                                 "--held-out", "0.5")
    assert code == 0
    train, held = read_rows(out / "entity.jsonl"), read_rows(out / "held-out" / "entity.jsonl")
    assert sorted((len(train), len(held))) == [0, 3]  # the three senses of "bank" are on one side
    assert [row["doc_id"] for row in train + held] == ["entry:bank"] * 3
    assert "read 2 entries, mined 3 pairs from 1 documents" in output
    code, output, _ = mine_cli("entity", str(sources / "gcide"), "--field", "answer=x")
    assert code == 2 and "valid roles: term, definition" in output
