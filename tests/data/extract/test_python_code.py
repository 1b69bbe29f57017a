"""(docstring, code) mining: exact pairs from a small package, report counts, the module split, the stdlib."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gtekit.data.extract.python_code import (
    CodePair,
    is_held_out,
    iter_python_files,
    mine_python_pairs,
    split_by_module,
    stdlib_root,
    to_training_rows,
    top_level_module,
)

CORE = '''\
"""Module docstring: never a pair."""
import functools


def add_numbers(x, y):
    """Add two numbers together and return the sum."""
    total = x + y
    return total


async def fetch_data(url):
    """Fetch the data from the given url.

    Waits for the answer.
    """
    return await get(url)


@functools.lru_cache(maxsize=None)
def cached_square(n):
    """Return the square of n, cached."""
    return n * n


def outer():
    """Outer function with a nested helper."""
    def inner():
        """Inner helper function is not mined."""
        return 1
    return inner()


def _private_helper():
    """This private helper is skipped."""
    return 2


def no_docstring():
    return 3


def short_doc():
    """Too short."""
    return 4


def stub():
    """Only a docstring and pass here."""
    pass


def ellipsis_stub():
    """Only a docstring and an ellipsis."""
    ...


class Greeter:
    """Greets people by their name politely."""

    def __init__(self, name):
        """Store the name for later greetings."""
        self.name = name

    def greet(self):
        """Return a greeting for the stored name."""
        return f"Hello, {self.name}"

    def describe(self):
        """Describe the café menu, naïvely."""
        return """menu:
  tea
