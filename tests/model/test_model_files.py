"""The model folder's own settings file (gtekit_config.json): read with errors that name the file."""

from __future__ import annotations

import json

import pytest

from gtekit.model.model_files import GTEKIT_CONFIG, read_settings


def test_an_unknown_key_names_the_file_the_key_and_the_valid_keys(tmp_path):
    (tmp_path / GTEKIT_CONFIG).write_text(json.dumps({"pooling": "mean", "poolling": "cls"}))
    with pytest.raises(ValueError, match=rf"{GTEKIT_CONFIG}: unknown key 'poolling'; valid keys: pooling, "
                                         r"normalize, max_seq_length"):
        read_settings(tmp_path)


@pytest.mark.parametrize(("text", "message"), [
    ("{\"pooling\": ", "not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
])
def test_a_broken_settings_file_is_named(tmp_path, text, message):
    (tmp_path / GTEKIT_CONFIG).write_text(text)
    with pytest.raises(ValueError, match=rf"{GTEKIT_CONFIG}: {message}"):
        read_settings(tmp_path)


def test_known_keys_load(tmp_path):
    (tmp_path / GTEKIT_CONFIG).write_text(json.dumps({"pooling": "cls", "max_seq_length": 64}))
    settings = read_settings(tmp_path)
    assert settings.pooling == "cls" and settings.max_seq_length == 64 and settings.normalize


def test_the_matryoshka_dims_are_read_and_a_folder_without_them_has_none(tmp_path):
    old = {"pooling": "mean", "normalize": True, "max_seq_length": 64, "query_prefix": "", "document_prefix": "",
           "delimiters": False}  # what gtekit wrote before it recorded the trained truncations
    (tmp_path / GTEKIT_CONFIG).write_text(json.dumps(old))
    assert read_settings(tmp_path).matryoshka_dims == []
    (tmp_path / GTEKIT_CONFIG).write_text(json.dumps({**old, "matryoshka_dims": [32, 16]}))
    assert read_settings(tmp_path).matryoshka_dims == [32, 16]
