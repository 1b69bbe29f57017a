"""(title, content) and (summary, content) mining from news records and text articles: pairs, skips, the CLI."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from gtekit.data.extract.base import MinedPair
from gtekit.data.extract.news import mine_news

NEWS_CSV = """\
article_id,publish_date,title,subtitle,text
1,2017/2/7,"DeVos Confirmed, With Pence Casting Vote",,"The Senate voted 51-50.
Pence broke the tie."
2,2017/2/8,Storm Hits Coast,Thousands without power,A storm hit the coast on Tuesday.
3,2017/2/9,No Body,,
4,2017/2/9,,,An article with neither a title nor a subtitle.
"""


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.fixture
def articles(tmp_path, write_tree):
    feed = "\n".join(json.dumps(row) for row in [
        {"id": "a1", "headline": "Nepalese Opposition Welcomes Return of Parliament",
         "summary": "The alliance calls off protests.", "body": "Nepal's opposition alliance formally calls off..."},
        {"title": "Same", "content": "Same"},
    ]) + "\n"
    return write_tree(tmp_path / "news", {
        "NewsArticles.zip": _zip({"NewsArticles.csv": NEWS_CSV, "readme.md": "# About\n"}),
        "feed.jsonl": feed,
        "texts/2024-01-02.txt": "\nCity Opens New Library\n\nThe city opened a library on Monday.\n"
                                "It has 10,000 books.\n",
        "texts/empty.txt": "Only A Title\n",
        "texts.zip": _zip({"b/one.txt": "Zipped Title\nZipped body text.\n", "a/nested.zip": "PK"}),
    })


def test_pairs_are_exact(articles):
    pairs, report = mine_news([articles])
    zipped = "NewsArticles.zip/NewsArticles.csv#"
    assert pairs == [
        MinedPair("DeVos Confirmed, With Pence Casting Vote", "The Senate voted 51-50.\nPence broke the tie.",
                  zipped + "1"),
        MinedPair("Storm Hits Coast", "A storm hit the coast on Tuesday.", zipped + "2"),
        MinedPair("Thousands without power", "A storm hit the coast on Tuesday.", zipped + "2"),
        MinedPair("Nepalese Opposition Welcomes Return of Parliament",
                  "Nepal's opposition alliance formally calls off...", "feed.jsonl#a1"),
        MinedPair("The alliance calls off protests.", "Nepal's opposition alliance formally calls off...",
                  "feed.jsonl#a1"),
        MinedPair("City Opens New Library", "The city opened a library on Monday.\nIt has 10,000 books.",
                  "texts/2024-01-02.txt"),
        MinedPair("Zipped Title", "Zipped body text.", "texts.zip/b/one.txt"),
    ]
    assert report.documents == 4 + 2 + 2 + 1
    assert dict(report.skipped) == {
        "not an article file (JSON, JSONL, CSV, TSV or .txt)": 1,  # readme.md in the zip
        "article without content": 2,  # row 3, texts/empty.txt
        "article without a title or summary": 1,  # row 4
        "query equals the content": 1,
        "zip archive inside a zip archive": 1,
    }


def test_field_mapping(tmp_path, write_tree):
    row = {"meta": {"key": 7}, "headlines": {"main": "Main", "kicker": "Kicker"}, "teaser": "Teaser",
           "paragraphs": ["First.", "Second."]}
    root = write_tree(tmp_path, {"nested.json": json.dumps([row])})
    fields = {"title": "headlines.main", "summary": "headlines.kicker, teaser", "content": "paragraphs",
              "id": "meta.key"}
    pairs, _ = mine_news([root], fields=fields)
    assert pairs == [MinedPair(query, "First.\nSecond.", "nested.json#7") for query in ("Main", "Kicker", "Teaser")]


def test_cli(articles, mine_cli, read_rows):
    code, output, out = mine_cli("news", str(articles / "NewsArticles.zip"), "--held-out", "0.5", "--name", "news-en")
    assert code == 0
    rows = read_rows(out / "news-en.jsonl") + read_rows(out / "held-out" / "news-en.jsonl")
    assert len(rows) == 3
    by_side = {row["doc_id"]: [] for row in rows}
    for name in ("news-en.jsonl", "held-out/news-en.jsonl"):
        for row in read_rows(out / name):
            by_side[row["doc_id"]].append(name)
    assert all(len(set(sides)) == 1 for sides in by_side.values())  # an article's pairs share a side
    assert "read 4 articles, mined 3 pairs" in output
