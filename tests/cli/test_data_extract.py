"""`gtekit data extract` (and its older name `gtekit data mine`): help for every option, the python kind, files the
trainer reads, errors without output."""

from __future__ import annotations

import pytest

from gtekit.cli.data_extract import KINDS
from gtekit.cli.main import build_parser, main
from gtekit.data.extract.base import MinedPair
from gtekit.data.extract.python_code import is_held_out, mine_python
from gtekit.data.pairs import read_pairs

PACKAGE = {
    "json_tools/__init__.py": '"""Tools."""\n',
    "json_tools/core.py": 'def load(text):\n    """Parse a JSON document into objects."""\n    return parse(text)\n',
    "os_tools/paths.py": 'def join(a, b):\n    """Join two path parts with a slash."""\n    return a + "/" + b\n\n'
                         'def short():\n    """Too short."""\n    return 1\n',
    "os_tools/tests/test_paths.py": 'def test_join():\n    """Check that join adds a slash."""\n    assert 1\n',
}


@pytest.mark.parametrize("name", ["extract", "mine"])  # mine: the command's older name, still accepted
def test_help_explains_every_option(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", name, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    data = build_parser()._subparsers._group_actions[0].choices["data"]
    extract = data._subparsers._group_actions[0].choices[name]
    for action in extract._actions:
        assert action.help, f"option {action.option_strings or action.dest} has no help"
        for flag in action.option_strings:
            assert flag in text
    for kind in KINDS:
        assert f"gtekit data extract {kind} " in text  # an example for every kind


def test_python_kind_splits_by_top_level_module(tmp_path, write_tree, mine_cli, read_rows):
    root = write_tree(tmp_path / "src", PACKAGE)
    pairs, report = mine_python([root])
    assert pairs == [MinedPair("Parse a JSON document into objects.", "def load(text):\n    return parse(text)",
                               "json_tools"),
                     MinedPair("Join two path parts with a slash.", 'def join(a, b):\n    return a + "/" + b',
                               "os_tools")]
    assert dict(report.skipped) == {"docstring too short": 1,
                                    "Python file outside the module tree or in a skipped folder": 1}
    code, output, out = mine_cli("python", str(root), "--held-out", "0.3", "--name", "tools")
    assert code == 0, output
    held = read_rows(out / "held-out" / "tools.jsonl")
    # the same rule as the Python miner's own split: a SHA-1 draw of the top-level module
    assert [row["doc_id"] for row in held] == [m for m in ("json_tools", "os_tools") if is_held_out(m, 0.3)]
    assert len(read_rows(out / "tools.jsonl")) + len(held) == 2


def test_written_files_are_training_sources(tmp_path, write_tree, mine_cli):
    root = write_tree(tmp_path / "src", PACKAGE)
    code, _, out = mine_cli("python", str(root), "--min-doc-words", "2")
    assert code == 0
    pairs, problems = read_pairs(out / "python.jsonl")  # the doc_id field is ignored by the trainer's reader
    assert [pair.query for pair in pairs] == ["Parse a JSON document into objects.",
                                              "Join two path parts with a slash.", "Too short."]
    assert problems == []
    assert sorted(path.name for path in out.iterdir()) == ["python.jsonl"]  # no temporary file left behind


def test_errors_write_nothing(tmp_path, write_tree, mine_cli):
    root = write_tree(tmp_path / "src", {"notes.txt": "No code here.\n"})
    code, output, out = mine_cli("javascript", str(root))
    assert code == 2 and "no pairs mined" in output and "1  not a JavaScript/TypeScript file" in output
    assert not out.exists()
    code, output, _ = mine_cli("python", str(root / "notes.txt"))
    assert code == 2 and "takes folders" in output
    code, output, _ = mine_cli("qa", str(tmp_path / "missing"))
    assert code == 2 and "no such file or folder" in output
    code, output, _ = mine_cli("qa", str(root), "--name", "bad/name")
    assert code == 2 and "--name" in output
