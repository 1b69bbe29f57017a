"""The outline of an HTML page (title, headings, blocks of text) with the standard library's HTMLParser.

Text is read the way a reader sees it: ``<script>``, ``<style>``, ``<noscript>``, ``<template>``,
``<svg>``, ``<nav>``, ``<aside>``, ``<footer>``, ``<form>`` and the ``<head>`` (its ``<title>`` apart)
are left out, block elements (``<p>``, ``<li>``, ``<div>``, table rows, ...) end a block of text,
whitespace is collapsed except inside ``<pre>``, and entities are decoded. When the page has a
``<main>`` element (else an ``<article>``), only what is inside the first one is kept, which drops
menus and page furniture. No lxml, no BeautifulSoup: nothing outside the standard library and
``document_outline`` (the shared types).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from .document_outline import Block, Outline

_SKIP = {"script", "style", "noscript", "template", "svg", "nav", "aside", "footer", "form", "head", "iframe",
         "select", "button", "object", "canvas"}
_BLOCKS = {"p", "div", "li", "ul", "ol", "dl", "dd", "dt", "tr", "table", "thead", "tbody", "tfoot", "caption",
           "pre", "blockquote", "section", "article", "main", "header", "body", "html", "br", "hr", "figure",
           "figcaption", "address", "details", "summary", "center", "h1", "h2", "h3", "h4", "h5", "h6"}
_CELLS = {"td", "th"}
_VOID = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "track", "wbr"}
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def html_outline(text: str) -> Outline:
    """The outline of an HTML document (see the module docstring)."""
    parser = _OutlineParser()
    parser.feed(text)
    parser.close()
    parser.flush()
    blocks = parser.blocks
    for container in ("main", "article"):
        inside = [block for block, where in zip(blocks, parser.containers, strict=True) if container in where]
        if inside:
            blocks = inside
            break
    title = " ".join(" ".join(parser.title_parts).split()) or None
    return Outline(title=title, blocks=blocks)


def html_blocks(text: str) -> list[Block]:
    """The headings and text blocks of an HTML fragment (a Markdown file's raw HTML block)."""
    parser = _OutlineParser()
    parser.feed(text)
    parser.close()
    parser.flush()
    return parser.blocks


def sniff_charset(data: bytes) -> str | None:
    """The encoding named by an HTML ``<meta charset>`` in the first 4 KiB, or None."""
    match = _CHARSET.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


class _OutlineParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.containers: list[frozenset[str]] = []  # for each block: "main"/"article" when inside one
        self.title_parts: list[str] = []
        self._buffer: list[str] = []
        self._skip = 0
        self._pre = 0
        self._heading = 0
        self._in_title = False
        self._open = {"main": 0, "article": 0}

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "title":
            self._in_title = True
            return
        if tag in _SKIP:
            if tag not in _VOID:
                self._skip += 1
            return
        if self._skip:
            return
        if tag in _BLOCKS:
            self.flush()
        elif tag in _CELLS and self._buffer:
            self._buffer.append(" | ")
        if tag in self._open:
            self._open[tag] += 1
        if tag == "pre":
            self._pre += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading = int(tag[1])
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self._buffer.append(alt)

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag in _VOID:
            self.handle_starttag(tag, attrs)
        # a self-closed non-void tag (<div/>) opens nothing

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            return
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if self._skip:
            return
        if tag in _BLOCKS or re.fullmatch(r"h[1-6]", tag):
            self.flush()
        if tag == "pre":
            self._pre = max(0, self._pre - 1)
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading = 0
        if tag in self._open:
            self._open[tag] = max(0, self._open[tag] - 1)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._skip:
            self._buffer.append(data)

    def flush(self) -> None:
        """End the current block of text (a heading when inside ``<hN>``)."""
        text = "".join(self._buffer)
        self._buffer = []
        text = text.strip("\n") if self._pre else " ".join(text.split())
        if text.strip():
            self.blocks.append(Block(self._heading, text))
            self.containers.append(frozenset(name for name, depth in self._open.items() if depth))
