"""Reading training sources: round trips, and a clear error for every kind of bad input."""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gtekit.data.pairs import Pair, PairFormatError, load_sources, read_pairs, source_name
from tests.helpers import strings_with_raw_bytes

ROWS = [
    {"query": "what is a cat", "positive": "a cat is a small feline", "negatives": ["a dog barks", "fish"]},
    {"query": "capital of france", "positive": "Paris is the capital of France"},
    {"query": "  padded  ", "positive": "ünïcödé ✓ 中文", "negatives": []},
]
PAIRS = [
    Pair("what is a cat", "a cat is a small feline", ("a dog barks", "fish")),
    Pair("capital of france", "Paris is the capital of France"),
    Pair("  padded  ", "ünïcödé ✓ 中文"),
]
GOOD_LINE = json.dumps({"query": "q", "positive": "p"}).encode()


def write_jsonl(path: Path, lines: list[bytes]) -> Path:
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def json_lines(rows: list[dict]) -> list[bytes]:
    return [json.dumps(row, ensure_ascii=False).encode() for row in rows]


def test_source_name():
    assert source_name("data/msmarco.jsonl") == "msmarco"
    assert source_name(Path("a/nq.train.jsonl.gz")) == "nq.train"
    assert source_name("x/hotpot.parquet") == "hotpot"
    with pytest.raises(PairFormatError, match=r"notes\.txt: unsupported file type; supported: .jsonl, "):
        source_name("notes.txt")


@pytest.mark.parametrize("name", ["src.jsonl", "src.jsonl.gz"])
def test_jsonl_round_trip(tmp_path, name):
    lines = [*json_lines(ROWS[:1]), b"", b"   \t", *json_lines(ROWS[1:])]  # blank lines are not rows
    pairs, problems = read_pairs(write_jsonl(tmp_path / name, lines))
    assert pairs == PAIRS
    assert problems == []


def test_jsonl_extra_fields_crlf_and_bom_are_accepted(tmp_path):
    path = tmp_path / "src.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(json_lines([{**row, "id": 7} for row in ROWS])) + b"\r\n")
    assert read_pairs(path)[0] == PAIRS


def test_parquet_round_trip(tmp_path):
    table = pa.table({
        "query": [row["query"] for row in ROWS],
        "positive": [row["positive"] for row in ROWS],
        "negatives": pa.array([row.get("negatives", []) for row in ROWS], type=pa.list_(pa.string())),
        "extra": [1, 2, 3],
    })
    pq.write_table(table, tmp_path / "src.parquet")
    assert read_pairs(tmp_path / "src.parquet") == (PAIRS, [])


def test_parquet_without_negatives_column(tmp_path):
    pq.write_table(pa.table({"query": ["q1", "q2"], "positive": ["p1", "p2"]}), tmp_path / "s.parquet")
    assert read_pairs(tmp_path / "s.parquet")[0] == [Pair("q1", "p1"), Pair("q2", "p2")]


# (the bad third line of the file, the field the error names or None, a part of the reason)
BAD_LINES = [
    (b'{"query": "q", "positive": ', None, "not valid JSON"),
    (b'["q", "p"]', None, "row is a JSON list, expected an object"),
    (b'"just text"', None, "row is a JSON string"),
    (b'{"positive": "p"}', "query", "missing (row has fields: 'positive')"),
    (b'{"query": "q", "pos": "p"}', "positive", "missing (row has fields: 'query', 'pos')"),
    (b'{"query": 5, "positive": "p"}', "query", "expected a string, got number"),
    (b'{"query": null, "positive": "p"}', "query", "expected a string, got null"),
    (b'{"query": "q", "positive": ["p"]}', "positive", "expected a string, got list"),
    (b'{"query": "q", "positive": "p", "negatives": "n"}', "negatives", "list of strings, got string"),
    (b'{"query": "q", "positive": "p", "negatives": null}', "negatives", "list of strings, got null"),
    (b'{"query": "q", "positive": "p", "negatives": ["a", "b", 3]}', "negatives[2]", "got number"),
    (b'{"query": "q", "positive": "p", "negatives": ["a", " \\n "]}', "negatives[1]", "empty or whitespace"),
    (b'{"query": "   ", "positive": "p"}', "query", "empty or whitespace-only text"),
    (b'{"query": "q", "positive": ""}', "positive", "empty or whitespace-only text"),
    (b'{"query": "q", "positive": "caf\xe9"}', "positive", "not valid UTF-8 (byte 0xe9"),
    (b'{"query": "q", "positive": "p", "negatives": ["ok", "\xff"]}', "negatives[1]", "not valid UTF-8"),
    (b'{"query": \xff', None, "not valid UTF-8 (byte 0xff at byte 10"),
    (b'{"query": "\\ud800", "positive": "p"}', "query", "text holds a lone surrogate U+D800 at character 0"),
    (b'{"query": "q", "positive": "p", "negatives": ["ok", "x\\udc00"]}', "negatives[1]", "lone surrogate U+DC00"),
    (b'{"query": "q", "positive": "p\xed\xa0\x80"}', "positive", "not valid UTF-8 (byte 0xed"),
]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
@pytest.mark.parametrize(("bad", "field", "reason"), BAD_LINES)
def test_bad_jsonl_line_names_file_line_and_field(tmp_path, suffix, bad, field, reason):
    path = write_jsonl(tmp_path / f"src{suffix}", [GOOD_LINE, b"", bad, GOOD_LINE])
    with pytest.raises(PairFormatError) as info:
        read_pairs(path)
    err = info.value
    assert (err.path, err.line, err.field) == (str(path), 3, field)
    assert str(err).startswith(f"{path}:3: " + ("" if field is None else f"field '{field}': "))
    assert reason in str(err)


