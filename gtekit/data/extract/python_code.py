"""(docstring, code) pairs mined from Python source with ``ast``: GTE's "Code" pairs (Table 2).

A pair is a documented public function, method or class: the query is its docstring (cleaned
with ``inspect.cleandoc``) and the positive is its source *without* the docstring, so the pair is
not trivial. What is mined:

- functions and ``async`` functions, methods, and (optionally) classes, reached from a module's
  top level through classes and compound statements (``if``/``try``/``with``/...), never through
  a function body: a function nested in another is part of its parent's code, not a pair;
- only public names: a definition is skipped when any part of its qualified name starts with
  ``_`` (so ``__init__`` and every method of a private class are skipped);
- docstrings of at least ``min_doc_words`` words; bodies that hold more than the docstring and
  ``pass``/``...``; code of at most ``max_code_chars`` characters;
- exact duplicates (same docstring and code) once, the first in file order, as GTE de-duplicates.

The code of a pair runs from the ``def``/``class`` line (decorators are left out) to the end of
the definition, with exactly the docstring's source span cut out and the block dedented.
Files are read in sorted order, so the result is deterministic. Files that cannot be decoded or
parsed are skipped and reported.

The held-out split is by *top-level* module (``json.decoder`` goes with ``json``), chosen by a
SHA-1 of its name, so it is stable across runs and machines and near-duplicate code in one
package never lands on both sides. Pairs mined from the standard library are under the Python
Software Foundation License (PSF-2.0); record that with the files written from them.

:func:`mine_python` is the common miner interface (``MinedPair`` with doc_id = top-level module,
``MineReport``) over several roots, used by ``gtekit data extract python``.

Depends only on the standard library and ``base``; nothing else in gtekit.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import sysconfig
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .base import MinedPair, MineReport, dedupe

HELD_OUT_FRACTION = 0.2  # share of top-level modules kept out of training (~470 stdlib pairs)
DEFAULT_SKIP_DIRS = ("test", "tests", "idlelib", "turtledemo", "site-packages", "lib2to3", "__pycache__",
                     "ensurepip")

_Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


@dataclass(frozen=True, slots=True)
class CodePair:
    """One documented definition: its docstring (the query) and its code without the docstring."""

    module: str  # dotted module name, e.g. "json.decoder"
    name: str  # qualified name inside the module, e.g. "JSONDecoder.decode"
    docstring: str  # cleaned with inspect.cleandoc
    code: str  # the definition's source from the def/class line, docstring removed, dedented
    path: str  # the source file
    line: int  # 1-based line of the def/class keyword


@dataclass(slots=True)
class MiningReport:
    """What a mining run read, kept and skipped (public documented definitions only)."""

    files_seen: int = 0
    files_failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    functions: int = 0  # function and method pairs kept
    classes: int = 0  # class pairs kept
    too_short_docstring: int = 0
    empty_body: int = 0  # nothing but the docstring and pass/...
    too_long: int = 0
    duplicates: int = 0


def stdlib_root() -> Path:
    """The running interpreter's standard library folder."""
    return Path(sysconfig.get_paths()["stdlib"])


