"""Read a user's corpus into :class:`~gtekit.adapt.documents.Document` objects, whatever form it comes in.

An input of ``gtekit adapt`` is one of:

- a BEIR folder (one holding ``corpus.jsonl``) or a BEIR ``corpus.jsonl`` itself: rows
  ``{"_id", "title", "text"}`` (``queries.jsonl`` and ``qrels/`` beside it are never read: the corpus
  is all ``adapt`` sees);
- a JSONL or Parquet file of records: the text from ``text_field`` (default ``text``), the title from
  ``title_field`` (default ``title``, optional) and the id from ``id_field`` (default: ``_id``, then
  ``id``, else ``file:line``); a record is source code in the language its id names by a file
  extension (``pkg/util.go:Parse``), or in the ``language`` given, else prose;
- a folder (walked recursively, in sorted order) or a single file of documents: ``.txt`` (prose),
  Markdown, reStructuredText and HTML (their outline: title, headings and text, through
  ``gtekit.data.extract``'s outline readers), and source code in any language of
  ``code_pairs.LANGUAGES`` (by extension, or a shebang on a file without one). Other files in a folder
  are counted by extension and skipped; a single file of an unknown format is an error.

Nothing is dropped silently: a file that is not UTF-8 is an error naming the file (and line, for a
row), or, with ``skip_invalid``, a counted skip listed with its path; so are malformed rows. Documents
with fewer than ``min_words`` words are counted as too short to mine. An input that yields no document
is an error that says what was skipped and why.

Depends on the outline readers of ``gtekit.data.extract``, ``gtekit.data.text_files`` and ``code_pairs``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..data.extract.base import MineReport
from ..data.extract.document_outline import Outline, sections, split_title
from ..data.extract.input_files import InputFile, iter_input_files, read_text
from ..data.extract.sections import HTML_SUFFIXES, MARKDOWN_SUFFIXES, RST_SUFFIXES, read_outline
from ..data.text_files import InvalidUtf8, arrow_strings, json_object, numbered_raw_lines
from .code_pairs import LANGUAGES, language_of
from .documents import Document

MARKUP_SUFFIXES = MARKDOWN_SUFFIXES + RST_SUFFIXES + HTML_SUFFIXES
TEXT_SUFFIXES = (".txt", ".text")
RECORD_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".parquet")
ID_FIELDS = ("_id", "id")


class CorpusError(ValueError):
    """A corpus that cannot be read, or holds nothing to adapt to; the message names the file and line."""


@dataclass
class CorpusSettings:
    """How records are read, and what is too short to mine."""

    text_field: str = "text"
    title_field: str = "title"
    id_field: str = ""  # "": _id, then id, else the file and line
    language: str = "auto"  # records: auto (from a file extension in the id, e.g. pkg/util.go:Parse), prose, or
    # a language of code_pairs.LANGUAGES for every record
    min_words: int = 20  # documents with fewer words are counted and left out
    skip_invalid: bool = False  # count and skip undecodable files and malformed rows instead of stopping


@dataclass
class CorpusReport:
    """What was read: documents kept by kind, and everything left out by reason (with the paths that failed)."""

    documents: int = 0
    kinds: Counter = field(default_factory=Counter)  # prose, markdown, rst, html, text, records, and languages
    skipped: Counter = field(default_factory=Counter)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"documents": self.documents, "kinds": dict(self.kinds), "skipped": dict(self.skipped),
                "failed": [{"path": path, "reason": reason} for path, reason in self.failed]}


def read_corpus(inputs: Sequence[str | Path], settings: CorpusSettings | None = None
                ) -> tuple[list[Document], CorpusReport]:
    """Every document of ``inputs`` long enough to mine, in input order; raises :class:`CorpusError` when none is."""
    settings = settings or CorpusSettings()
    known = sorted(set(LANGUAGES.values()))
    if settings.language not in ("auto", "prose", *known):
        raise CorpusError(f"unknown language {settings.language!r}; valid: auto, prose, {', '.join(known)}")
    if not inputs:
        raise CorpusError("no corpus given: name a BEIR folder, a folder of files, or a JSONL/Parquet file")
    report = CorpusReport()
    documents: list[Document] = []
    seen_ids: set[str] = set()
    for entry in inputs:
        for document in _read_input(Path(entry), settings, report):
            if document.doc_id in seen_ids:
                raise CorpusError(f"{document.path}: document id {document.doc_id!r} appears twice")
            seen_ids.add(document.doc_id)
            if len(document.text.split()) + len(document.title.split()) < settings.min_words:
                report.skipped[f"shorter than {settings.min_words} words"] += 1
                continue
            documents.append(document)
            report.documents += 1
    if not documents:
        reasons = ", ".join(f"{reason}: {count}" for reason, count in report.skipped.most_common()) or "none found"
        raise CorpusError(f"no document to adapt to in {', '.join(map(str, inputs))} (skipped: {reasons})")
    return documents, report


def _read_input(path: Path, settings: CorpusSettings, report: CorpusReport) -> Iterator[Document]:
    if path.is_dir() and (path / "corpus.jsonl").is_file():
        yield from _read_records(path / "corpus.jsonl", settings, report)
    elif path.is_dir():
        yield from _read_folder(path, settings, report)
    elif not path.exists():
        raise CorpusError(f"{path}: no such file or folder")
    elif path.name.lower().endswith(RECORD_SUFFIXES):
        yield from _read_records(path, settings, report)
    else:
        mine_report = MineReport()
        file = next(iter_input_files([path], mine_report))
        if not _kind_of(file):
            raise CorpusError(f"{path}: unknown format (expected a BEIR folder, .jsonl/.parquet records, text, "
                              f"Markdown, reStructuredText, HTML or source code)")
        document = _file_document(file, report, mine_report, settings)
        if document is not None:
            yield document


def _read_folder(root: Path, settings: CorpusSettings, report: CorpusReport) -> Iterator[Document]:
    mine_report = MineReport()
    for file in iter_input_files([root], mine_report):
        if file.name.lower().endswith(RECORD_SUFFIXES):
            yield from _read_records(root / file.name, settings, report)
        elif _kind_of(file):
            document = _file_document(file, report, mine_report, settings)
            if document is not None:
                yield document
        else:
            report.skipped[f"unknown format ({file.suffix or 'no extension'})"] += 1
    for reason, count in mine_report.skipped.items():
        if reason not in ("not UTF-8", "unreadable file", "unparsable reStructuredText"):
            report.skipped[reason] += count


def _kind_of(file: InputFile) -> str:
    if file.suffix in MARKUP_SUFFIXES:
        return file.suffix.lstrip(".")
    if file.suffix in TEXT_SUFFIXES:
        return "text"
    return language_of(file.name, _first_line(file))


def _first_line(file: InputFile) -> str:
    if file.suffix:
        return ""
    try:
        return file.read_bytes()[:200].split(b"\n", 1)[0].decode("utf-8", "replace")
    except OSError:
        return ""


def _file_document(file: InputFile, report: CorpusReport, mine_report: MineReport,
                   settings: CorpusSettings) -> Document | None:
    failures = len(mine_report.failed)
    kind = _kind_of(file)
    if file.suffix in MARKUP_SUFFIXES:
        outline = read_outline(file, mine_report)
        document = None if outline is None else _outline_document(outline, file)
    else:
        text = read_text(file, mine_report)
        language = "" if kind == "text" else kind
        document = None if text is None else Document(file.name, text, path=file.location, language=language)
    if len(mine_report.failed) > failures:
        path, reason = mine_report.failed[-1]
        if not settings.skip_invalid:
            raise CorpusError(f"{path}: {reason} (--skip-invalid counts and skips such files)")
        report.skipped[reason.split(":", 1)[0]] += 1
        report.failed.append((path, reason))
        return None
    if document is not None:
        report.kinds[kind] += 1
    return document


def _outline_document(outline: Outline, file: InputFile) -> Document:
    """A Markdown/reST/HTML file as a document: its title, its blocks as plain text, its (heading, text) sections."""
    title, body = split_title(outline)
    text = "\n".join(block.text for block in body)
    found = tuple((section.heading, section.text) for section in sections(body) if section.text)
    return Document(file.name, text, title=title or "", path=file.location, sections=found)


def _read_records(path: Path, settings: CorpusSettings, report: CorpusReport) -> Iterator[Document]:
    rows = _parquet_rows(path) if path.name.lower().endswith(".parquet") else _jsonl_rows(path, settings, report)
    for number, row in rows:
        try:
            yield _record_document(path, number, row, settings)
        except CorpusError as error:
            if not settings.skip_invalid:
                raise
            report.skipped["malformed row"] += 1
            report.failed.append((f"{path}:{number}", str(error)))
            continue
        report.kinds["records"] += 1


def _jsonl_rows(path: Path, settings: CorpusSettings, report: CorpusReport) -> Iterator[tuple[int, dict]]:
    for number, raw in numbered_raw_lines(path):
        try:
            line = raw.decode("utf-8")
            if line.strip():
                yield number, json_object(path, number, line)
        except UnicodeDecodeError as error:
            message = f"{path}:{number}: not valid UTF-8 (byte 0x{raw[error.start]:02x} at byte {error.start})"
            if not settings.skip_invalid:
                raise CorpusError(message + " (--skip-invalid counts and skips such rows)") from None
            report.skipped["not UTF-8"] += 1
            report.failed.append((f"{path}:{number}", message))
        except ValueError as error:
            if not settings.skip_invalid:
                raise CorpusError(str(error)) from None
            report.skipped["malformed row"] += 1
            report.failed.append((f"{path}:{number}", str(error)))


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict]]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    columns = {name: arrow_strings(table.column(name)) for name in table.column_names}
    for index in range(table.num_rows):
        yield index + 1, {name: values[index] for name, values in columns.items()}


def _record_document(path: Path, number: int, row: dict, settings: CorpusSettings) -> Document:
    where = f"{path}:{number}"
    text = row.get(settings.text_field)
    if isinstance(text, InvalidUtf8):
        raise CorpusError(f"{where}: field {settings.text_field!r}: {text.reason}")
    if not isinstance(text, str):
        fields = ", ".join(sorted(row)) or "none"
        raise CorpusError(f"{where}: field {settings.text_field!r} missing or not a string (fields: {fields}; "
                          f"--text-field names another)")
    title = row.get(settings.title_field) or ""
    if not isinstance(title, str):
        raise CorpusError(f"{where}: field {settings.title_field!r} must be a string, got {type(title).__name__}")
    id_fields = (settings.id_field,) if settings.id_field else ID_FIELDS
    doc_id = next((row[name] for name in id_fields if row.get(name) not in (None, "")), None)
    if doc_id is None:
        if settings.id_field:
            raise CorpusError(f"{where}: missing field {settings.id_field!r} (the document id)")
        doc_id = f"{path.name}:{number}"
    return Document(str(doc_id), text, title=title.strip(), path=where,
                    language=_record_language(str(doc_id), settings.language))


def _record_language(doc_id: str, language: str) -> str:
    """A record's programming language: as given, or from a file name at the start of its id."""
    if language == "prose":
        return ""
    if language != "auto":
        return language
    return language_of(doc_id.split("#", 1)[0].split(":", 1)[0], "")
