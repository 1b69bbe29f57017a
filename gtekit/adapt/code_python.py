"""Python functions and methods of one source text, read with ``ast``: their signature, code and docstring.

Functions are reached from the module's top level through classes and compound statements
(``if``/``try``/``with``/...), never through a function body: a function nested in another is part
of its parent's code. The docstring is cut out exactly as the Python docstring miner does it
(:mod:`gtekit.data.extract.python_code`). Decorators are left out of a definition's code; private
names are kept here and left to the caller.

Depends on the standard library and ``code_model``.
"""

from __future__ import annotations

import ast
import io
import textwrap
import tokenize
from collections import Counter
from collections.abc import Iterable, Iterator

from .code_model import Definition, strip_blank_lines

_Function = ast.FunctionDef | ast.AsyncFunctionDef


def python_definitions(text: str, skipped: Counter) -> list[Definition]:
    """Every function and method of ``text`` reachable without entering a function; ``[]`` if it does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        skipped["unparsable Python"] += 1
        return []
    lines = text.split("\n")
    definitions = []
    for node in _functions(tree.body):
        docstring = ast.get_docstring(node, clean=True)
        code = _code(node, lines, node.body[0] if docstring is not None else None)
        colon = _header_end(code)
        if colon is None:
            skipped["unreadable Python signature"] += 1
            continue
        row, column = colon
        code_lines = code.split("\n")
        header = [*code_lines[:row - 1], code_lines[row - 1][:column]]
        after = [code_lines[row - 1][column + 1:], *code_lines[row:]]
        definitions.append(Definition(name=node.name, signature=" ".join(" ".join(header).split()), body=code,
                                      doc_comment=docstring or "", start_line=node.lineno,
                                      block=strip_blank_lines(textwrap.dedent("\n".join(after)))))
    return definitions


def _functions(body: Iterable[ast.AST]) -> Iterator[_Function]:
    for statement in body:
        if isinstance(statement, _Function):
            yield statement
        elif isinstance(statement, ast.ClassDef):
            yield from _functions(statement.body)
        else:
            for child in ast.iter_child_nodes(statement):
                if isinstance(child, ast.excepthandler | ast.match_case):
                    yield from _functions(child.body)
                elif isinstance(child, ast.stmt):
                    yield from _functions([child])


def _code(node: _Function, lines: list[str], docstring: ast.stmt | None) -> str:
    """The definition's lines from the ``def`` keyword on, with the docstring's span cut out, dedented.

    As in the Python docstring miner: ast column offsets count UTF-8 bytes, so the cut is made on
    encoded lines; text left on the docstring's first and last lines is kept only when it is more
    than whitespace; lines that continue a multi-line string are left exactly as written.
    """
    indent = lines[node.lineno - 1][: node.col_offset]  # only whitespace can precede "def"
    in_string = {number for child in ast.walk(node) if isinstance(child, ast.Constant | ast.JoinedStr)
                 for number in range(child.lineno + 1, child.end_lineno + 1)}
    block = []
    for number in range(node.lineno, node.end_lineno + 1):
        line = lines[number - 1]
        if docstring is not None and number == docstring.lineno:
            line = line.encode()[: docstring.col_offset].decode() + \
                lines[docstring.end_lineno - 1].encode()[docstring.end_col_offset:].decode()
            if not line.strip():
                continue
        elif docstring is not None and docstring.lineno < number <= docstring.end_lineno:
            continue
        block.append(line[len(indent):] if number not in in_string and line.startswith(indent) else line)
    return "\n".join(block)


def _header_end(code: str) -> tuple[int, int] | None:
    """(1-based row, column) of the ``:`` that ends the ``def`` header, found with ``tokenize``."""
    depth = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type != tokenize.OP:
                continue
            if token.string in "([{":
                depth += 1
            elif token.string in ")]}":
                depth -= 1
            elif token.string == ":" and depth == 0:
                return token.start
    except (tokenize.TokenError, SyntaxError):
        return None
    return None
