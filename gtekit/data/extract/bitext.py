"""(sentence, paraphrase) pairs mined from aligned bitext: two English sentences with the same translation.

GTE's paraphrase pairs (Appendix A.2) come from labelled data (Quora, StackExchange duplicates);
aligned bitext gives them without labels ("pivoting" through the other language). The input is
tab-separated text, one sentence pair per line, as in Tatoeba's ``spa.tsv`` (English, translation,
attribution; extra columns are ignored), read from ``.tsv``/``.txt`` files, folders or zip archives.

Two different English sentences that share a translation (``I'm hungry.`` and ``I am hungry.``, both
``Tengo hambre.``) make a pair, the first in file order being the query; a translation shared by
n sentences gives all n(n-1)/2 pairs, at most ``max_pairs_per_group`` of them (the first in file
order). With ``swap=True`` the columns swap roles: translations that share an English sentence.
Sentences that differ only in case, spacing and punctuation (``Go.``/``Go!``) are not a pair.

doc_id is the shared translation. Sentences linked through several translations are one group:
the translations and sentences linked by any row are put together (connected components) and all
take the doc_id of the group's first translation, so no sentence is on both sides of a held-out split.
Skipped and counted: rows with fewer than two columns or an empty side, repeated rows, sentences
with no other sentence sharing their translation, trivial variants, pairs over the cap,
unreadable files (listed with their path), other files, and exact duplicates.

Depends on ``files`` and ``base``; nothing else in gtekit.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Sequence
from pathlib import Path

from .base import MinedPair, MineReport, dedupe
from .input_files import DEFAULT_SKIP_DIRS, iter_input_files, read_text

BITEXT_SUFFIXES = (".tsv", ".txt")
_PUNCTUATION = str.maketrans("", "", string.punctuation + "¡¿“”‘’«»…")


def mine_bitext(paths: Sequence[str | Path], *, swap: bool = False, max_pairs_per_group: int = 10,
                skip_dirs: Sequence[str] = DEFAULT_SKIP_DIRS) -> tuple[list[MinedPair], MineReport]:
    """Mine (sentence, paraphrase) pairs from the bitext under ``paths`` (see the module docstring).

    ``report.documents`` counts the rows read.
    """
    if max_pairs_per_group < 1:
        raise ValueError(f"max_pairs_per_group must be at least 1, got {max_pairs_per_group}")
    report = MineReport()
    rows: dict[tuple[str, str], None] = {}  # (sentence, pivot) in file order, without repeats
    for file in iter_input_files(paths, report, skip_dirs=skip_dirs):
        if file.suffix not in BITEXT_SUFFIXES:
            report.skip("not a bitext file (.tsv or .txt)")
            continue
        text = read_text(file, report)
        if text is None:
            continue
        for line in text.split("\n"):
            if not line.strip():
                continue
            report.documents += 1
            columns = line.split("\t")
            if len(columns) < 2:
                report.skip("row with fewer than two columns")
                continue
            first, second = (columns[1], columns[0]) if swap else (columns[0], columns[1])
            sentence, pivot = " ".join(first.split()), " ".join(second.split())
            if not sentence or not pivot:
                report.skip("row with an empty sentence")
            elif (sentence, pivot) in rows:
                report.skip("repeated row")
            else:
                rows[(sentence, pivot)] = None
    pairs = dedupe(_paraphrase_pairs(list(rows), max_pairs_per_group, report), report)
    report.pairs = len(pairs)
    return pairs, report


def _paraphrase_pairs(rows: list[tuple[str, str]], cap: int, report: MineReport) -> list[MinedPair]:
    by_pivot: dict[str, list[str]] = {}
    for sentence, pivot in rows:
        by_pivot.setdefault(pivot, []).append(sentence)
    group_of = _components(rows)
    pairs: list[MinedPair] = []
    for pivot, sentences in by_pivot.items():
        if len(sentences) < 2:
            report.skip("sentence without a paraphrase")
            continue
        candidates = [(a, b) for a, b in itertools.combinations(sentences, 2) if _key(a) != _key(b)]
        trivial = len(sentences) * (len(sentences) - 1) // 2 - len(candidates)
        if trivial:
            report.skip("trivial variant (case, spacing, punctuation)", trivial)
        if len(candidates) > cap:
            report.skip("pair over max_pairs_per_group", len(candidates) - cap)
        doc_id = group_of[pivot]
        pairs.extend(MinedPair(a, b, doc_id) for a, b in candidates[:cap])
    return pairs


def _key(sentence: str) -> str:
    return " ".join(sentence.translate(_PUNCTUATION).casefold().split())


def _components(rows: list[tuple[str, str]]) -> dict[str, str]:
    """For each pivot, the first pivot (in row order) of the group that rows link it to (union-find)."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(node: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    order: dict[str, int] = {}
    for sentence, pivot in rows:
        order.setdefault(pivot, len(order))
        a, b = find(("s", sentence)), find(("p", pivot))
        if a != b:
            parent[b] = a
    first: dict[tuple[str, str], str] = {}
    for pivot in sorted(order, key=order.__getitem__):
        first.setdefault(find(("p", pivot)), pivot)
    return {pivot: first[find(("p", pivot))] for pivot in order}
