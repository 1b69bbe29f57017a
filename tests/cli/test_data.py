"""`gtekit data`: the group lists extract, build and stats; `data mine` is still `data extract`. The commands
themselves are tested in tests/cli/test_data_build.py and tests/cli/test_data_extract.py."""

from __future__ import annotations

from .conftest import assert_help_explains_every_option, command_parser, help_text


def test_help_lists_the_data_commands(capsys):
    text = assert_help_explains_every_option("data", capsys=capsys)
    assert "extract (mine)" in text and "build" in text and "stats" in text


def test_mine_is_the_older_name_of_extract(capsys):
    commands = command_parser("data")._subparsers._group_actions[0].choices
    assert commands["mine"] is commands["extract"]
    assert help_text("data", "mine", capsys=capsys) == help_text("data", "extract", capsys=capsys)
