"""(query, positive) pairs from one prose document, by kind, with no label but the text's own structure.

The kinds, each a weak signal that a query-like span and a passage are about the same thing:

- ``title_body``: (the document's title, its text); GTE Table 2's (title, body) pairs.
- ``heading_section``: (a heading of a Markdown/reST/HTML document, its section's text); GTE's
  (section title, section) pairs.
- ``question_answer``: a heading, line or paragraph ending in ``?`` and the text after it (a FAQ entry),
  and ``Q:`` / ``A:`` lines; GTE's community QA pairs.
- ``first_sentence``: (the first sentence, the rest of the document): a lead sentence summarises.
- ``inverse_cloze``: (a sentence, the passage around it *without* it); the inverse cloze task of Lee et
  al. 2019 (ORQA), which learns retrieval from unlabelled text. The passage is up to ``context_words``
  words of whole sentences around the one taken out.
- ``random_crops``: two independent random crops of one document, each ``crop_ratio`` (default 10–50 %)
  of its words; Contriever (Izacard et al. 2021), whose crops may overlap.

Sentences are split on ``. ! ?`` followed by space and an upper-case letter, digit or quote, which
is what a corpus of documentation or articles needs; nothing is downloaded. Every random choice comes
from the ``random.Random`` passed in, so pairs are reproducible. A pair whose query is empty, repeats its
positive, or is shorter than ``min_query_words`` is not made.

Depends on the standard library, ``gtekit.data.extract.base`` (the pair type) and ``documents``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from ..data.extract.base import MinedPair
from .documents import Document

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9\"'(\[])")
_QA_LINE = re.compile(r"^\s*(?:Q|Question)\s*[:.]\s*(.+?)\s*\n\s*(?:A|Answer)\s*[:.]\s*(.+?)"
                      r"(?=\n\s*(?:Q|Question)\s*[:.]|\Z)", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class ProseSettings:
    """How many pairs of each kind one document gives, and their sizes."""

    min_query_words: int = 3
    min_positive_words: int = 20
    max_sections: int = 8  # heading_section and question_answer pairs per document
    inverse_cloze_per_document: int = 2
    crops_per_document: int = 1
    context_words: int = 200  # inverse cloze: words of context around the sentence taken out
    crop_ratio: tuple[float, float] = (0.1, 0.5)  # Contriever's random crop: a share of the document's words
    min_crop_words: int = 16


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, line breaks inside a paragraph made spaces; blank lines end a sentence."""
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n|\n(?=\s*[-*#>] )", text):
        flat = " ".join(paragraph.split())
        sentences.extend(part.strip() for part in _SENTENCE_END.split(flat) if part.strip())
    return sentences


def prose_pairs(document: Document, rng: random.Random, settings: ProseSettings | None = None
                ) -> dict[str, list[MinedPair]]:
    """The pairs of every kind that ``document`` gives (kinds it gives none of are absent)."""
    settings = settings or ProseSettings()
    pairs: dict[str, list[MinedPair]] = {}

    def add(kind: str, query: str, positive: str) -> None:
        query, positive = " ".join(query.split()), positive.strip()
        if (len(query.split()) >= settings.min_query_words and len(positive.split()) >= settings.min_positive_words
                and query not in positive[:len(query) + 2] and query != positive):
            pairs.setdefault(kind, []).append(MinedPair(query, positive, document.doc_id))

    if document.title:
        add("title_body", document.title, document.text)
    questions = 0
    for heading, text in document.sections:
        if heading.rstrip().endswith("?") and questions < settings.max_sections:
            add("question_answer", heading, text)
            questions += 1
    headings = [(heading, text) for heading, text in document.sections if not heading.rstrip().endswith("?")]
    for heading, text in headings[:settings.max_sections]:
        add("heading_section", heading, text)
    for question, answer in _QA_LINE.findall(document.text)[:settings.max_sections]:
        add("question_answer", question, answer)
    sentences = split_sentences(document.text)
    if len(sentences) >= 3:
        add("first_sentence", sentences[0], " ".join(sentences[1:]))
        for index in _cloze_sentences(sentences, rng, settings):
            add("inverse_cloze", sentences[index], _context(sentences, index, settings.context_words))
    words = document.text.split()
    for _ in range(settings.crops_per_document):
        if len(words) >= 2 * settings.min_crop_words:
            first, second = _crop(words, rng, settings), _crop(words, rng, settings)
            if first != second:
                pairs.setdefault("random_crops", []).append(MinedPair(first, second, document.doc_id))
    return pairs


def _cloze_sentences(sentences: list[str], rng: random.Random, settings: ProseSettings) -> list[int]:
    """Sentences worth taking out: at least five words, not the first (first_sentence has it)."""
    usable = [index for index in range(1, len(sentences)) if len(sentences[index].split()) >= 5]
    return sorted(rng.sample(usable, min(settings.inverse_cloze_per_document, len(usable))))


def _context(sentences: list[str], index: int, budget: int) -> str:
    """Whole sentences around ``sentences[index]``, not including it, alternately after and before, up to
    ``budget`` words."""
    before, after, words = index - 1, index + 1, 0
    kept: list[int] = []
    while before >= 0 or after < len(sentences):
        for candidate in (after, before):
            if 0 <= candidate < len(sentences) and candidate != index:
                size = len(sentences[candidate].split())
                if words + size > budget and kept:
                    return " ".join(sentences[i] for i in sorted(kept))
                kept.append(candidate)
                words += size
        before, after = before - 1, after + 1
    return " ".join(sentences[i] for i in sorted(kept))


def _crop(words: list[str], rng: random.Random, settings: ProseSettings) -> str:
    low, high = settings.crop_ratio
    length = max(settings.min_crop_words, int(len(words) * rng.uniform(low, high)))
    start = rng.randint(0, max(0, len(words) - length))
    return " ".join(words[start:start + length])
