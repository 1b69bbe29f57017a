"""A user's corpus as documents: what ``gtekit adapt`` mines pairs from.

A :class:`Document` is one unit of the corpus: a BEIR row, a JSONL/Parquet record or a file. Its
``doc_id`` names it everywhere after (pairs, held-out split, the held-out retrieval set), ``path``
says where it was read (a file, or ``file:line`` for a row), ``language`` is ``""`` for prose and the
programming language (``python``, ``go``, ``rust``, ...) for source code.

Depends on the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Document:
    """One document of a corpus: its id, title (may be empty), text, where it was read, its language."""

    doc_id: str
    text: str
    title: str = ""
    path: str = ""
    language: str = ""  # "": prose (or markup); else a programming language, see code_pairs.LANGUAGES
    sections: tuple[tuple[str, str], ...] = ()  # (heading, section text) of a Markdown/reST/HTML document

    @property
    def is_code(self) -> bool:
        return bool(self.language)
