"""The gtekit command: the root parser lists every command module, and errors are messages, not tracebacks."""

from __future__ import annotations

from gtekit.cli.main import main

from .conftest import assert_help_explains_every_option, command_parser

COMMANDS = ["data", "train", "plot", "mine", "run", "adapt", "serve", "encode", "index", "search", "export", "eval",
            "merge", "card", "convert", "quickstart"]


def test_help_explains_every_option(capsys):
    text = assert_help_explains_every_option(capsys=capsys)
    assert "gtekit eval all-MiniLM-L6-v2 --tasks STSBenchmark -o results.json" in text


def test_every_command_has_its_module_in_the_order_help_lists_them():
    assert list(command_parser()._subparsers._group_actions[0].choices) == COMMANDS


def test_an_error_is_a_message_with_exit_status_2(tmp_path, capsys):
    assert main(["eval", "some-model", "--tasks", ""]) == 2
    error = capsys.readouterr().err
    assert error.startswith("gtekit eval: error: nothing to evaluate") and "Traceback" not in error
