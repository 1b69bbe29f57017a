"""Candidates of the code sets: (doc comment's first paragraph, code without the comment) per function.

Python functions and methods come from ``gtekit.data.extract.python_code.mine_python_pairs`` (classes left
out: a class's code holds its methods' code), JavaScript and TypeScript ones from
``gtekit.data.extract.javascript_code.mine_javascript`` (classes left out too). The query is the first
paragraph of the docstring or JSDoc description, on one line. Document ids are
``PACKAGE/PATH:NAME`` (``networkx/algorithms/cycles.py:simple_cycles``, ``lodash/lodash.js:chunk``),
with ``#2``, ``#3``, ... for a name seen again in the same file.

Depends on gtekit's miners and on ``candidates``/``sources``.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from gtekit.data.extract.javascript_code import mine_javascript
from gtekit.data.extract.python_code import mine_python_pairs

from .candidates import Candidate, first_paragraph
from .sources import Archive, selected_paths

MAX_CODE_CHARS = 4000  # the miners' default: longer definitions are left out whole, never cut

_NOT_PROSE = re.compile(r"[-=~^]{3,}|>>>")
_JS_NAME = re.compile(
    r"^(?:export\s+)?(?:default\s+)?(?:async\s+)?(?:function\s*\*?\s*([\w$]+)"  # function name(
    r"|(?:const|let|var)\s+([\w$]+)"  # const name = ...
    r"|([\w$.\[\]]+)\s*=[^=]"  # Foo.prototype.name = ..., Foo.prototype[Symbol.iterator] = ...
    r"|(?:(?:static|async|get|set|public|protected|readonly|override)\s+)*\*?\s*([\w$]+)\s*[(<:=])")


def python_candidates(root: Path, archive: Archive) -> list[Candidate]:
    """Every documented public function and method of the wheel unpacked at ``root``."""
    found: list[Candidate] = []
    seen: Counter = Counter()
    for folder in selected_paths(root, archive):
        pairs, _ = mine_python_pairs(folder, include_classes=False, max_code_chars=MAX_CODE_CHARS)
        for pair in pairs:
            path = Path(pair.path).relative_to(root).as_posix()
            doc_id = _unique(f"{archive.name}/{path}:{pair.name}", seen)
            found.append(Candidate(doc_id, first_paragraph(pair.docstring), pair.code, archive.name))
    return found


def javascript_candidates(root: Path, archive: Archive) -> list[Candidate]:
    """Every documented public function and method of the npm package unpacked at ``root``."""
    found: list[Candidate] = []
    seen: Counter = Counter()
    for path in selected_paths(root, archive):
        pairs, _ = mine_javascript([path], include_classes=False, max_code_chars=MAX_CODE_CHARS)
        prefix = path.relative_to(root).as_posix()
        for pair in pairs:
            file = prefix if path.is_file() else f"{prefix}/{pair.doc_id}"
            doc_id = _unique(f"{archive.name}/{file}:{javascript_name(pair.positive)}", seen)
            found.append(Candidate(doc_id, first_paragraph(pair.query), pair.positive, archive.name))
    return found


def is_prose(query: str) -> bool:
    """A description in prose, not a section heading (``Parameters\n----------``), a field list or a doctest."""
    return not (_NOT_PROSE.search(query) or query.startswith((":", "@")))


def javascript_name(code: str) -> str:
    """The name a JavaScript/TypeScript definition gives, read from its first line ("?" when none is found)."""
    first = code.lstrip().split("\n", 1)[0]
    while first.startswith("@"):  # a decorator on the first line
        first = first.split(" ", 1)[1] if " " in first else ""
    match = _JS_NAME.match(first)
    if match is None:
        return "?"
    name = next(group for group in match.groups() if group)
    return name.rstrip("]").replace("[", ".").rsplit(".", 1)[-1]


def _unique(doc_id: str, seen: Counter) -> str:
    seen[doc_id] += 1
    return doc_id if seen[doc_id] == 1 else f"{doc_id}#{seen[doc_id]}"