def test_error_message_format_and_pickling(tmp_path):
    path = write_jsonl(tmp_path / "src.jsonl", [GOOD_LINE, b"", b'{"query": "q", "positive": "  "}'])
    with pytest.raises(PairFormatError) as info:
        read_pairs(path)
    assert str(info.value) == f"{path}:3: field 'positive': empty or whitespace-only text"
    assert str(pickle.loads(pickle.dumps(info.value))) == str(info.value)


def test_skip_invalid_counts_every_skipped_row(tmp_path):
    lines = [GOOD_LINE, b"not json", GOOD_LINE, b'{"query": "", "positive": "p"}', b"", b'{"query": "q"}']
    pairs, problems = read_pairs(write_jsonl(tmp_path / "src.jsonl", lines), skip_invalid=True)
    assert pairs == [Pair("q", "p")] * 2
    assert len(problems) == 3
    assert [problem.split(": ")[0].rsplit(":", 1)[1] for problem in problems] == ["2", "4", "6"]
    assert "field 'query'" in problems[1] and "field 'positive'" in problems[2]


def test_corrupt_gzip(tmp_path):
    data = gzip.compress(b"".join(GOOD_LINE + b"\n" for _ in range(2000)))
    path = tmp_path / "src.jsonl.gz"
    path.write_bytes(data[: len(data) - 6])  # cut off the trailer
    with pytest.raises(PairFormatError, match=r"jsonl\.gz: corrupt or truncated gzip data after line 2000"):
        read_pairs(path)
    path.write_bytes(GOOD_LINE)  # not gzip at all
    with pytest.raises(PairFormatError, match="corrupt or truncated gzip data before the first line"):
        read_pairs(path, skip_invalid=True)  # a damaged file is never skipped


def test_parquet_missing_column_lists_present_columns(tmp_path):
    pq.write_table(pa.table({"query": ["q"], "text": ["p"]}), tmp_path / "s.parquet")
    with pytest.raises(PairFormatError) as info:
        read_pairs(tmp_path / "s.parquet")
    present = "(columns present: query, text)"
    assert str(info.value) == f"{tmp_path / 's.parquet'}: field 'positive': missing column {present}"


@pytest.mark.parametrize(("column", "values", "row", "field", "reason"), [
    ("query", ["q", None, "q"], 2, "query", "expected a string, got null"),
    ("positive", ["p", "p", " "], 3, "positive", "empty or whitespace-only text"),
    ("negatives", [["n"], None, []], 2, "negatives", "expected a list of strings, got null"),
    ("negatives", [["n"], ["n", None], []], 2, "negatives[1]", "expected a string, got null"),
    ("query", [1, 2, 3], 1, "query", "expected a string, got number"),
])
def test_bad_parquet_row_names_file_row_and_field(tmp_path, column, values, row, field, reason):
    columns = {"query": ["q"] * 3, "positive": ["p"] * 3, "negatives": [["n"]] * 3, column: values}
    pq.write_table(pa.table(columns), tmp_path / "s.parquet")
    with pytest.raises(PairFormatError) as info:
        read_pairs(tmp_path / "s.parquet")
    assert str(info.value) == f"{tmp_path / 's.parquet'}:{row}: field '{field}': {reason}"


