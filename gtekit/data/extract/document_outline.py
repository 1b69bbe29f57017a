"""A document's outline as a list of blocks (headings and blocks of text), and what is read from it: its
sections, its title and its lead.

The outline readers (``markup_outline`` for Markdown and reStructuredText, ``html_outline`` for HTML)
produce an :class:`Outline`; the miners (``sections``, ``qa``) use only what is here. Depends on the
standard library only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Block:
    """A heading (``level`` 1-6, 1 the highest) or a block of text (``level`` 0)."""

    level: int
    text: str


@dataclass(frozen=True, slots=True)
class Outline:
    """A document's title from its metadata (front matter, ``<title>``, reST title), if any, and its blocks."""

    title: str | None
    blocks: list[Block]


@dataclass(frozen=True, slots=True)
class Section:
    heading: str
    parents: tuple[str, ...]  # the headings above it, highest first
    text: str  # its text blocks and sub-headings, one per line; "" when it holds no text block


def sections(blocks: list[Block]) -> Iterator[Section]:
    """Every heading of ``blocks`` with the text up to the next heading of the same or a higher level."""
    stack: list[Block] = []
    for index, block in enumerate(blocks):
        if not block.level:
            continue
        while stack and stack[-1].level >= block.level:
            stack.pop()
        parents = tuple(parent.text for parent in stack)
        stack.append(block)
        body: list[Block] = []
        for following in blocks[index + 1:]:
            if following.level and following.level <= block.level:
                break
            body.append(following)
        has_text = any(not part.level for part in body)
        yield Section(block.text, parents, "\n".join(part.text for part in body) if has_text else "")


def split_title(outline: Outline) -> tuple[str | None, list[Block]]:
    """The document's title and the blocks of its body.

    A heading that is the document's only heading of the highest level used, and its first heading,
    is the title's heading: it is taken out of the body (its section is the whole document), and it
    is the title when the metadata gives none.
    """
    headings = [block for block in outline.blocks if block.level]
    if headings:
        top = min(block.level for block in headings)
        if headings[0].level == top and sum(block.level == top for block in headings) == 1:
            body = list(outline.blocks)
            body.remove(headings[0])
            return outline.title or headings[0].text, body
    return outline.title, list(outline.blocks)


def lead(blocks: list[Block]) -> str:
    """The text before the first heading, else the text of the first section; ``""`` when neither has any."""
    before: list[str] = []
    for block in blocks:
        if block.level:
            break
        before.append(block.text)
    if before:
        return "\n".join(before)
    return next((section.text for section in sections(blocks)), "")
