"""(question, answer) pairs mined from question-answer files: GTE's "Community QA" pairs (Table 2).

Formats, by file extension:

- ``.yml``/``.yaml`` dialogues as in chatterbot-corpus, ``conversations: [[q, a, ...], ...]``: each
  turn with the turn after it (a, b, c gives (a, b) and (b, c)); every scalar is read as text, so
  ``yes`` stays "yes". A YAML list of objects is read as records (next item).
- ``.json``/``.jsonl``/``.ndjson``/``.csv``/``.tsv`` records (see ``records``): the question from
  ``question``/``q``/``query``/``prompt``/``title``, the answer(s) from ``answer``/``answers``/``a``/
  ``response``/``reply``/``body``, or from the paths given as ``fields={"question": ..., "answer": ...}``;
  a list of answers gives one pair each.
- ``.md``/``.markdown`` FAQs: a heading that ends with ``?`` and its section's text (see ``markup_outline``).

doc_id is the file's path and the dialogue or question: ``faq.md#How do I reset it?``; a dialogue
is named by its first turn and a record by its ``id`` field (``id``/``qid``/``question_id``, or
``fields={"id": ...}``) when it has one, else by its question, so every answer to the same
question in a file stays on one side of a held-out split. Skipped and counted: dialogues of one
turn, empty or non-text turns, records without a question or an answer, headings that are not
questions, questions without an answer, unreadable files (listed with their path), other files,
and exact duplicates.

Depends on PyYAML and on ``markup_outline`` (markdown-it-py), ``document_outline``, ``records``, ``files`` and
``base``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import pairwise
from pathlib import Path

import yaml

from .base import MinedPair, MineReport, dedupe
from .document_outline import sections
from .input_files import DEFAULT_SKIP_DIRS, InputFile, iter_input_files, read_text
from .markup_outline import markdown_outline
from .records import RECORD_SUFFIXES, first_present, iter_records, resolve_fields

FIELDS = {"question": ("question", "q", "query", "prompt", "title"),
          "answer": ("answer", "answers", "a", "response", "reply", "body"),
          "id": ("id", "qid", "question_id")}
YAML_SUFFIXES = (".yml", ".yaml")
MARKDOWN_SUFFIXES = (".md", ".markdown")


def mine_qa(paths: Sequence[str | Path], *, fields: Mapping[str, str] | None = None,
            skip_dirs: Sequence[str] = DEFAULT_SKIP_DIRS) -> tuple[list[MinedPair], MineReport]:
    """Mine (question, answer) pairs from the QA files under ``paths`` (see the module docstring).

    ``report.documents`` counts the files read.
    """
    roles = resolve_fields(FIELDS, fields)
    report = MineReport()
    pairs: list[MinedPair] = []
    for file in iter_input_files(paths, report, skip_dirs=skip_dirs):
        if file.suffix not in YAML_SUFFIXES + RECORD_SUFFIXES + MARKDOWN_SUFFIXES:
            report.skip("not a QA file (YAML, JSON, JSONL, CSV, TSV or Markdown)")
            continue
        text = read_text(file, report)
        if text is None:
            continue
        report.documents += 1
        if file.suffix in YAML_SUFFIXES:
            pairs.extend(_yaml_pairs(file, text, roles, report))
        elif file.suffix in MARKDOWN_SUFFIXES:
            pairs.extend(_faq_pairs(file, text, report))
        else:
            pairs.extend(_record_pairs(file.name, iter_records(file, text, report), roles, report))
    pairs = dedupe(pairs, report)
    report.pairs = len(pairs)
    return pairs, report


def _yaml_pairs(file: InputFile, text: str, roles: dict, report: MineReport) -> Iterator[MinedPair]:
    try:
        document = yaml.load(text, Loader=yaml.BaseLoader)  # every scalar stays a string
    except yaml.YAMLError as error:
        report.fail(file.location, "invalid YAML", str(error).replace("\n", " "))
        return
    if isinstance(document, list) and document and all(isinstance(item, dict) for item in document):
        records = ((f"{file.name}[{index}]", item) for index, item in enumerate(document))
        yield from _record_pairs(file.name, records, roles, report)
        return
    conversations = document.get("conversations") if isinstance(document, dict) else None
    if not isinstance(conversations, list):
        report.skip("YAML file without conversations")
        return
    for conversation in conversations:
        if not isinstance(conversation, list):
            report.skip("conversation is not a list of turns")
            continue
        turns: list[str] = []
        for turn in conversation:
            if not isinstance(turn, str):
                report.skip("turn is not text")
            elif not turn.strip():
                report.skip("empty turn")
            else:
                turns.append(" ".join(turn.split()))
        if len(turns) < 2:
            report.skip("conversation with fewer than two turns")
            continue
        doc_id = f"{file.name}#{turns[0]}"
        for question, answer in pairwise(turns):
            yield MinedPair(question, answer, doc_id)


def _record_pairs(name: str, records: Iterator[tuple[str, dict]], roles: dict,
                  report: MineReport) -> Iterator[MinedPair]:
    for _location, record in records:
        questions = first_present(record, roles["question"])
        answers = first_present(record, roles["answer"])
        if not questions:
            report.skip("record without a question")
            continue
        if not answers:
            report.skip("record without an answer")
            continue
        if len(questions) > 1:
            report.skip("record with several questions")
            continue
        ids = first_present(record, roles["id"])
        doc_id = f"{name}#{ids[0] if ids else questions[0]}"
        for answer in answers:
            yield MinedPair(questions[0], answer, doc_id)


def _faq_pairs(file: InputFile, text: str, report: MineReport) -> Iterator[MinedPair]:
    for section in sections(markdown_outline(text).blocks):
        question = section.heading.strip()
        if not question.endswith("?"):
            report.skip("heading is not a question")
        elif not section.text:
            report.skip("question without an answer")
        else:
            yield MinedPair(question, section.text, f"{file.name}#{question}")
