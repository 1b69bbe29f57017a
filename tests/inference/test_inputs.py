"""Streamed inputs: records and ids from .txt, .jsonl(.gz) and .parquet, errors naming file, line and field."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gtekit.inference.inputs import TextRecord, check_inputs, count_records, input_format, iter_records


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
    import gtekit.inference.inputs as inputs

    monkeypatch.setattr(inputs, "PARQUET_BATCH_ROWS", 3)
    parquet = tmp_path / "many.parquet"
    pq.write_table(pa.table({"text": [f"t{i}" for i in range(10)]}), parquet)
    assert [record.text for record in iter_records([parquet])] == [f"t{i}" for i in range(10)]


@pytest.mark.parametrize(("content", "message"), [
    ('{"text": "ok"}\n{"text": \n', ":2: invalid JSON"),
    ('{"text": "ok"}\n{"body": "x"}\n', ":2: missing field 'text'"),
    ('{"text": ""}\n', ":1: field 'text' must be a non-empty string"),
    ('["text"]\n', ":1: expected a JSON object"),
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
