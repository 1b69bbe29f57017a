"""Pairs from prose documents: each kind from the structure it names, reproducible, never trivial."""

import random

from gtekit.adapt.documents import Document
from gtekit.adapt.prose_pairs import ProseSettings, prose_pairs, split_sentences

TEXT = ("The indexer reads every file of the repository once. It splits each file into passages of about two "
        "hundred words. Passages are embedded in batches of sixty-four on the chosen device. The vectors are "
        "written to a memory-mapped store that a crash cannot corrupt. A search loads the store and answers "
        "queries with an exact inner-product scan. Results list the file, the passage and the score.")


def test_split_sentences_keeps_abbreviation_free_sentences_whole():
    assert split_sentences("One two. Three four!\n\nFive? \"Six\" seven.") == ["One two.", "Three four!", "Five?",
                                                                                 "\"Six\" seven."]
    assert len(split_sentences(TEXT)) == 6


def test_kinds_from_a_titled_document():
    document = Document("d1", TEXT, title="How the indexer stores passages")
    pairs = prose_pairs(document, random.Random(0))
    assert set(pairs) == {"title_body", "first_sentence", "inverse_cloze", "random_crops"}
    assert pairs["title_body"][0].query == "How the indexer stores passages"
    first = pairs["first_sentence"][0]
    assert first.query == "The indexer reads every file of the repository once."
    assert first.query not in first.positive
    for pair in pairs["inverse_cloze"]:  # Lee et al. 2019: the sentence is taken out of its context
        assert pair.query in TEXT and pair.query not in pair.positive
    assert all(pair.doc_id == "d1" for kind in pairs.values() for pair in kind)


def test_sections_give_heading_and_question_pairs():
    body = " ".join(["word"] * 30)
    document = Document("faq.md", TEXT, sections=(("Storing vectors on disk", body),
                                                  ("How do I rebuild the index?", body)))
    pairs = prose_pairs(document, random.Random(0))
    assert [p.query for p in pairs["heading_section"]] == ["Storing vectors on disk"]
    assert [p.query for p in pairs["question_answer"]] == ["How do I rebuild the index?"]


def test_q_and_a_lines():
    answer = "Run the build command again with the rebuild flag and wait until every passage is embedded once more."
    text = f"Q: How do I rebuild the whole index from scratch?\nA: {answer} " + " ".join(["filler"] * 10)
    pairs = prose_pairs(Document("qa", text), random.Random(0), ProseSettings(min_positive_words=10))
    assert pairs["question_answer"][0].query == "How do I rebuild the whole index from scratch?"
    assert pairs["question_answer"][0].positive.startswith("Run the build command")


def test_random_crops_are_reproducible_and_within_bounds():
    words = TEXT.split()
    a = prose_pairs(Document("d", TEXT), random.Random(3))["random_crops"]
    b = prose_pairs(Document("d", TEXT), random.Random(3))["random_crops"]
    assert a == b
    for text in (a[0].query, a[0].positive):
        assert 16 <= len(text.split()) <= max(16, len(words) // 2)
        assert text in " ".join(words)


def test_short_documents_give_nothing():
    assert prose_pairs(Document("s", "Too short to pair."), random.Random(0)) == {}