coffee"""

    def _secret(self):
        """Private method is never mined here."""
        return 0


class _Hidden:
    """A private class with a public method."""

    def visible(self):
        """Public method of a private class."""
        return 1


if True:
    def conditional():
        """Defined inside an if block at top level."""
        return 5
'''

DUPLICATE = '''\
def add_numbers(x, y):
    """Add two numbers together and return the sum."""
    total = x + y
    return total
'''

OTHER = '''\
def shout(text):
    """Return the text in upper case."""
    return text.upper()
'''


@pytest.fixture
def package(tmp_path: Path) -> Path:
    files = {
        "other.py": OTHER,
        "pkg/__init__.py": '"""Package docstring."""\n',
        "pkg/core.py": CORE,
        "pkg/broken.py": 'def broken(:\n    """Cannot be parsed at all."""\n',
        "pkg/sub/__init__.py": "",
        "pkg/sub/dup.py": DUPLICATE,
        "pkg/tests/test_core.py": OTHER.replace("shout", "shout_in_test"),
        "not-a-package/script.py": OTHER.replace("shout", "shout_in_script"),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    crlf = 'def windows_line_endings(a):\r\n    """Read a file written on Windows."""\r\n    return a\r\n'
    (tmp_path / "pkg" / "windows.py").write_bytes(crlf.encode())
    return tmp_path


def test_iter_python_files_names_modules_and_skips(package: Path) -> None:
    found = [(module, path.relative_to(package).as_posix()) for module, path in iter_python_files(package)]
    assert found == [
        ("other", "other.py"),
        ("pkg", "pkg/__init__.py"),
        ("pkg.broken", "pkg/broken.py"),
        ("pkg.core", "pkg/core.py"),
        ("pkg.sub", "pkg/sub/__init__.py"),
        ("pkg.sub.dup", "pkg/sub/dup.py"),
        ("pkg.windows", "pkg/windows.py"),
    ]


def test_mined_pairs_are_exact(package: Path) -> None:
    pairs, report = mine_python_pairs(package)
    got = [(p.module, p.name, p.line, p.docstring, p.code) for p in pairs]
    expected = [
        ("other", "shout", 1, "Return the text in upper case.", "def shout(text):\n    return text.upper()"),
        ("pkg.core", "add_numbers", 5, "Add two numbers together and return the sum.",
         "def add_numbers(x, y):\n    total = x + y\n    return total"),
        ("pkg.core", "fetch_data", 11, "Fetch the data from the given url.\n\nWaits for the answer.",
         "async def fetch_data(url):\n    return await get(url)"),
        ("pkg.core", "cached_square", 20, "Return the square of n, cached.",
         "def cached_square(n):\n    return n * n"),
        ("pkg.core", "outer", 25, "Outer function with a nested helper.",
         'def outer():\n    def inner():\n        """Inner helper function is not mined."""\n'
         "        return 1\n    return inner()"),
        ("pkg.core", "Greeter", 57, "Greets people by their name politely.", None),
        ("pkg.core", "Greeter.greet", 64, "Return a greeting for the stored name.",
         'def greet(self):\n    return f"Hello, {self.name}"'),
        ("pkg.core", "Greeter.describe", 68, "Describe the café menu, naïvely.",
         'def describe(self):\n    return """menu:\n  tea\ncoffee"""'),
        ("pkg.core", "conditional", 88, "Defined inside an if block at top level.",
         "def conditional():\n    return 5"),
        ("pkg.windows", "windows_line_endings", 1, "Read a file written on Windows.",
         "def windows_line_endings(a):\n    return a"),
    ]
    assert [row[:4] for row in got] == [row[:4] for row in expected]
    for row, want in zip(got, expected, strict=True):
        if want[4] is not None:
            assert row[4] == want[4], row[1]
    greeter = pairs[5].code
    assert greeter.startswith("class Greeter:\n\n    def __init__(self, name):\n")
    assert "def _secret(self):" in greeter  # a class's code is its whole body, private methods included
    for pair in pairs:
        assert pair.docstring not in pair.code
        assert pair.path.endswith(".py")
        ast.parse(pair.code)

    assert report.files_seen == 7
    assert [(Path(path).name, reason.split(":")[0]) for path, reason in report.files_failed] == [
        ("broken.py", "SyntaxError")]
    assert (report.functions, report.classes) == (9, 1)
    assert report.too_short_docstring == 1  # short_doc
    assert report.empty_body == 2  # stub, ellipsis_stub
    assert report.too_long == 0
    assert report.duplicates == 1  # pkg.sub.dup.add_numbers


def test_mining_options(package: Path) -> None:
    pairs, _ = mine_python_pairs(package, include_classes=False)
    assert "Greeter" not in {p.name for p in pairs}
    pairs, report = mine_python_pairs(package, max_code_chars=45)
    assert {p.name for p in pairs} == {"shout", "cached_square", "conditional", "windows_line_endings"}
    assert all(len(p.code) <= 45 for p in pairs)
    # add_numbers (both copies: length is checked before duplicates), fetch_data, outer, Greeter,
    # Greeter.greet, Greeter.describe
    assert report.too_long == 7 and report.duplicates == 0
    pairs, report = mine_python_pairs(package, min_doc_words=7)
    assert {p.name for p in pairs} == {"add_numbers", "fetch_data", "Greeter.greet", "conditional"}
    with pytest.raises(ValueError, match="min_doc_words"):
        mine_python_pairs(package, min_doc_words=0)


def test_mining_is_deterministic(package: Path) -> None:
    assert mine_python_pairs(package)[0] == mine_python_pairs(package)[0]


def _pair(module: str) -> CodePair:
    return CodePair(module=module, name="f", docstring="Do a thing well.", code="def f():\n    return 1",
                    path="x.py", line=1)


def test_split_keeps_each_top_level_package_on_one_side() -> None:
    pairs = [_pair(f"package{i}.module{j}") for i in range(300) for j in range(4)] + [_pair("json")]
    train, held_out = split_by_module(pairs, fraction=0.1)
    assert len(train) + len(held_out) == len(pairs)
    train_tops = {top_level_module(p.module) for p in train}
    held_tops = {top_level_module(p.module) for p in held_out}
    assert not train_tops & held_tops
    assert 0.05 < len(held_tops) / 301 < 0.15
    assert split_by_module(pairs, fraction=0.1) == (train, held_out)
    assert [p for p in pairs if p in held_out] == held_out  # order is kept


def test_held_out_choice_is_fixed_across_runs_and_machines() -> None:
    # SHA-1 of the name as a number in [0, 1): json 0.0228, typing 0.0111, os 0.6000, email 0.6584
    assert is_held_out("json.decoder") and is_held_out("typing")
    assert not is_held_out("os") and not is_held_out("email.mime.text")
    assert is_held_out("os", fraction=0.61) and not is_held_out("os", fraction=0.6)
    assert not is_held_out("json", fraction=0.0) and is_held_out("email", fraction=1.0)
    assert top_level_module("json.decoder") == "json" and top_level_module("os") == "os"
    with pytest.raises(ValueError, match="fraction"):
        is_held_out("os", fraction=1.5)


def test_training_rows() -> None:
    rows = to_training_rows([_pair("a")])
    assert rows == [{"query": "Do a thing well.", "positive": "def f():\n    return 1"}]


@pytest.fixture(scope="module")
def stdlib_pairs() -> tuple[list[CodePair], object]:
    return mine_python_pairs(stdlib_root())


def test_stdlib_gives_thousands_of_pairs_and_a_clean_split(stdlib_pairs) -> None:
    pairs, report = stdlib_pairs
    assert len(pairs) > 3000
    assert report.functions > 2500 and report.classes > 300
    assert not any(p.module.split(".")[0] in ("test", "idlelib", "lib2to3") for p in pairs)
    train, held_out = split_by_module(pairs, fraction=0.1)
    assert train and held_out
    assert not {top_level_module(p.module) for p in train} & {top_level_module(p.module) for p in held_out}
    assert len({(p.docstring, p.code) for p in pairs}) == len(pairs)
