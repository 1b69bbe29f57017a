"""``make claims``: every number of a measured table in README.md (and docs/) is in a committed results file.

A Markdown table is announced by an HTML comment on one of the three lines above it::

    <!-- results: docs/results/quickstart.json benchmarks/results/encode-bench-X.json -->
    <!-- results: none (settings, not measurements) -->

The first form names the results files (committed, relative to the repository root) that the
command producing the table wrote; the second says the table holds no measurement. Every number in
a measured table's cells, except the first column (row labels such as "10^5 pairs"), must appear in
one of its files, as shown: ``82.03`` matches a value v with round(v, 2) = 82.03 or round(100 v, 2) =
82.03 (scores and shares are stored as fractions), ``3,178`` matches 3178, ``+6.70`` matches 6.7.
A file's values are its numeric leaves, the numbers written inside its strings (a rendered table),
and, for evaluation results (a list of ``{"model", "tasks"}`` anywhere in it), the table gtekit's
own ``format_table`` renders from them, averages included.

In README.md every table with a number outside its first column needs a comment; in docs/ only
announced tables are checked. Exit status 1 lists each number not found, with file and line.

    python -m benchmarks.claims                 # README.md and docs/*.md of this checkout
    python -m benchmarks.claims --root DIR README.md
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

MARKER = re.compile(r"<!--\s*results:\s*(.*?)\s*-->")
NUMBER = re.compile(r"(?<![\w.^])[-+−]?\d[\d,]*(?:\.\d+)?(?![\w^])")
LOOKBACK = 3  # lines between a marker and its table
SCALES = (1.0, 100.0)


@dataclass
class Table:
    document: Path
    line: int  # 1-based line of the header row
    rows: list[tuple[int, list[str]]]  # (line, cells) of the body rows
    marker: str | None  # the text after "results:", None without a comment


@dataclass
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def tables_of(document: Path) -> list[Table]:
    """The Markdown tables of ``document`` with the results comment announcing each, if any."""
    lines = document.read_text(encoding="utf-8").splitlines()
    tables, index = [], 0
    while index < len(lines):
        is_table = (lines[index].startswith("|") and index + 1 < len(lines)
                    and re.match(r"^\|[\s:|-]+\|\s*$", lines[index + 1]))
        if not is_table:
            index += 1
            continue
        start = index
        marker = None
        for back in range(1, LOOKBACK + 1):
            found = MARKER.search(lines[start - back]) if start - back >= 0 else None
            if found:
                marker = found.group(1)
                break
        index += 2
        rows = []
        while index < len(lines) and lines[index].startswith("|"):
            rows.append((index + 1, [cell.strip() for cell in lines[index].strip().strip("|").split("|")]))
            index += 1
        tables.append(Table(document, start + 1, rows, marker))
    return tables


def numbers_in(text: str) -> list[str]:
    """The number tokens of ``text`` as written (``1,218``, ``+6.70``, ``0.98``); none inside words like AVX2."""
    return NUMBER.findall(text.replace("**", ""))


def _value(token: str) -> tuple[float, int]:
    """(value, decimals) of a token as written."""
    token = token.replace(",", "").replace("−", "-").lstrip("+")
    decimals = len(token.split(".")[1]) if "." in token else 0
    return float(token), decimals


class ResultsFile:
    """The values one results file holds (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        data = json.loads(path.read_text(encoding="utf-8"))
        self.values: list[float] = []
        self.tokens: set[str] = set()
        self._collect(data)

    def _collect(self, node) -> None:
        if isinstance(node, bool) or node is None:
            return
        if isinstance(node, int | float):
            if math.isfinite(node):
                self.values.append(float(node))
        elif isinstance(node, str):
            self._strings(node)
        elif isinstance(node, dict):
            for value in node.values():
                self._collect(value)
        elif isinstance(node, list):
            for value in node:
                self._collect(value)
            if _is_evaluation_results(node):
                from gtekit.evaluation.results_report import format_table

                self._strings(format_table(node))

    def _strings(self, text: str) -> None:
        for token in numbers_in(text):
            value, decimals = _value(token)
            self.tokens.add(f"{value:.{decimals}f}")

    def holds(self, token: str) -> bool:
        value, decimals = _value(token)
        shown = f"{value:.{decimals}f}"
        if shown in self.tokens:
            return True
        half = 0.5 * 10 ** -decimals + 1e-9
        return any(abs(v * scale - value) <= half for v in self.values for scale in SCALES)


def _is_evaluation_results(data) -> bool:
    return isinstance(data, list) and bool(data) and all(isinstance(r, dict) and "tasks" in r and "model" in r
                                                         for r in data)


def check_document(document: Path, root: Path, *, every_table: bool) -> tuple[list[Problem], int]:
    """Problems of one document, and how many numbers were checked."""
    problems: list[Problem] = []
    checked = 0
    cache: dict[Path, ResultsFile] = {}
    name = document.relative_to(root) if document.is_relative_to(root) else document
    for table in tables_of(document):
        where = f"{name}:{table.line}"
        numbered = [(line, token) for line, cells in table.rows for cell in cells[1:] for token in numbers_in(cell)]
        if table.marker is None:
            if every_table and numbered:
                problems.append(Problem(where, "a table with numbers but no '<!-- results: FILE -->' comment "
                                               "(or '<!-- results: none (why) -->') on the lines above it"))
            continue
        if table.marker.startswith("none"):
            continue
        files = []
        for relative in table.marker.split():
            path = root / relative
            if not path.is_file():
                problems.append(Problem(where, f"results file {relative} does not exist"))
                continue
            if path not in cache:
                cache[path] = ResultsFile(path)
            files.append(cache[path])
        if not files:
            continue
        for line, token in numbered:
            checked += 1
            if not any(results.holds(token) for results in files):
                problems.append(Problem(f"{name}:{line}", f"{token} is in none of {table.marker}"))
    return problems, checked


def check(root: Path, documents: list[Path] | None = None) -> tuple[list[Problem], int]:
    """README.md (every table) and docs/*.md (announced tables) under ``root``, or the given documents."""
    if documents is None:
        documents = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    problems: list[Problem] = []
    checked = 0
    for document in documents:
        found, count = check_document(document, root, every_table=document.name == "README.md")
        problems += found
        checked += count
    return problems, checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.claims", description=__doc__.split("\n\n")[0])
    parser.add_argument("documents", nargs="*", type=Path, help="Markdown files (default: README.md, docs/*.md)")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the repository root that results paths are relative to")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    documents = [path.resolve() for path in args.documents] or None
    problems, checked = check(root, documents)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"claims: {len(problems)} problem(s); {checked} numbers checked", file=sys.stderr)
        return 1
    print(f"claims: {checked} numbers in measured tables, each found in its committed results file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
