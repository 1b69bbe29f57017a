"""`gtekit convert`: help. The conversion itself is tested in tests/model/test_onnx_import.py."""

from __future__ import annotations

from .conftest import assert_help_explains_every_option


def test_help_explains_every_option(capsys):
    text = assert_help_explains_every_option("convert", capsys=capsys)
    assert "needs `pip install onnx`" in text
