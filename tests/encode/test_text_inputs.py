"""Streamed inputs: records and ids from .txt, .jsonl(.gz) and .parquet, errors naming file, line and field."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gtekit.encode.text_inputs import (
    SkippedRow,
    TextRecord,
    check_inputs,
    count_records,
    input_format,
    iter_records,
)
from tests.helpers import strings_with_raw_bytes


def test_txt_jsonl_gz_and_parquet_in_file_order_with_default_ids(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_text("first\nsecond\n")
    jsonl = tmp_path / "b.jsonl.gz"
    with gzip.open(jsonl, "wt") as handle:
        handle.write(json.dumps({"body": "third"}) + "\n\n" + json.dumps({"body": "fourth"}) + "\n")
    parquet = tmp_path / "c.parquet"
    pq.write_table(pa.table({"body": ["fifth", "sixth"]}), parquet)
    records = list(iter_records([txt, jsonl, parquet], text_field="body"))
    assert records == [TextRecord(f"{txt}:1", "first"), TextRecord(f"{txt}:2", "second"),
                       TextRecord(f"{jsonl}:1", "third"), TextRecord(f"{jsonl}:3", "fourth"),
                       TextRecord(f"{parquet}:1", "fifth"), TextRecord(f"{parquet}:2", "sixth")]
    assert count_records([txt, parquet]) == 4 and count_records([jsonl]) is None


def test_id_field_strings_and_integers(tmp_path):
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text(json.dumps({"text": "a", "doc": "d-1"}) + "\n" + json.dumps({"text": "b", "doc": 7}) + "\n")
    parquet = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"text": ["c"], "doc": [9]}), parquet)
    ids = [record.id for record in iter_records([jsonl, parquet], id_field="doc")]
    assert ids == ["d-1", "7", "9"]


def test_parquet_is_read_in_record_batches(tmp_path, monkeypatch):
    import gtekit.encode.text_inputs as inputs

    monkeypatch.setattr(inputs, "PARQUET_BATCH_ROWS", 3)
    parquet = tmp_path / "many.parquet"
    pq.write_table(pa.table({"text": [f"t{i}" for i in range(10)]}), parquet)
    assert [record.text for record in iter_records([parquet])] == [f"t{i}" for i in range(10)]


@pytest.mark.parametrize(("content", "message"), [
    ('{"text": "ok"}\n{"text": \n', ":2: invalid JSON"),
    ('{"text": "ok"}\n{"body": "x"}\n', ":2: missing field 'text'"),
    ('{"text": ""}\n', ":1: field 'text' must be a non-empty string"),
    ('["text"]\n', ":1: expected a JSON object"),
    ('{"text": " \\t "}\n', r":1: field 'text' must be a non-empty string, got ' \\t '"),
    ('{"text": "ok"}\n{"text": "half \\ud800"}\n', r":2: field 'text' holds a lone surrogate U\+D800 at character 5"),
])
def test_jsonl_errors_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=f"{path}{message}"):
        list(iter_records([path]))


def test_other_errors(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_text("one\n\nthree\n")
    with pytest.raises(ValueError, match=f"{txt}:2: empty line"):
        list(iter_records([txt]))
    ids = tmp_path / "ids.jsonl"
    ids.write_text(json.dumps({"text": "a", "doc": None}) + "\n")
    with pytest.raises(ValueError, match=":1: id field 'doc' must be a non-empty string or an integer"):
        list(iter_records([ids], id_field="doc"))
    with pytest.raises(ValueError, match=r"unknown input type; valid: \.txt, \.jsonl"):
        input_format(tmp_path / "x.csv")
    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.table({"body": ["x"]}), parquet)
    with pytest.raises(ValueError, match="no column 'text'; columns: body"):
        check_inputs([parquet], "text", None)
    with pytest.raises(FileNotFoundError, match="no such file"):
        check_inputs([tmp_path / "missing.txt"], "text", None)


def test_parquet_text_that_is_not_utf8_names_the_row(tmp_path):
    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.table({"text": strings_with_raw_bytes([b"ok", b"\xed\xa0\x80"])}), parquet)
    with pytest.raises(ValueError, match=rf"{parquet}:2: field 'text': not valid UTF-8 \(byte 0xed at byte 0\)"):
        list(iter_records([parquet]))


def test_skipped_rows_are_left_out_and_listed(tmp_path):
    txt = tmp_path / "a.txt"
    txt.write_bytes(b"one\n\nthree\nf\xed\xa0\x80our\n")
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text('{"text": "ok", "doc": "d1"}\n\n{"text": "\\udc00", "doc": "d2"}\n{"text": "  ", "doc": 3}\n'
                     '{"doc": "d4"}\nnot json\n{"text": "last", "doc": null}\n')
    skipped: list[SkippedRow] = []
    records = list(iter_records([txt], skipped=skipped)) + list(iter_records([jsonl], id_field="doc", skipped=skipped))
    assert records == [TextRecord(f"{txt}:1", "one"), TextRecord(f"{txt}:3", "three"), TextRecord("d1", "ok")]
    assert [(row.file, row.line, row.id) for row in skipped] == [
        (str(txt), 2, f"{txt}:2"), (str(txt), 4, f"{txt}:4"), (str(jsonl), 3, "d2"), (str(jsonl), 4, "3"),
        (str(jsonl), 5, "d4"), (str(jsonl), 6, None), (str(jsonl), 7, None)]
    assert skipped[2].problem == (f"{jsonl}:3: field 'text' holds a lone surrogate U+DC00 at character 0, "
                                  "which has no UTF-8 encoding")
    assert skipped[0].to_json() == {"id": f"{txt}:2", "file": str(txt), "line": 2,
                                    "problem": f"{txt}:2: empty line (one text per line expected)"}
