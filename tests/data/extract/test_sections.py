"""(title, lead) and (heading, section) mining from Markdown, reST and HTML: exact pairs, skips, the CLI."""

from __future__ import annotations

import pytest

from gtekit.data.extract.base import MinedPair
from gtekit.data.extract.document_outline import Block, sections
from gtekit.data.extract.html_outline import html_outline
from gtekit.data.extract.markup_outline import markdown_outline, rst_outline
from gtekit.data.extract.sections import mine_sections

README_MD = """\
---
layout: page
title: Frobnicator Guide
---
<h1 align="center">Frobnicator</h1>

Frobnicator turns *widgets* into [gadgets](https://example.org).
![build status](https://ci.example.org/badge.svg)

## Install

Run `pip install frob`.

```bash
pip install frob
```

### Linux

Use your
package manager.

## Usage

## Empty

## Options

| name | meaning |
|------|---------|
| fast | go fast |
"""

GUIDE_RST = """\
==========
User Guide
==========

This guide shows :func:`frob.run <frob.run>` and :class:`~frob.Widget`.

Installing
==========

Install it with pip.

.. automodule:: frob
   :members:

Details
-------

Some details here.

Empty
=====

"""

PAGE_HTML = """\
<!DOCTYPE html>
<html><head><title>Widget FAQ &amp; tips</title><script>var x = "<h1>no</h1>";</script></head>
<body><nav><h2>Menu</h2><a href="/">Home</a></nav>
<main>
<h1>Widget FAQ</h1>
<p>Answers about   widgets.</p>
<h2>What is a widget?</h2>
<p>A small <b>thing</b>.</p><ul><li>one</li><li>two</li></ul>
<pre>code
  indented</pre>
</main><footer>(c) 2024</footer></body></html>
"""

NOTES_MD = """\
# Monday

Wrote the parser.

# Tuesday

Tested the parser.
"""

LATIN1_HTML = ('<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head>'
               "<body><p>Cr\xe8me br\xfbl\xe9e.</p></body></html>")


@pytest.fixture
def docs(tmp_path, write_tree):
    return write_tree(tmp_path / "docs", {
        "README.md": README_MD,
        "guide.rst": GUIDE_RST,
        "site/page.html": PAGE_HTML,
        "site/latin1.htm": LATIN1_HTML.encode("latin-1"),
        "notes.markdown": NOTES_MD,
        "broken.md": b"# Title\n\n\xff\xfe text\n",
        "logo.png": b"\x89PNG\r\n",
        ".hidden.md": "# Hidden\n\nNever read.\n",
    })


def test_pairs_are_exact(docs):
    pairs, report = mine_sections([docs])
    assert pairs == [
        MinedPair("Frobnicator Guide", "Frobnicator turns widgets into gadgets. build status", "README.md"),
        MinedPair("Install", "Run pip install frob.\npip install frob\nLinux\nUse your package manager.", "README.md"),
        MinedPair("Linux", "Use your package manager.", "README.md"),
        MinedPair("Options", "name | meaning\nfast | go fast", "README.md"),
        MinedPair("User Guide", "This guide shows frob.run and frob.Widget.", "guide.rst"),
        MinedPair("Installing", "Install it with pip.\nDetails\nSome details here.", "guide.rst"),
        MinedPair("Details", "Some details here.", "guide.rst"),
        MinedPair("Monday", "Wrote the parser.", "notes.markdown"),
        MinedPair("Tuesday", "Tested the parser.", "notes.markdown"),
        MinedPair("Café", "Crème brûlée.", "site/latin1.htm"),
        MinedPair("Widget FAQ & tips", "Answers about widgets.", "site/page.html"),
        MinedPair("What is a widget?", "A small thing.\none\ntwo\ncode\n  indented", "site/page.html"),
    ]
    assert report.documents == 5
    assert dict(report.skipped) == {
        "hidden file": 1,
        "not a Markdown, reStructuredText or HTML file": 1,
        "not UTF-8": 1,
        "section without text": 3,  # Usage and Empty in README.md, Empty in guide.rst
        "document without a title": 1,  # notes.markdown has two top-level headings
    }
    assert report.failed == [(str(docs / "broken.md"), "not UTF-8: byte 0xff at offset 9")]


def test_heading_path_keeps_common_headings_apart(docs):
    pairs, _ = mine_sections([docs / "README.md", docs / "notes.markdown"], heading_path=True)
    assert [pair.query for pair in pairs] == ["Frobnicator Guide", "Frobnicator Guide > Install",
                                              "Frobnicator Guide > Install > Linux", "Frobnicator Guide > Options",
                                              "Monday", "Tuesday"]
    assert {pair.doc_id for pair in pairs} == {"README.md", "notes.markdown"}  # a file given directly: its name


def test_outlines():
    assert [(s.heading, s.parents, s.text) for s in sections(
        [Block(1, "A"), Block(0, "a"), Block(2, "B"), Block(0, "b"), Block(1, "C")])] == [
        ("A", (), "a\nB\nb"), ("B", ("A",), "b"), ("C", (), "")]
    outline = markdown_outline("Setext title\n============\n\n- item *one*\n- item two\n\n    indented code\n")
    assert outline.blocks == [Block(1, "Setext title"), Block(0, "item one"), Block(0, "item two"),
                              Block(0, "indented code")]
    assert markdown_outline("---\n\nNot front matter.\n").title is None
    assert rst_outline("Title\n=====\n\nText with `link <http://x>`_ and **bold**.\n").title == "Title"
    page = html_outline("<article><h1>A</h1><p>x</p></article><p>outside</p>")
    assert page.blocks == [Block(1, "A"), Block(0, "x")]  # only the article is kept


def test_cli(docs, mine_cli, read_rows):
    code, output, out = mine_cli("sections", str(docs), "--held-out", "0.3")
    assert code == 0
    train, held = read_rows(out / "sections.jsonl"), read_rows(out / "held-out" / "sections.jsonl")
    assert len(train) + len(held) == 12
    assert not {row["doc_id"] for row in train} & {row["doc_id"] for row in held}
    assert "3  section without text" in output and "broken.md: not UTF-8" in output
