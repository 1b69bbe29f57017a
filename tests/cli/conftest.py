"""What every command's help must do: exit 0 and explain each of its options, naming every flag."""

from __future__ import annotations

import pytest

from gtekit.cli.main import build_parser, main


def command_parser(*path: str):
    """The parser of ``gtekit PATH...`` (e.g. ``"data", "build"``); the root parser for no path."""
    parser = build_parser()
    for name in path:
        parser = parser._subparsers._group_actions[0].choices[name]
    return parser


def help_text(*path: str, capsys) -> str:
    """What ``gtekit PATH... --help`` prints, after checking that it exits with status 0."""
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def assert_help_explains_every_option(*path: str, capsys) -> str:
    """Every option of ``gtekit PATH...`` has help and every flag appears in its --help; returns the help text."""
    text = help_text(*path, capsys=capsys)
    for action in command_parser(*path)._actions:
        assert action.help, f"option {action.option_strings or action.dest} of {' '.join(path)} has no help"
        for flag in action.option_strings:
            assert flag in text
    return text


# the fixtures of the data commands' tests, shared with tests/data/
from tests.data.conftest import packages  # noqa: E402, F401
from tests.data.extract.conftest import mine_cli, read_rows, write_tree  # noqa: E402, F401
