"""A definition found in source code (:class:`Definition`), shared by the per-language readers.

Depends on the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Definition:
    """A function or method: its name, declaration, code, cleaned doc comment and first line.

    ``signature`` is the declaration up to the body's opening (``{``, Python's ``:``, the end of a
    Ruby ``def`` line), whitespace collapsed, annotations/decorators and the doc comment left out.
    ``body`` is the definition's code from its signature to its end (closing brace, ``end``), without
    the doc comment (and, in Python, without the docstring), dedented. ``block`` is the code after
    the signature: inside the braces, between ``def`` and ``end``, under Python's ``:``, dedented.
    ``doc_comment`` is the description of the doc comment or docstring, ``""`` when there is none.
    """

    name: str
    signature: str
    body: str
    doc_comment: str
    start_line: int  # 1-based line of the signature's first line
    block: str


def strip_blank_lines(text: str) -> str:
    """``text`` without its leading and trailing blank lines and trailing whitespace (indentation kept)."""
    lines = text.rstrip().split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)
