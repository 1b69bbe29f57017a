"""The one YAML loader: files, overrides, dataclasses with enumerated options, plain values back, path matching."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import pytest
import yaml

from gtekit.config import ConfigError, Recipe, from_dict, load_recipe, matches_path, parse_choice, plain_dict, read_yaml


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Inner:
    colour: Colour = Colour.RED
    shades: list[str] = field(default_factory=list)


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    colour: Colour | None = None
    count: int = 1


def test_read_yaml_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"mixture file .*missing\.yaml does not exist"):
        read_yaml(tmp_path / "missing.yaml", "mixture")
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match=r"(?s)broken\.yaml: not valid YAML: .*line 1, column 4"):
        read_yaml(broken)
    (tmp_path / "empty.yaml").write_text("")
    assert read_yaml(tmp_path / "empty.yaml") is None


def test_read_yaml_is_safe(tmp_path):
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("a: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(unsafe)


def test_from_dict_converts_enumerated_options_at_every_depth():
    built = from_dict(Outer, {"inner": {"colour": "blue"}, "colour": "red"}, where="f.yaml")
    assert built.inner.colour is Colour.BLUE and built.colour is Colour.RED
    assert from_dict(Outer, {"colour": None}).colour is None


@pytest.mark.parametrize(("data", "message"), [
    ({"inner": {"colour": "green"}}, "f.yaml: inner.colour: unknown value 'green'; valid: red, blue"),
    ({"colour": 3}, r"f.yaml: colour: expected str, got 3 \(int\)"),
    ({"inner": {"hue": 1}}, "f.yaml: unknown key 'inner.hue'; valid keys in 'inner': colour, shades"),
    ({"count": "two"}, "f.yaml: count: expected int, got 'two' \\(str\\)"),
    ({"inner": {"shades": ["a", 1]}}, r"f.yaml: inner.shades\[1\]: expected str, got 1"),
    ({"inner": 5}, "f.yaml: inner must be a mapping, got 5"),
])
def test_from_dict_errors_name_the_file_and_the_field_once(data, message):
    with pytest.raises(ConfigError, match=message) as caught:
        from_dict(Outer, data, where="f.yaml")
    assert str(caught.value).count("f.yaml") == 1


def test_parse_choice_names_the_key_and_lists_the_values():
    assert parse_choice("x", "blue", Colour) is Colour.BLUE
    assert parse_choice("x", Colour.RED, Colour) is Colour.RED
    with pytest.raises(ConfigError, match="source 'a': unknown kind 'pink'; valid: red, blue"):
        parse_choice("source 'a'", "pink", Colour, "kind")
    with pytest.raises(ConfigError, match=r"unknown value \['red'\]"):
        parse_choice("x", ["red"], Colour)


def test_plain_dict_writes_members_as_their_strings():
    values = plain_dict(Outer(colour=Colour.BLUE))
    assert values == {"inner": {"colour": "red", "shades": []}, "colour": "blue", "count": 1}
    assert type(values["colour"]) is str and type(values["inner"]["colour"]) is str
    assert yaml.safe_dump(values) == "colour: blue\ncount: 1\ninner:\n  colour: red\n  shades: []\n"


def test_a_recipe_dumps_to_the_same_yaml_as_its_plain_strings():
    recipe = load_recipe(None, ["loss.name=infonce", "model.pooling=cls", "train.recompute=selective"])
    plain = recipe.to_dict()
    assert plain["loss"]["name"] == "infonce" and type(plain["loss"]["name"]) is str
    assert type(plain["model"]["pooling"]) is str and type(plain["train"]["recompute"]) is str
    assert from_dict(Recipe, yaml.safe_load(yaml.safe_dump(plain))) == recipe  # a round trip


def test_matches_path_reads_files_folders_and_globs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.jsonl").write_text("")
    assert matches_path("data") and matches_path("data/a.jsonl") and matches_path("data/*.jsonl")
    assert not matches_path("data/*.parquet") and not matches_path("nothing.jsonl")