def iter_python_files(root: Path, *,
                      skip_dirs: Sequence[str] = DEFAULT_SKIP_DIRS) -> Iterator[tuple[str, Path]]:
    """Yield (dotted module name, path) for every ``.py`` file under ``root``, sorted by path.

    Folders named in ``skip_dirs`` are skipped at any depth, and so are files whose path is not
    an importable module name (e.g. ``config-3.11-x86_64-linux-gnu/python-config.py``). A package's
    ``__init__.py`` is named after the package.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"not a folder: {root}")
    found: list[tuple[tuple[str, ...], Path]] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip_dirs]
        relative = Path(folder).relative_to(root).parts
        for name in files:
            if name.endswith(".py"):
                found.append(((*relative, name), Path(folder) / name))
    for parts, path in sorted(found):
        module = _module_name(parts)
        if module is not None:
            yield module, path


def _module_name(parts: tuple[str, ...]) -> str | None:
    names = [*parts[:-1], parts[-1].removesuffix(".py")]
    if names[-1] == "__init__":
        names.pop()
    if not names or not all(name.isidentifier() for name in names):
        return None
    return ".".join(names)


def mine_python_pairs(root: Path, *, min_doc_words: int = 3, include_classes: bool = True,
                      max_code_chars: int = 4000,
                      skip_dirs: Sequence[str] = DEFAULT_SKIP_DIRS) -> tuple[list[CodePair], MiningReport]:
    """Mine (docstring, code) pairs from every Python file under ``root`` (see the module docstring)."""
    if min_doc_words < 1:
        raise ValueError(f"min_doc_words must be at least 1, got {min_doc_words}")
    if max_code_chars < 1:
        raise ValueError(f"max_code_chars must be at least 1, got {max_code_chars}")
    report = MiningReport()
    pairs: list[CodePair] = []
    seen: set[tuple[str, str]] = set()
    for module, path in iter_python_files(root, skip_dirs=skip_dirs):
        report.files_seen += 1
        try:
            source = importlib.util.decode_source(path.read_bytes())  # honours coding cookies
            tree = ast.parse(source, filename=str(path))
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError) as error:
            report.files_failed.append((str(path), f"{type(error).__name__}: {error}"))
            continue
        lines = source.split("\n")  # decode_source made every line break "\n", the only one ast counts
        for name, node in _definitions(tree.body, prefix=""):
            if isinstance(node, ast.ClassDef) and not include_classes:
                continue
            pair = _pair(module, name, node, lines, str(path), min_doc_words, max_code_chars, report)
            if pair is None:
                continue
            if (pair.docstring, pair.code) in seen:
                report.duplicates += 1
                continue
            seen.add((pair.docstring, pair.code))
            pairs.append(pair)
            if isinstance(node, ast.ClassDef):
                report.classes += 1
            else:
                report.functions += 1
    return pairs, report


def _definitions(body: Iterable[ast.AST], prefix: str) -> Iterator[tuple[str, _Definition]]:
    """Public functions and classes reachable from ``body`` without entering a function."""
    for statement in body:
        if isinstance(statement, _Definition):
            if statement.name.startswith("_"):
                continue  # private, and so is everything inside it
            name = prefix + statement.name
            yield name, statement
            if isinstance(statement, ast.ClassDef):
                yield from _definitions(statement.body, prefix=name + ".")
        else:
            for child in ast.iter_child_nodes(statement):
                if isinstance(child, ast.excepthandler | ast.match_case):
                    yield from _definitions(child.body, prefix)
                elif isinstance(child, ast.stmt):
                    yield from _definitions([child], prefix)


def _pair(module: str, name: str, node: _Definition, lines: list[str], path: str, min_doc_words: int,
          max_code_chars: int, report: MiningReport) -> CodePair | None:
    """The pair for one definition, or None (counted in ``report``) when it is skipped."""
    docstring = ast.get_docstring(node, clean=True)
    if docstring is None:
        return None
    if len(docstring.split()) < min_doc_words:
        report.too_short_docstring += 1
        return None
    if all(_is_placeholder(statement) for statement in node.body[1:]):
        report.empty_body += 1
        return None
    code = _code_without_docstring(node, lines)
    if len(code) > max_code_chars:
        report.too_long += 1
        return None
    return CodePair(module=module, name=name, docstring=docstring, code=code, path=path, line=node.lineno)


def _is_placeholder(statement: ast.stmt) -> bool:
    """``pass`` or a bare ``...``."""
    if isinstance(statement, ast.Pass):
        return True
    return (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
            and statement.value.value is Ellipsis)


def _code_without_docstring(node: _Definition, lines: list[str]) -> str:
    """The definition's lines from the def/class keyword on, with the docstring's span cut out.

    ast column offsets count UTF-8 bytes, so the cut is made on encoded lines; text left on the
    docstring's first and last lines is kept only when it is more than whitespace. The block is
    dedented by the def/class line's indentation, except lines that continue a multi-line string,
    whose text is left exactly as written (``textwrap.dedent`` gives up on such blocks).
    """
    doc = node.body[0]
    indent = lines[node.lineno - 1][: node.col_offset]  # only whitespace can precede def/class
    in_string = _string_continuation_lines(node)
    block: list[str] = []
    for number in range(node.lineno, node.end_lineno + 1):  # 1-based, as ast counts
        if number == doc.lineno:
            before = lines[doc.lineno - 1].encode()[: doc.col_offset].decode()
            after = lines[doc.end_lineno - 1].encode()[doc.end_col_offset :].decode()
            line = before + after
            if not line.strip():
                continue
        elif doc.lineno < number <= doc.end_lineno:
            continue
        else:
            line = lines[number - 1]
        if number not in in_string and line.startswith(indent):
            line = line[len(indent) :]
        block.append(line)
    return "\n".join(block)


def _string_continuation_lines(node: ast.AST) -> set[int]:
    """Line numbers that start inside a string literal (the 2nd to last line of a multi-line one)."""
    inside: set[int] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Constant | ast.JoinedStr) and child.end_lineno > child.lineno:
            inside.update(range(child.lineno + 1, child.end_lineno + 1))
    return inside


def top_level_module(module: str) -> str:
    """The top-level package of a dotted module name: ``"json.decoder"`` -> ``"json"``."""
    return module.split(".", 1)[0]


def is_held_out(module: str, fraction: float = HELD_OUT_FRACTION) -> bool:
    """Whether ``module``'s top-level package falls in the held-out ``fraction``.

    The package name's SHA-1, read as a number in [0, 1), is compared with ``fraction``; unlike
    ``hash()`` it is the same on every run and machine.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    digest = hashlib.sha1(top_level_module(module).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_by_module(pairs: Iterable[CodePair],
                    fraction: float = HELD_OUT_FRACTION) -> tuple[list[CodePair], list[CodePair]]:
    """(train, held_out), split by top-level module (never by row); order is kept on both sides."""
    train: list[CodePair] = []
    held_out: list[CodePair] = []
    for pair in pairs:
        (held_out if is_held_out(pair.module, fraction) else train).append(pair)
    return train, held_out


def to_training_rows(pairs: Iterable[CodePair]) -> list[dict[str, str]]:
    """Rows of the training-file format: ``{"query": docstring, "positive": code}``."""
    return [{"query": pair.docstring, "positive": pair.code} for pair in pairs]


def mine_python(paths: Sequence[str | Path], *, min_doc_words: int = 3, include_classes: bool = True,
                max_code_chars: int = 4000,
                skip_dirs: Sequence[str] = DEFAULT_SKIP_DIRS) -> tuple[list[MinedPair], MineReport]:
    """:func:`mine_python_pairs` over each folder of ``paths``, as ``MinedPair`` rows and a ``MineReport``.

    doc_id is the top-level module, so ``base.held_out(doc_id, f)`` is ``is_held_out(module, f)``.
    ``report.documents`` counts the modules read; ``.py`` files that are not modules (in a skipped
    folder, or not an importable path) are counted too. Pairs repeated across folders are kept once.
    """
    if isinstance(paths, str | Path):
        raise TypeError("mine_python takes a list of folders; wrap a single folder in a list")
    report = MineReport()
    mined: list[MinedPair] = []
    for root in map(Path, paths):
        if not root.is_dir():
            raise (ValueError(f"python mining takes folders (package roots), got the file {root}") if root.exists()
                   else FileNotFoundError(f"no such folder: {root}"))
        pairs, counts = mine_python_pairs(root, min_doc_words=min_doc_words, include_classes=include_classes,
                                          max_code_chars=max_code_chars, skip_dirs=skip_dirs)
        report.documents += counts.files_seen
        outside = sum(name.endswith(".py") for _, _, files in os.walk(root) for name in files) - counts.files_seen
        for reason, count in (("Python file outside the module tree or in a skipped folder", outside),
                              ("docstring too short", counts.too_short_docstring),
                              ("empty body", counts.empty_body), ("code too long", counts.too_long),
                              ("duplicate pair", counts.duplicates)):
            if count:
                report.skip(reason, count)
        for path, reason in counts.files_failed:
            report.fail(path, "unreadable or unparsable Python file", reason)
        mined.extend(MinedPair(pair.docstring, pair.code, top_level_module(pair.module)) for pair in pairs)
    mined = dedupe(mined, report)
    report.pairs = len(mined)
    return mined, report