def test_unreadable_parquet(tmp_path):
    (tmp_path / "s.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(PairFormatError, match=r"s\.parquet: not a readable Parquet file"):
        read_pairs(tmp_path / "s.parquet")


def test_load_sources_from_directory_and_glob(tmp_path):
    write_jsonl(tmp_path / "b.jsonl", json_lines(ROWS))
    write_jsonl(tmp_path / "a.jsonl.gz", json_lines(ROWS[:2]))
    pq.write_table(pa.table({"query": ["q"], "positive": ["p"]}), tmp_path / "c.parquet")
    (tmp_path / "README.md").write_text("not a source")
    sources = load_sources([tmp_path])
    assert [(s.name, s.path.name, len(s.pairs), s.skipped) for s in sources] == [
        ("a", "a.jsonl.gz", 2, []), ("b", "b.jsonl", 3, []), ("c", "c.parquet", 1, []),
    ]
    assert [s.name for s in load_sources([str(tmp_path / "*.jsonl*")])] == ["a", "b"]
    assert [s.name for s in load_sources([tmp_path / "c.parquet", tmp_path / "b.jsonl"])] == ["c", "b"]


def test_load_sources_errors(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    write_jsonl(tmp_path / "one" / "nq.jsonl", json_lines(ROWS))
    pq.write_table(pa.table({"query": ["q"], "positive": ["p"]}), tmp_path / "two" / "nq.parquet")
    with pytest.raises(ValueError, match=r"both named 'nq': .*one/nq\.jsonl and .*two/nq\.parquet"):
        load_sources([tmp_path / "one", tmp_path / "two"])
    with pytest.raises(ValueError, match="no such file or directory"):
        load_sources([tmp_path / "missing.jsonl"])
    with pytest.raises(ValueError, match="matches no files"):
        load_sources([str(tmp_path / "*.parquet")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no source files"):
        load_sources([tmp_path / "empty"])
    with pytest.raises(TypeError, match="wrap a single path in a list"):
        load_sources(str(tmp_path / "one"))


def test_load_sources_rejects_empty_sources(tmp_path):
    write_jsonl(tmp_path / "blank.jsonl", [b"", b"  "])
    with pytest.raises(ValueError, match=r"source 'blank' .* is empty: no rows"):
        load_sources([tmp_path / "blank.jsonl"])
    write_jsonl(tmp_path / "bad.jsonl", [b"{}", b"[]"])
    with pytest.raises(ValueError, match=r"'bad' .* is empty: all 2 rows were skipped; first: .*:1:"):
        load_sources([tmp_path / "bad.jsonl"], skip_invalid=True)
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [b"{}", GOOD_LINE])
    (source,) = load_sources([mixed], skip_invalid=True)
    assert source.pairs == [Pair("q", "p")]
    assert source.skipped == [f"{mixed}:1: field 'query': missing (row has fields: none)"]


def test_lone_surrogates_are_bad_rows_or_counted_skips(tmp_path):
    lines = [GOOD_LINE, b'{"query": "\\ud83d is half a pair", "positive": "p"}', GOOD_LINE]
    path = write_jsonl(tmp_path / "src.jsonl", lines)
    with pytest.raises(PairFormatError, match=r"src\.jsonl:2: field 'query': text holds a lone surrogate U\+D83D"):
        read_pairs(path)
    pairs, problems = read_pairs(path, skip_invalid=True)
    assert pairs == [Pair("q", "p")] * 2 and len(problems) == 1 and ":2: field 'query'" in problems[0]


def test_parquet_text_that_is_not_utf8_names_row_and_field(tmp_path):
    negatives = pa.ListArray.from_arrays(pa.array([0, 1, 2, 4], pa.int32()),
                                         strings_with_raw_bytes([b"n", b"n", b"n", b"\xed\xa0\x80"]))
    table = pa.table({"query": strings_with_raw_bytes([b"q", b"q\xff", b"q"]), "positive": ["p"] * 3,
                      "negatives": negatives})
    pq.write_table(table, tmp_path / "s.parquet")
    with pytest.raises(PairFormatError) as info:
        read_pairs(tmp_path / "s.parquet")
    assert str(info.value) == f"{tmp_path / 's.parquet'}:2: field 'query': not valid UTF-8 (byte 0xff at byte 1)"
    pairs, problems = read_pairs(tmp_path / "s.parquet", skip_invalid=True)
    assert pairs == [Pair("q", "p", ("n",))]
    assert [problem.split(": field ")[1] for problem in problems] == [
        "'query': not valid UTF-8 (byte 0xff at byte 1)", "'negatives[1]': not valid UTF-8 (byte 0xed at byte 0)"]
