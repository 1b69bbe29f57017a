"""(question, answer) mining from dialogues, records and FAQs: exact pairs, skips, doc_id, the CLI."""

from __future__ import annotations

import json

import pytest

from gtekit.data.extract.base import MinedPair
from gtekit.data.extract.qa import mine_qa

AI_YML = """\
categories:
- AI
conversations:
- - What is AI?
  - Artificial Intelligence is the branch of engineering devoted to thinking machines.
- - What is AI?
  - AI is the field of science that builds minds.
- - Are you sentient?
  - yes
  - Really?
  - Sort of.
- - Just one turn here
- - Is this a broken line? - 'it became one string'
- Not a list at all - 'oops'
- - ''
  - An answer to nothing.
"""

FAQ_MD = """\
# Frequently asked questions

## How do I reset my password?

Open *Settings*, then choose **Reset**.

## Can I export my data?

## Contact

Write to us.
"""


@pytest.fixture
def corpus(tmp_path, write_tree):
    jsonl = "\n".join(json.dumps(row) for row in [
        {"id": "q1", "question": "Why is the sky blue?", "answers": ["Rayleigh scattering.", "Because of air."]},
        {"question": "What is 2 + 2?", "answer": 4},
        {"question": "No answer here?"},
        {"answer": "An answer without a question."},
        {"q": "Who wrote Hamlet?", "a": "Shakespeare."},
    ]) + "\nnot json\n[1, 2]\n"
    return write_tree(tmp_path / "qa", {
        "chat/ai.yml": AI_YML,
        "chat/empty.yml": "categories: [nothing]\n",
        "faq.md": FAQ_MD,
        "forum.jsonl": jsonl,
        "table.csv": "question,answer\nWhat is gtekit?,A toolkit for embeddings.\nshort row\n",
        "list.yaml": "- question: What colour is grass?\n  answer: Green.\n",
        "notes.txt": "Not a QA file.\n",
    })


def test_pairs_are_exact(corpus):
    pairs, report = mine_qa([corpus])
    ai = "chat/ai.yml#"
    assert pairs == [
        MinedPair("What is AI?", "Artificial Intelligence is the branch of engineering devoted to thinking machines.",
                  ai + "What is AI?"),
        MinedPair("What is AI?", "AI is the field of science that builds minds.", ai + "What is AI?"),
        MinedPair("Are you sentient?", "yes", ai + "Are you sentient?"),  # "yes" stays text, not True
        MinedPair("yes", "Really?", ai + "Are you sentient?"),
        MinedPair("Really?", "Sort of.", ai + "Are you sentient?"),
        MinedPair("How do I reset my password?", "Open Settings, then choose Reset.",
                  "faq.md#How do I reset my password?"),
        MinedPair("Why is the sky blue?", "Rayleigh scattering.", "forum.jsonl#q1"),
        MinedPair("Why is the sky blue?", "Because of air.", "forum.jsonl#q1"),
        MinedPair("What is 2 + 2?", "4", "forum.jsonl#What is 2 + 2?"),
        MinedPair("Who wrote Hamlet?", "Shakespeare.", "forum.jsonl#Who wrote Hamlet?"),
        MinedPair("What colour is grass?", "Green.", "list.yaml#What colour is grass?"),
        MinedPair("What is gtekit?", "A toolkit for embeddings.", "table.csv#What is gtekit?"),
    ]
    assert report.documents == 6
    assert dict(report.skipped) == {
        "not a QA file (YAML, JSON, JSONL, CSV, TSV or Markdown)": 1,
        "YAML file without conversations": 1,
        "conversation with fewer than two turns": 3,  # one turn, the broken line, the empty first turn
        "conversation is not a list of turns": 1,
        "empty turn": 1,
        "heading is not a question": 2,  # the title and "Contact"
        "question without an answer": 1,
        "record without an answer": 1,
        "record without a question": 1,
        "invalid JSON line": 1,
        "JSON line is not an object": 1,
        "CSV row with the wrong number of columns": 1,
    }


def test_field_mapping(tmp_path, write_tree):
    row = {"title": "Time", "qas": [{"text": "When?", "answers": [{"text": "Now."}, {"text": "Today."}]}]}
    root = write_tree(tmp_path, {"squad.jsonl": json.dumps(row) + "\n"})
    pairs, _ = mine_qa([root], fields={"question": "qas.text", "answer": "qas.answers.text"})
    assert pairs == [MinedPair("When?", "Now.", "squad.jsonl#When?"), MinedPair("When?", "Today.", "squad.jsonl#When?")]
    with pytest.raises(ValueError, match="valid roles: question, answer, id"):
        mine_qa([root], fields={"title": "x"})


def test_cli(corpus, mine_cli, read_rows):
    code, output, out = mine_cli("qa", str(corpus / "chat"), str(corpus / "forum.jsonl"), "--name", "chat",
                                 "--field", "id=id")
    assert code == 0
    rows = read_rows(out / "chat.jsonl")
    assert [row["doc_id"] for row in rows] == ["ai.yml#What is AI?"] * 2 + ["ai.yml#Are you sentient?"] * 3 + [
        "forum.jsonl#q1"] * 2 + ["forum.jsonl#What is 2 + 2?", "forum.jsonl#Who wrote Hamlet?"]
    assert not (out / "held-out" / "chat.jsonl").exists()
    assert "read 3 files, mined 9 pairs from 5 documents" in output
    code, output, _ = mine_cli("qa", str(corpus), "--field", "question")
    assert code == 2 and "expected ROLE=PATH" in output
