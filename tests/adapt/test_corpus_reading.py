"""Reading a corpus: BEIR folders, records, folders of files; bad input named by file and line, or counted."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gtekit.adapt.corpus_reading import CorpusError, CorpusSettings, read_corpus

LONG = " ".join(f"word{i}" for i in range(30))


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_beir_folder_reads_the_corpus_only(tmp_path):
    write_jsonl(tmp_path / "corpus.jsonl", [{"_id": "a", "title": "Alpha", "text": LONG},
                                            {"_id": "b", "title": "", "text": LONG}])
    write_jsonl(tmp_path / "queries.jsonl", [{"_id": "q", "text": "never read"}])
    documents, report = read_corpus([tmp_path])
    assert [(d.doc_id, d.title) for d in documents] == [("a", "Alpha"), ("b", "")]
    assert report.documents == 2 and report.kinds == {"records": 2}


def test_records_with_other_fields_and_parquet(tmp_path):
    rows = [{"id": 7, "body": LONG, "name": "Seven"}]
    settings = CorpusSettings(text_field="body", title_field="name")
    documents, _ = read_corpus([write_jsonl(tmp_path / "docs.jsonl", rows)], settings)
    assert documents[0].doc_id == "7" and documents[0].title == "Seven"
    pq.write_table(pa.table({"body": [LONG], "name": ["P"]}), tmp_path / "docs.parquet")
    documents, _ = read_corpus([tmp_path / "docs.parquet"], settings)
    assert documents[0].doc_id == "docs.parquet:1" and documents[0].text == LONG


def test_folder_of_files_by_kind(tmp_path):
    (tmp_path / "guide.md").write_text(f"# Guide\n\n{LONG}\n\n## Installing it\n\n{LONG}\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text(LONG, encoding="utf-8")
    (tmp_path / "main.go").write_text("package main\n\n// Run starts it.\nfunc Run() {\n" + "\tx := 1\n" * 30 + "}\n",
                                      encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    documents, report = read_corpus([tmp_path])
    by_id = {d.doc_id: d for d in documents}
    assert by_id["guide.md"].title == "Guide"
    assert by_id["guide.md"].sections[0][0] == "Installing it"
    assert by_id["main.go"].language == "go" and not by_id["notes.txt"].is_code
    assert report.skipped["unknown format (.png)"] == 1


def test_not_utf8_is_an_error_naming_the_file_or_a_counted_skip(tmp_path):
    (tmp_path / "good.txt").write_text(LONG, encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 " + LONG.encode())
    with pytest.raises(CorpusError, match=r"bad\.txt.*not UTF-8"):
        read_corpus([tmp_path])
    documents, report = read_corpus([tmp_path], CorpusSettings(skip_invalid=True))
    assert [d.doc_id for d in documents] == ["good.txt"]
    assert report.skipped["not UTF-8"] == 1 and "bad.txt" in report.failed[0][0]


def test_bad_rows_name_file_line_and_field(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"_id": "a", "text": LONG}) + "\n{not json\n" + json.dumps({"_id": "b"}) + "\n",
                    encoding="utf-8")
    with pytest.raises(CorpusError, match=r"c\.jsonl:2: invalid JSON"):
        read_corpus([path])
    path.write_text(json.dumps({"_id": "a", "text": LONG}) + "\n" + json.dumps({"_id": "b"}) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"c\.jsonl:2: field 'text' missing"):
        read_corpus([path])
    documents, report = read_corpus([path], CorpusSettings(skip_invalid=True))
    assert len(documents) == 1 and report.skipped["malformed row"] == 1
    (tmp_path / "d.jsonl").write_bytes(b'{"_id": "x", "text": "caf\xe9"}\n')
    with pytest.raises(CorpusError, match=r"d\.jsonl:1: not valid UTF-8"):
        read_corpus([tmp_path / "d.jsonl"])


def test_empty_short_unknown_and_repeated(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no document to adapt to"):
        read_corpus([tmp_path / "empty"])
    (tmp_path / "short.txt").write_text("too short", encoding="utf-8")
    with pytest.raises(CorpusError, match="shorter than 20 words: 1"):
        read_corpus([tmp_path / "short.txt"])
    (tmp_path / "data.xyz").write_text(LONG, encoding="utf-8")
    with pytest.raises(CorpusError, match=r"data\.xyz: unknown format"):
        read_corpus([tmp_path / "data.xyz"])
    with pytest.raises(CorpusError, match="no such file"):
        read_corpus([tmp_path / "missing"])
    path = write_jsonl(tmp_path / "twice.jsonl", [{"_id": "a", "text": LONG}, {"_id": "a", "text": LONG}])
    with pytest.raises(CorpusError, match="'a' appears twice"):
        read_corpus([path])


def test_record_language_from_the_id_or_as_given(tmp_path):
    code = "def parse(text):\n" + "    value = text.strip()\n" * 25
    path = write_jsonl(tmp_path / "code.jsonl", [{"_id": "pkg/util.py:parse", "text": code},
                                                  {"_id": "notes-7", "text": LONG}])
    documents, _ = read_corpus([path])
    assert [d.language for d in documents] == ["python", ""]
    documents, _ = read_corpus([path], CorpusSettings(language="go"))
    assert {d.language for d in documents} == {"go"}
    with pytest.raises(CorpusError, match="unknown language 'cobol'"):
        read_corpus([path], CorpusSettings(language="cobol"))
