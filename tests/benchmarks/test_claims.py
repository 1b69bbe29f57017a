"""make claims: README numbers against the committed results files, and what happens when one is edited by hand."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.claims import ResultsFile, check, numbers_in, tables_of

ROOT = Path(__file__).resolve().parents[2]

TABLE = """Some text.

<!-- results: results.json -->
| task | base | trained | change |
|---|---:|---:|---:|
| STS-B 2 | 82.03 | 1,218 | +6.70 |
"""


@pytest.fixture
def tiny(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"sts": {"base": 0.8203, "trained": 1218, "change": 0.067}}))
    (tmp_path / "README.md").write_text(TABLE)
    return tmp_path


def test_numbers_as_written_and_not_inside_words():
    assert numbers_in("1.08 / 1.53, +6.70, 1,218 ms, AVX2, 10^5, **66.55**") == ["1.08", "1.53", "+6.70", "1,218",
                                                                             "66.55"]


def test_a_table_whose_numbers_are_in_its_file_passes(tiny):
    problems, checked = check(tiny)
    assert problems == [] and checked == 3  # the first column ("STS-B 2") is a label


def test_a_number_changed_by_hand_fails_naming_the_line(tiny):
    readme = tiny / "README.md"
    readme.write_text(readme.read_text().replace("82.03", "82.30"))
    problems, _ = check(tiny)
    assert [str(p) for p in problems] == ["README.md:6: 82.30 is in none of results.json"]


def test_a_readme_table_without_a_comment_fails_and_none_skips(tiny):
    readme = tiny / "README.md"
    readme.write_text(TABLE.replace("<!-- results: results.json -->\n", ""))
    (problem,) = check(tiny)[0]
    assert "README.md:3" in str(problem) and "no '<!-- results: FILE -->' comment" in str(problem)
    readme.write_text(TABLE.replace("results.json -->", "none (settings) -->"))
    assert check(tiny) == ([], 0)


def test_a_missing_results_file_fails(tiny):
    (tiny / "results.json").unlink()
    (problem,) = check(tiny)[0]
    assert "results file results.json does not exist" in str(problem)


def test_the_repository_readme_and_docs_pass():
    problems, checked = check(ROOT)
    assert problems == [], "\n".join(map(str, problems))
    assert checked > 100


def test_changing_any_measured_table_of_the_readme_by_hand_fails(tmp_path):
    """The first number of every measured README table, edited by hand into a value none of its files
    holds, is caught at its line."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copytree(ROOT / "benchmarks" / "results", tmp_path / "benchmarks" / "results")
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    measured = [table for table in tables_of(ROOT / "README.md")
                if table.marker and not table.marker.startswith("none")]
    assert len(measured) >= 6
    for table in measured:
        files = [ResultsFile(ROOT / name) for name in table.marker.split()]
        line, column, token = next((line, column, numbers_in(cell)[0]) for line, cells in table.rows
                                   for column, cell in enumerate(cells) if column > 0 and numbers_in(cell))
        edit = next(edit for edit in _edits(token) if not any(f.holds(edit) for f in files))
        cells = lines[line - 1].split("|")  # cells[0] is the text before the first bar
        cells[column + 1] = cells[column + 1].replace(token, edit, 1)
        edited = [*lines[:line - 1], "|".join(cells), *lines[line:]]
        (tmp_path / "README.md").write_text("\n".join(edited), encoding="utf-8")
        problems, _ = check(tmp_path, [tmp_path / "README.md"])
        assert any(f"README.md:{line}: {edit} is in none" in str(p) for p in problems), \
            f"{token} -> {edit} at README.md:{line} went unnoticed"


def _edits(token: str):
    """The token with its last digit replaced, e.g. 82.03 -> 82.00, 82.01, ..."""
    for digit in "0123456789":
        if digit != token[-1]:
            yield token[:-1] + digit
