"""`gtekit encode` through the root command: text and JSONL inputs into one .npy, and a bad input row as a message.
The shards, resuming and worker processes are tested in tests/encode/test_encode_files.py."""

from __future__ import annotations

import json

import numpy as np

from gtekit.cli.main import main

from .conftest import assert_help_explains_every_option


def test_help_explains_every_option(capsys):
    assert_help_explains_every_option("encode", capsys=capsys)


def test_encode_text_and_jsonl(tiny_model_dir, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("first text\nsecond text\nthird\n")
    assert main(["encode", str(tiny_model_dir), str(texts), "-o", str(tmp_path / "a.npy")]) == 0
    a = np.load(tmp_path / "a.npy")
    assert a.shape == (3, 32)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(json.dumps({"body": t}) for t in ["first text", "second text", "third"]))
    assert main(["encode", str(tiny_model_dir), str(rows), "--field", "body", "-o", str(tmp_path / "b.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "b.npy"), a, atol=1e-6)


def test_bad_input_is_a_clear_error_not_a_traceback(tiny_model_dir, tmp_path, capsys):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "ok"}\n{"text": \n')
    assert main(["encode", str(tiny_model_dir), str(rows), "-o", str(tmp_path / "x.npy")]) == 2
    assert f"{rows}:2: invalid JSON" in capsys.readouterr().err
    assert not (tmp_path / "x.npy").exists()


def test_contradicting_options_are_refused_before_the_model_loads(tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("a text\n")
    assert main(["encode", "no-such-model", str(texts), "-o", str(tmp_path / "x.npy"), "--bf16",
                 "--precision", "int8"]) == 2
    assert "--bf16 contradicts --precision int8" in capsys.readouterr().err
    assert main(["encode", "no-such-model", str(texts), "-o", str(tmp_path / "x.npy"), "--skip-invalid"]) == 2
    assert "a .npy array has no ids" in capsys.readouterr().err
