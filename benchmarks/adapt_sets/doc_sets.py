"""Candidates of the documentation sets: (heading, the section's own text) from the docs shipped in sdists.

Pages are read with ``gtekit.data.extract.sections.read_outline`` (Markdown with markdown-it-py,
reStructuredText with docutils; Django's ``.txt`` pages are reStructuredText and are read with
``markup_outline.rst_outline``), and split with ``document_outline.split_title``. A section's document
is its *own* text: the blocks after its heading up to the next heading of any level, so a parent section
never holds its children's text (nor their headings); the page title's document is the text before
the first heading. The heading itself is never part of a document, and titles are left empty.

Release notes, changelogs and author lists are not read (folders ``changelog``, ``changes``, ...; files
whose name says so): their headings are version numbers, not descriptions. Document ids are
``PACKAGE/PATH#N``, N the section's place in the page (0 for the title's text).

Depends on gtekit's outline readers and on ``candidates``/``sources``.
"""

from __future__ import annotations

import re
from pathlib import Path

from gtekit.data.extract.base import MineReport
from gtekit.data.extract.document_outline import Block, split_title
from gtekit.data.extract.input_files import InputFile, iter_input_files, read_text
from gtekit.data.extract.markup_outline import rst_outline
from gtekit.data.extract.sections import read_outline

from .candidates import Candidate
from .sources import Archive, selected_paths

SKIP_DIRS = ("node_modules", "__pycache__", "_static", "_templates", "changelog", "changes", "announce", "history",
             "unreleased", "whatsnew", "releases")
SKIP_FILES = re.compile(r"change|history|release|whatsnew|announce|news|authors|contributors|licen[cs]e|copyright|"
                        r"thanks|code_of_conduct|spelling", re.IGNORECASE)
TEXT_IS_RST = ("django",)  # packages whose documentation pages are reStructuredText named .txt


def section_candidates(root: Path, archive: Archive) -> list[Candidate]:
    """(heading, own text) of every heading of the documentation pages selected from the sdist at ``root``."""
    found: list[Candidate] = []
    report = MineReport()
    for path in selected_paths(root, archive):
        prefix = path.relative_to(root).as_posix()
        for file in iter_input_files([path], report, skip_dirs=SKIP_DIRS):
            if SKIP_FILES.search(file.basename):
                continue
            blocks = _page(file, archive, report)
            if blocks is None:
                continue
            page = prefix if path.is_file() else f"{prefix}/{file.name}"
            for index, (heading, text) in enumerate(blocks):
                if text:
                    found.append(Candidate(f"{archive.name}/{page}#{index}", heading, text, archive.name))
    return found


def _page(file: InputFile, archive: Archive, report: MineReport) -> list[tuple[str, str]] | None:
    """[(title, text before the first heading), (heading, own text), ...] of one page, or None when unread."""
    suffix = file.suffix
    if suffix in (".md", ".markdown", ".rst", ".rest"):
        outline = read_outline(file, report)
    elif suffix == ".txt" and archive.name in TEXT_IS_RST:
        text = read_text(file, report)
        outline = rst_outline(text, source_path=file.name) if text is not None else None
    else:
        return None
    if outline is None:
        return None
    title, body = split_title(outline)
    return [(title or "", _own_text(body, 0)),
            *((block.text, _own_text(body, index + 1)) for index, block in enumerate(body) if block.level)]


def _own_text(blocks: list[Block], start: int) -> str:
    """The text blocks from ``start`` up to the next heading, one per line."""
    text: list[str] = []
    for block in blocks[start:]:
        if block.level:
            break
        text.append(block.text)
    return "\n".join(text)


def is_question(heading: str) -> bool:
    return heading.rstrip().endswith("?")


def is_topic_heading(heading: str) -> bool:
    """A heading that names a topic: not a question, not a version number or a bare API name."""
    return not is_question(heading) and not re.search(r"\d+\.\d+", heading)
