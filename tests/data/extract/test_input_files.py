"""What all miners share: the held-out split by doc_id, input files (folders, zips, order, skips), records, paths."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from gtekit.data.extract.base import MinedPair, MineReport, dedupe, held_out, split_held_out
from gtekit.data.extract.input_files import iter_input_files, read_text
from gtekit.data.extract.records import field_values, iter_records, resolve_fields


def test_split_is_by_document_and_stable():
    pairs = [MinedPair(f"q{i}", f"p{i}", f"doc{i // 3}") for i in range(600)]
    train, held = split_held_out(pairs, 0.2)
    assert len(train) + len(held) == 600 and [p for p in pairs if p in held] == held
    assert not {p.doc_id for p in train} & {p.doc_id for p in held}
    assert 0.1 < len(held) / 600 < 0.3
    # SHA-1 of the doc_id as a number in [0, 1): the same on every machine (entry:bank 0.6013, README.md 0.5578)
    assert held_out("entry:bank", 0.602) and not held_out("entry:bank", 0.601)
    assert held_out("README.md", 0.558) and not held_out("README.md", 0.557)
    assert split_held_out(pairs, 0.0) == (pairs, [])
    with pytest.raises(ValueError, match="held-out fraction"):
        split_held_out(pairs, 1.0)


def test_dedupe_counts_repeats():
    report = MineReport()
    pairs = [MinedPair("q", "p", "a"), MinedPair("q", "p", "b"), MinedPair("q", "p2", "a")]
    assert dedupe(pairs, report) == [pairs[0], pairs[2]]
    assert report.skipped == {"duplicate pair": 1}


def test_input_files_order_names_and_skips(tmp_path, write_tree):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for name in ("z.txt", "dir/a.txt", ".hidden", "__MACOSX/._z.txt", "inner.zip"):
            zipped.writestr(name, "x")
        zipped.writestr("empty/", "")
    root = write_tree(tmp_path / "in", {
        "b.txt": "b", "a/c.txt": "c", "a.txt": "a", "data.zip": archive.getvalue(), "bad.zip": b"not a zip",
        ".git/config": "x", "node_modules/m/i.js": "x", "__pycache__/m.pyc": b"x", ".env": "x",
    })
    report = MineReport()
    files = list(iter_input_files([root, root / "b.txt"], report))
    # sorted by path parts (a folder's files come before a sibling file with a longer name), zips by member
    assert [file.name for file in files] == ["a/c.txt", "a.txt", "b.txt", "data.zip/dir/a.txt", "data.zip/z.txt",
                                             "b.txt"]
    assert files[3].location == f"{root / 'data.zip'}:dir/a.txt" and files[3].read_bytes() == b"x"
    assert dict(report.skipped) == {"hidden folder": 1, "folder skipped (node_modules)": 1,
                                    "folder skipped (__pycache__)": 1, "hidden file": 3,
                                    "zip archive inside a zip archive": 1, "unreadable zip archive": 1}
    assert report.failed[0][0] == str(root / "bad.zip")
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        list(iter_input_files([root / "missing"], report))


def test_read_text_decodes_or_reports(tmp_path, write_tree):
    root = write_tree(tmp_path, {"bom.txt": b"\xef\xbb\xbfline one\r\nline two\r", "latin.txt": b"caf\xe9"})
    report = MineReport()
    bom, latin = iter_input_files([root / "bom.txt", root / "latin.txt"], report)
    assert read_text(bom, report) == "line one\nline two\n"
    assert read_text(latin, report) is None
    assert read_text(latin, report, sniff=lambda data: "latin-1") == "café"
    assert report.failed == [(str(root / "latin.txt"), "not UTF-8: byte 0xe9 at offset 3")]


def test_records_of_every_shape(tmp_path, write_tree):
    root = write_tree(tmp_path, {
        "list.json": json.dumps([{"a": 1}, "text"]),
        "keyed.json": json.dumps({"k1": {"a": 2}, "k2": {"a": 3}}),
        "glossary.json": json.dumps({"term": "definition", "other": ["d1", "d2"]}),
        "one.json": json.dumps({"a": [1], "b": {"c": 1}}),
        "bad.json": "{",
        "rows.tsv": "a\tb\n1\t2\n\n3\n",
    })
    report = MineReport()
    got = [(where, record) for file in iter_input_files([root], report)
           for where, record in iter_records(file, read_text(file, report), report)]
    assert got == [
        ("glossary.json#term", {"_key": "term", "_value": "definition"}),
        ("glossary.json#other", {"_key": "other", "_value": ["d1", "d2"]}),
        ("keyed.json#k1", {"_key": "k1", "a": 2}), ("keyed.json#k2", {"_key": "k2", "a": 3}),
        ("list.json[0]", {"a": 1}),
        ("one.json", {"a": [1], "b": {"c": 1}}),
        ("rows.tsv:2", {"a": "1", "b": "2"}),
    ]
    assert dict(report.skipped) == {"invalid JSON file": 1, "JSON list item is not an object": 1,
                                    "CSV row with the wrong number of columns": 1}


def test_field_paths():
    record = {"pos": [{"defs": [{"text": " one "}, {"text": ""}]}, {"defs": {"text": 2}}], "flag": True, "n": None}
    assert field_values(record, "pos.defs.text") == ["one", "2"]
    assert field_values(record, "flag") == [] and field_values(record, "n") == [] and field_values(record, "x") == []
    assert resolve_fields({"term": ("a", "b")}, {"term": "c"}) == {"term": ("c",)}
    with pytest.raises(ValueError, match="unknown field role"):
        resolve_fields({"term": ("a",)}, {"terms": "c"})
