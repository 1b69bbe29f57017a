"""(title, lead) and (heading, section) pairs mined from Markdown, reStructuredText and HTML documents:
GTE's "Web Page" (title, body) pairs (Table 2) from a user's own documents.

For each document (``.md .markdown``, ``.rst .rest``, ``.html .htm .xhtml``; see ``markup_outline``
and ``html_outline`` for how each is read):

1. (document title, lead): the title comes from the metadata (front matter ``title:``, ``<title>``,
   the reST document title) or else from the document's only top-level heading; the lead is the
   text before the first heading under it, else the first section's text;
2. (heading, section) for every other heading: the text from the heading up to the next heading of
   the same or a higher level, sub-headings included as lines. With ``heading_path=True`` the query
   is the path of headings, ``Title > Install > Linux``, which keeps common headings ("Usage",
   "Examples") of different documents apart.

Skipped and counted: documents without a title (for the title pair), titles with no text to pair,
headings without text, sections with no text, unreadable files (listed with their path), other
files, and exact duplicates. doc_id is the file's path relative to its input root.

Depends on ``document_outline``, ``markup_outline``/``html_outline`` (markdown-it-py, docutils) and
``base``/``files``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .base import MinedPair, MineReport, dedupe
from .document_outline import Outline, lead, sections, split_title
from .html_outline import html_outline, sniff_charset
from .input_files import DEFAULT_SKIP_DIRS, InputFile, iter_input_files, read_text
from .markup_outline import markdown_outline, rst_outline

MARKDOWN_SUFFIXES = (".md", ".markdown")
RST_SUFFIXES = (".rst", ".rest")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")


def mine_sections(paths: Sequence[str | Path], *, heading_path: bool = False,
                  skip_dirs: Sequence[str] = DEFAULT_SKIP_DIRS) -> tuple[list[MinedPair], MineReport]:
    """Mine (title, lead) and (heading, section) pairs from the documents under ``paths``.

    ``report.documents`` counts the documents read.
    """
    report = MineReport()
    pairs: list[MinedPair] = []
    for file in iter_input_files(paths, report, skip_dirs=skip_dirs):
        if file.suffix not in MARKDOWN_SUFFIXES + RST_SUFFIXES + HTML_SUFFIXES:
            report.skip("not a Markdown, reStructuredText or HTML file")
            continue
        outline = read_outline(file, report)
        if outline is None:
            continue
        report.documents += 1
        pairs.extend(document_pairs(outline, file.name, report, heading_path=heading_path))
    pairs = dedupe(pairs, report)
    report.pairs = len(pairs)
    return pairs, report


def read_outline(file: InputFile, report: MineReport) -> Outline | None:
    """The outline of one Markdown/reST/HTML file, or None when it cannot be read (reported)."""
    text = read_text(file, report, sniff=sniff_charset if file.suffix in HTML_SUFFIXES else None)
    if text is None:
        return None
    if file.suffix in MARKDOWN_SUFFIXES:
        return markdown_outline(text)
    if file.suffix in HTML_SUFFIXES:
        return html_outline(text)
    try:
        return rst_outline(text, source_path=file.name)
    except Exception as error:  # docutils raises many types on malformed input; report and go on
        report.fail(file.location, "unparsable reStructuredText", f"{type(error).__name__}: {error}")
        return None


def document_pairs(outline: Outline, doc_id: str, report: MineReport, *,
                   heading_path: bool = False) -> list[MinedPair]:
    """The (title, lead) pair and the (heading, section) pairs of one document."""
    title, body = split_title(outline)
    pairs: list[MinedPair] = []
    if title is None:
        report.skip("document without a title")
    else:
        text = lead(body)
        if text:
            pairs.append(MinedPair(title, text, doc_id))
        else:
            report.skip("title without text")
    for section in sections(body):
        if not section.heading.strip():
            report.skip("empty heading")
        elif not section.text:
            report.skip("section without text")
        else:
            path = (title,) if heading_path and title else ()
            query = " > ".join((*path, *section.parents, section.heading)) if heading_path else section.heading
            pairs.append(MinedPair(query, section.text, doc_id))
    return pairs
