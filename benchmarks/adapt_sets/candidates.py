"""A (query, document) candidate, and how a set is chosen from the candidates of its sources.

Rules shared by every set (:func:`choose`):

1. documents with the same text (after collapsing whitespace) are one document, the first in source
   order; every candidate of a repeated text points to that one;
2. a document is kept when its length in whitespace-separated words is in ``[min_doc_words, max_doc_words]``;
3. a query text (compared case-folded, whitespace collapsed) written for two or more different documents
   is dropped: it has no single answer;
4. a query is kept when it has at least ``min_query_words`` words, passes the set's own ``query_filter``,
   is not found verbatim (case-folded) inside its document, and its document is kept;
5. ``n_queries`` queries are drawn with ``random.Random(seed)`` from the kept ones (shuffled from document-id
   order), at most ``max_source_share`` of them from any one source (package), so no package dominates a set;
6. the corpus is every kept document, or, beyond ``max_docs``, every queried document and a draw
   of the others (same generator), in source order.

Depends on the standard library only.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Candidate:
    """One document and the human-written text that describes it (``query``; "" when it has none)."""

    doc_id: str
    query: str
    text: str
    source: str  # the package it comes from


@dataclass
class ChosenSet:
    """A retrieval set: corpus rows in order, queries with their single relevant document."""

    corpus: list[tuple[str, str]]  # (doc id, text)
    queries: list[tuple[str, str, str]]  # (query id, text, relevant doc id)
    counts: dict[str, int] = field(default_factory=dict)  # what each rule dropped, for the manifest


def words(text: str) -> int:
    return len(text.split())


def normalise(text: str) -> str:
    """Whitespace collapsed to single spaces, ends stripped."""
    return " ".join(text.split())


def first_paragraph(text: str) -> str:
    """The text up to the first blank line, on one line."""
    lines: list[str] = []
    for line in text.strip().splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    return " ".join(lines)


def choose(candidates: Sequence[Candidate], *, n_queries: int, max_docs: int, seed: int, min_query_words: int,
           min_doc_words: int, max_doc_words: int = 10**9, max_source_share: float = 1.0,
           query_filter: Callable[[str], bool] = lambda query: True) -> ChosenSet:
    """The set chosen from ``candidates`` by the rules of the module docstring."""
    counts: dict[str, int] = {"candidates": len(candidates)}
    canonical: dict[str, str] = {}  # normalised text -> the doc id kept for it
    documents: dict[str, str] = {}  # kept doc id -> text, in source order
    for candidate in candidates:
        key = normalise(candidate.text)
        if key not in canonical:
            canonical[key] = candidate.doc_id
            documents[candidate.doc_id] = candidate.text
    counts["repeated_document_text"] = len(candidates) - len(documents)
    eligible = {doc_id for doc_id, text in documents.items() if min_doc_words <= words(text) <= max_doc_words}
    counts["document_length_out_of_range"] = len(documents) - len(eligible)

    owners: dict[str, set[str]] = defaultdict(set)  # query key -> the documents it was written for
    pairs: dict[tuple[str, str], str] = {}  # (query key, doc id) -> query text (first spelling)
    for candidate in candidates:
        query = normalise(candidate.query)
        if query:
            doc_id = canonical[normalise(candidate.text)]
            owners[query.casefold()].add(doc_id)
            pairs.setdefault((query.casefold(), doc_id), query)
    source = {candidate.doc_id: candidate.source for candidate in candidates}
    kept: list[tuple[str, str]] = []  # (doc id, query text)
    dropped = defaultdict(int)
    for (key, doc_id), query in pairs.items():
        if len(owners[key]) > 1:
            dropped["query_written_for_several_documents"] += 1
        elif words(query) < min_query_words:
            dropped["query_too_short"] += 1
        elif not query_filter(query):
            dropped["query_filtered"] += 1
        elif doc_id not in eligible:
            dropped["query_document_length_out_of_range"] += 1
        elif key in normalise(documents[doc_id]).casefold():
            dropped["query_inside_document"] += 1
        else:
            kept.append((doc_id, query))
    counts.update(dropped)
    counts["eligible_queries"] = len(kept)

    rng = random.Random(seed)
    kept.sort()
    rng.shuffle(kept)
    cap = math.ceil(max_source_share * n_queries)
    per_source: dict[str, int] = defaultdict(int)
    drawn: list[tuple[str, str]] = []
    for doc_id, query in kept:
        if len(drawn) == n_queries:
            break
        if per_source[source[doc_id]] < cap:
            per_source[source[doc_id]] += 1
            drawn.append((doc_id, query))
    drawn.sort()
    queried = {doc_id for doc_id, _ in drawn}
    others = sorted(eligible - queried)
    room = max(max_docs - len(queried), 0)
    corpus_ids = queried | set(rng.sample(others, min(room, len(others))))
    corpus = [(doc_id, text) for doc_id, text in documents.items() if doc_id in corpus_ids]
    queries = [(f"q{index:04d}", query, doc_id) for index, (doc_id, query) in enumerate(drawn, start=1)]
    return ChosenSet(corpus=corpus, queries=queries, counts=counts)
