"""Cleaning filters count exactly what they remove, in order; exact-match de-duplication within and across sources."""

from __future__ import annotations

import numpy as np

from gtekit.data.cleaning import PairCleaner, PairDeduplicator, load_token_counter, normalise, strip_control
from gtekit.data.extract.base import MinedPair
from gtekit.data.mixture import Cleaning


def pairs(*rows):
    return [MinedPair(q, p, f"d{i}") for i, (q, p) in enumerate(rows)]


def test_each_filter_counts_what_it_removed(count_words):
    cleaner = PairCleaner(Cleaning(min_tokens=2, max_query_tokens=4, max_positive_tokens=6), count_words)
    batch = pairs(
        ("a good query", "a good positive text"),  # kept
        ("", "positive"), ("query here", " \n\t "),  # empty
        ("\x07\x08", "control only query"),  # control_chars: nothing left after stripping
        ("strip \x00me please", "and\r\nme too"),  # kept, modified
        ("short", "one two three"),  # too_short (query has 1 token)
        ("one two three four five", "x y"),  # too_long (query 5 > 4)
        ("ok query", "1 2 3 4 5 6 7"),  # too_long (positive 7 > 6)
        ("Same  Text here", "same text HERE"),  # query_equals_positive
        ("another good one", "kept as well"),  # kept
    )
    kept, query_tokens, positive_tokens = cleaner.clean(batch)
    assert [p.doc_id for p in kept] == ["d0", "d4", "d9"]
    assert kept[1] == MinedPair("strip me please", "and\nme too", "d4")
    assert dict(cleaner.removed) == {"empty": 2, "control_chars": 1, "too_short": 1, "too_long": 2,
                                     "query_equals_positive": 1}
    assert dict(cleaner.modified) == {"control_chars": 1}
    assert query_tokens.tolist() == [3, 3, 3] and positive_tokens.tolist() == [4, 3, 3]
    cleaner.clean(pairs(("", "x")))  # counts add up over batches
    assert cleaner.removed["empty"] == 3


def test_control_characters_are_stripped_but_tabs_and_line_breaks_kept():
    assert strip_control("a\tb\r\nc\rd\x00e\x1bf\x7fg\x85h") == "a\tb\nc\ndefgh"
    assert strip_control("plain text") == "plain text"


def test_deduplication_is_exact_after_normalising_and_first_source_wins():
    dedup = PairDeduplicator()
    first, again, other_case = MinedPair("Q one", "P", "a"), MinedPair("Q one", "P", "b"), MinedPair("q  ONE", "p", "c")
    assert dedup.add(0, first) is None
    assert dedup.add(0, again) == "duplicate_within"
    assert dedup.add(1, other_case) == "duplicate_across"  # same pair after whitespace and case folding
    assert dedup.add(1, MinedPair("Q one", "P2", "d")) is None  # a different positive is a different pair
    assert dedup.add(1, MinedPair("P", "Q one", "e")) is None  # order matters: (query, positive)
    assert MinedPair("q one", "p", "z") in dedup and MinedPair("new", "pair", "z") not in dedup
    assert normalise("  Tab\tand\nNEWLINE ") == "tab and newline"


def test_token_counter_uses_the_minilm_tokenizer_without_special_tokens():
    count = load_token_counter("all-MiniLM-L6-v2")
    long_text = "word " * 1000  # no truncation at the model's 512
    assert count(["hello world", "", long_text]).tolist() == [2, 0, 1000]
    assert count([]).dtype == np.int32
