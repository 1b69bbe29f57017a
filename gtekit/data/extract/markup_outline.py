"""The outline of a Markdown or reStructuredText document: its title, headings and blocks of text
(``document_outline``, where its sections are read too).

Markdown is parsed with markdown-it-py (CommonMark plus tables): paragraphs, list items, quotes,
table rows (cells joined with `` | ``) and code blocks are blocks of text; inline markup is dropped
and link text kept; images give their alt text; raw HTML blocks are read with ``html_outline``
(so ``<h1 align="center">`` is a heading); a YAML front matter block gives the ``title``.
reStructuredText is parsed with docutils (no file inclusion, no raw passthrough, no messages):
the document title found by docutils is the ``title``, sections give headings by depth, and
Sphinx roles docutils does not know (``:func:`json.dumps```) are made plain text
(``json.dumps``); unknown directives (``.. automodule::``) are dropped.

Depends on markdown-it-py and docutils (the ``data`` extra; imported when first used), PyYAML,
``document_outline`` and ``html_outline``; nothing else in gtekit.
"""

from __future__ import annotations

import io
import re

import yaml

from .document_outline import Block, Outline
from .html_outline import html_blocks

# --- Markdown ---------------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)


def markdown_outline(text: str) -> Outline:
    """The outline of a Markdown document (see the module docstring)."""
    title, text = _front_matter(text)
    tokens = _markdown_parser().parse(text)
    blocks: list[Block] = []
    row: list[str] | None = None
    heading = 0
    for token in tokens:
        if token.type == "heading_open":
            heading = int(token.tag[1])
        elif token.type == "heading_close":
            heading = 0
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            if any(row):
                blocks.append(Block(0, " | ".join(row)))
            row = None
        elif token.type == "inline":
            content = _inline_text(token)
            if row is not None:
                row.append(content)
            elif content:
                blocks.append(Block(heading, content))
        elif token.type in ("fence", "code_block") and token.content.strip():
            blocks.append(Block(0, token.content.strip("\n")))
        elif token.type == "html_block":
            blocks.extend(Block(b.level, b.text) for b in html_blocks(token.content))
    return Outline(title=title, blocks=blocks)


def _front_matter(text: str) -> tuple[str | None, str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return None, text
    try:
        data = yaml.safe_load(match.group(1) or "")
    except yaml.YAMLError:
        return None, text  # a thematic break, not front matter
    if not isinstance(data, dict):
        return None, text
    title = data.get("title")
    return (str(title).strip() or None) if title is not None else None, text[match.end():]


def _markdown_parser():
    try:
        from markdown_it import MarkdownIt
    except ImportError as error:
        raise RuntimeError(f"reading Markdown needs markdown-it-py ({error}); "
                           "install it with: pip install 'gtekit[data]'") from None
    return MarkdownIt("commonmark", {"html": True}).enable("table")


def _inline_text(token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts).strip()


# --- reStructuredText -------------------------------------------------------------------------------

_ROLE = re.compile(r":[\w.+-]+(?::[\w.+-]+)*:`([^`]*)`")
_TEXT_NODES = ("paragraph", "literal_block", "doctest_block", "line_block", "rubric")
_DROPPED_NODES = ("system_message", "comment", "substitution_definition", "target", "raw", "pending", "docinfo")


def rst_outline(text: str, source_path: str = "<string>") -> Outline:
    """The outline of a reStructuredText document (see the module docstring); raises on what docutils cannot read."""
    try:
        from docutils.core import publish_doctree
    except ImportError as error:
        raise RuntimeError(f"reading reStructuredText needs docutils ({error}); "
                           "install it with: pip install 'gtekit[data]'") from None
    settings = {"report_level": 5, "halt_level": 5, "warning_stream": io.StringIO(), "file_insertion_enabled": False,
                "raw_enabled": False, "input_encoding": "unicode", "_disable_config": True, "doctitle_xform": True}
    document = publish_doctree(text, source_path=source_path, settings_overrides=settings)
    title = None
    blocks: list[Block] = []
    for child in document.children:
        if child.tagname == "title":
            title = _rst_text(child.astext()) or None
        else:
            _rst_blocks(child, 0, blocks)
    return Outline(title=title, blocks=blocks)


def _rst_blocks(node, depth: int, blocks: list[Block]) -> None:
    name = getattr(node, "tagname", "#text")
    if name in _DROPPED_NODES or name == "#text":
        return
    if name == "section":
        for child in node.children:
            if child.tagname == "title":
                blocks.append(Block(min(depth + 1, 6), _rst_text(child.astext())))
            else:
                _rst_blocks(child, depth + 1, blocks)
    elif name in _TEXT_NODES or name == "subtitle":
        content = _rst_text(node.astext()) if name != "literal_block" else node.astext().strip("\n")
        if content.strip():
            blocks.append(Block(0, content))
    else:
        for child in node.children:
            _rst_blocks(child, depth, blocks)


def _rst_text(text: str) -> str:
    def plain(match: re.Match) -> str:
        inner = re.sub(r"\s*<[^<>]*>$", "", match.group(1)).lstrip("~!")
        return inner or match.group(1)

    return " ".join(_ROLE.sub(plain, text).split())
