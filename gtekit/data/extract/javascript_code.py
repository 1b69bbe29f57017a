"""(JSDoc comment, code) pairs mined from JavaScript and TypeScript with tree-sitter: GTE's "Code" pairs (Table 2).

A pair is a function, class or method with a JSDoc comment (``/** ... */``) before it (nothing but
whitespace, blank lines and ``//`` comments in between, as express writes them). File headers
(``@license``, ``@file``, ``@module``, ...) and type comments (``@typedef``, ``@callback``) document
no code and are counted apart. The query is the comment's description: the text before its first
block tag (``@param``, ``@returns``, ...), with the leading ``*`` of each line removed and inline
tags such as ``{@link Foo|the foo}`` made plain text (``the foo``); a comment with no description
uses its ``@description``/``@summary`` tag. The positive is the definition's source from its first
token (``export``, ``async``, decorators and all) to its end: the doc comment is never part of it,
and the block is dedented except for lines that continue a multi-line string or template literal.
What counts as a definition:

- ``function`` declarations (generators and ``async`` too), classes and methods, object-literal
  methods and ``key: function () {}`` properties, class fields holding a function;
- ``const f = () => ...`` / ``var f = function () {}`` (one declarator) and assignments such as
  ``Foo.prototype.bar = function () {}``, also when the function is wrapped in a call
  (``var camelCase = createCompounder(function (...) {...})``, ``const C = memo(() => ...)``);
  ``export`` and ``export default`` are looked through.

Left out, each counted by reason: a doc comment followed by no code or by something else
(an interface, a type, a plain variable), declarations without a body (TypeScript overload
signatures, ``declare``), private names (any part starting with ``_`` or ``#``) and ``@private`` /
``@internal`` / ``@ignore`` comments, doc comments inside the code of a definition already mined
(a nested helper is part of its parent's code, as in the Python miner; undocumented wrappers such
as an IIFE are looked into), doc comments at a syntax error, descriptions shorter than
``min_doc_words`` words, empty bodies, code longer than ``max_code_chars``, and exact duplicates.

Files: ``.js .mjs .cjs .jsx`` (the JavaScript grammar, JSX included), ``.ts .mts .cts`` and ``.tsx``;
``.d.ts`` declaration files and ``.min.js`` files are skipped and counted, and so is every other file.
doc_id is the file's path relative to its input root, so the held-out split is by file.

Depends on tree-sitter, tree-sitter-javascript and tree-sitter-typescript (the ``data`` extra),
imported when mining starts, and on ``base``/``files``; nothing else in gtekit.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

from .base import MinedPair, MineReport, dedupe
from .input_files import DEFAULT_SKIP_DIRS, iter_input_files, read_text

GRAMMARS = {".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
            ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx"}
DECLARATION_FILES = (".d.ts", ".d.mts", ".d.cts")
PRIVATE_TAGS = ("@private", "@internal", "@ignore")
HEADER_TAGS = ("@license", "@preserve", "@copyright", "@file", "@fileoverview", "@overview", "@module")
TYPE_TAGS = ("@typedef", "@callback")

_FUNCTIONS = {"function_declaration", "generator_function_declaration", "method_definition"}
_CLASSES = {"class_declaration", "abstract_class_declaration"}
_FUNCTION_VALUES = {"arrow_function", "function_expression", "function", "generator_function"}
_CLASS_VALUES = {"class"}
_SIGNATURES = {"function_signature", "method_signature", "abstract_method_signature", "ambient_declaration"}
_STRINGS = {"template_string", "string"}
_INLINE_TAG = re.compile(r"\{@\w+\s+([^}|\s]+)(?:\s*\|\s*|\s+)?([^}]*)\}")
_EMPTY_INLINE_TAG = re.compile(r"\{@\w+\s*\}")


def mine_javascript(paths: Sequence[str | Path], *, min_doc_words: int = 3, include_classes: bool = True,
                    max_code_chars: int = 4000,
                    skip_dirs: Sequence[str] = DEFAULT_SKIP_DIRS) -> tuple[list[MinedPair], MineReport]:
    """Mine (JSDoc description, code) pairs from the JS/TS files under ``paths`` (see the module docstring).

    ``report.documents`` counts the JS/TS files parsed.
    """
    if min_doc_words < 1:
        raise ValueError(f"min_doc_words must be at least 1, got {min_doc_words}")
    if max_code_chars < 1:
        raise ValueError(f"max_code_chars must be at least 1, got {max_code_chars}")
    parsers = _parsers()
    report = MineReport()
    pairs: list[MinedPair] = []
    for file in iter_input_files(paths, report, skip_dirs=skip_dirs):
        lower = file.basename.lower()
        if lower.endswith(DECLARATION_FILES):
            report.skip("TypeScript declaration file (.d.ts)")
            continue
        if lower.endswith(".min.js"):
            report.skip("minified file (.min.js)")
            continue
        if file.suffix not in GRAMMARS:
            report.skip("not a JavaScript/TypeScript file")
            continue
        text = read_text(file, report)
        if text is None:
            continue
        report.documents += 1
        source = text.encode("utf-8")
        tree = parsers[GRAMMARS[file.suffix]].parse(source)
        pairs.extend(_file_pairs(tree.root_node, source, file.name, min_doc_words, include_classes,
                                 max_code_chars, report))
    pairs = dedupe(pairs, report)
    report.pairs = len(pairs)
    return pairs, report


def _parsers() -> dict:
    try:
        import tree_sitter
        import tree_sitter_javascript
        import tree_sitter_typescript
    except ImportError as error:
        raise RuntimeError(f"mining JavaScript/TypeScript needs tree-sitter ({error}); "
                           "install it with: pip install 'gtekit[data]'") from None
    grammars = {"javascript": tree_sitter_javascript.language(),
                "typescript": tree_sitter_typescript.language_typescript(),
                "tsx": tree_sitter_typescript.language_tsx()}
    return {name: tree_sitter.Parser(tree_sitter.Language(grammar)) for name, grammar in grammars.items()}


def _file_pairs(root, source: bytes, doc_id: str, min_doc_words: int, include_classes: bool,
                max_code_chars: int, report: MineReport) -> Iterator[MinedPair]:
    mined_functions: list[tuple[int, int]] = []  # byte spans of the functions already made pairs
    for comment in _doc_comments(root):
        if any(start <= comment.start_byte < end for start, end in mined_functions):
            report.skip("doc comment inside a mined function's code")
            continue
        comment_text = source[comment.start_byte:comment.end_byte].decode("utf-8")
        if _has_tag(comment_text, HEADER_TAGS):
            report.skip("file header comment (@license, @file, @module, ...)")
            continue
        if _has_tag(comment_text, TYPE_TAGS):
            report.skip("type comment (@typedef, @callback)")
            continue
        target = _documented_node(comment, source)
        if target is None:
            report.skip("doc comment not followed by code")
            continue
        if target.has_error or _inside_error(comment):
            report.skip("syntax error near the doc comment")
            continue
        found = _definition(target)
        if found is None:
            reason = "declaration without a body" if _is_signature(target) else \
                "doc comment on something other than a function, class or method"
            report.skip(reason)
            continue
        kind, name, definition = found
        qualified = [*_enclosing_class_names(target), *name.split(".")]
        if any(part.startswith(("_", "#")) for part in qualified) or _has_tag(comment_text, PRIVATE_TAGS):
            report.skip("private definition")
            continue
        if kind == "class" and not include_classes:
            report.skip("class (classes left out)")
            continue
        description = jsdoc_description(comment_text)
        if len(description.split()) < min_doc_words:
            report.skip("doc description too short" if description else "doc comment without a description")
            continue
        if _is_empty(definition):
            report.skip("empty body")
            continue
        code = _code(target, source)
        if len(code) > max_code_chars:
            report.skip("code too long")
            continue
        if kind == "function":
            mined_functions.append((target.start_byte, target.end_byte))
        yield MinedPair(query=description, positive=code, doc_id=doc_id)


def _doc_comments(root) -> Iterator:
    """The ``/** ... */`` comment nodes of a tree, in source order."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "comment":
            text = node.text
            if text.startswith(b"/**") and not text.startswith(b"/***") and text != b"/**/":
                yield node
            continue
        stack.extend(reversed(node.children))


def _documented_node(comment, source: bytes):
    """The node right after ``comment``, past whitespace and ``//`` comments."""
    previous, node = comment, comment.next_sibling
    while node is not None:
        if source[previous.end_byte:node.start_byte].strip():
            return None
        if node.type != "comment":
            return node
        if not node.text.startswith(b"//"):
            return None
        previous, node = node, node.next_sibling
    return None


def _definition(node) -> tuple[str, str, object] | None:
    """(``"function"`` or ``"class"``, name, the function/class node) that ``node`` defines, or None."""
    kind = node.type
    if kind == "export_statement":
        inner = node.child_by_field_name("declaration") or node.child_by_field_name("value")
        if inner is None:
            return None
        found = _definition(inner)
        if found is None and inner.type in _FUNCTION_VALUES | _CLASS_VALUES:
            found = ("function" if inner.type in _FUNCTION_VALUES else "class", "default", inner)
        return found
    if kind in _FUNCTIONS or kind in _CLASSES:
        name = node.child_by_field_name("name")
        return ("function" if kind in _FUNCTIONS else "class", name.text.decode() if name else "default", node)
    if kind in ("lexical_declaration", "variable_declaration"):
        declarators = [child for child in node.named_children if child.type == "variable_declarator"]
        if len(declarators) == 1:
            return _named_value(declarators[0].child_by_field_name("name"), declarators[0].child_by_field_name("value"))
        return None
    if kind == "expression_statement" and node.named_children:
        expression = node.named_children[0]
        if expression.type == "assignment_expression":
            return _named_value(expression.child_by_field_name("left"), expression.child_by_field_name("right"))
        return None
    if kind == "pair":
        return _named_value(node.child_by_field_name("key"), node.child_by_field_name("value"))
    if kind in ("public_field_definition", "field_definition"):
        name = node.child_by_field_name("name") or node.child_by_field_name("property")
        return _named_value(name, node.child_by_field_name("value"))
    return None


def _named_value(name, value) -> tuple[str, str, object] | None:
    if name is None or value is None:
        return None
    if value.type in _FUNCTION_VALUES:
        return "function", name.text.decode(), value
    if value.type in _CLASS_VALUES:
        return "class", name.text.decode(), value
    if value.type == "call_expression":  # memo(() => ...), createCompounder(function (...) {...})
        arguments = value.child_by_field_name("arguments")
        for argument in arguments.named_children if arguments is not None else ():
            if argument.type in _FUNCTION_VALUES:
                return "function", name.text.decode(), argument
    return None


def _inside_error(node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type == "ERROR":
            return True
        parent = parent.parent
    return False


def _is_signature(node) -> bool:
    if node.type == "export_statement":
        inner = node.child_by_field_name("declaration")
        return inner is not None and _is_signature(inner)
    return node.type in _SIGNATURES


def _enclosing_class_names(node) -> list[str]:
    names: list[str] = []
    parent = node.parent
    while parent is not None:
        if parent.type in _CLASSES or parent.type in _CLASS_VALUES:
            name = parent.child_by_field_name("name")
            if name is not None:
                names.append(name.text.decode())
        parent = parent.parent
    return names[::-1]


def _has_tag(comment: str, tags: Sequence[str]) -> bool:
    return any(re.search(rf"(^|\s){re.escape(tag)}\b", comment) for tag in tags)


def jsdoc_description(comment: str) -> str:
    """The description of a ``/** ... */`` comment: the text before its first block tag, as plain text."""
    body = comment.removeprefix("/**").removesuffix("*/")
    lines = [re.sub(r"^\s*\*(?!/) ?", "", line) for line in body.split("\n")]
    description: list[str] = []
    tags: list[str] = []
    for line in lines:
        if tags or line.lstrip().startswith("@"):
            tags.append(line)
        else:
            description.append(line)
    text = textwrap.dedent("\n".join(description)).strip()
    if not _plain(text):
        tag_text = "\n".join(tags)
        match = re.search(r"(?:^|\n)\s*@(?:description|desc|summary)\b(.*?)(?=\n\s*@|\Z)", tag_text, re.DOTALL)
        text = "\n".join(line.strip() for line in match.group(1).strip().split("\n")) if match else ""
    return _plain(text)


def _plain(text: str) -> str:
    text = _INLINE_TAG.sub(lambda m: m.group(2).strip() or m.group(1), text)
    return _EMPTY_INLINE_TAG.sub("", text).strip()


def _is_empty(definition) -> bool:
    body = definition.child_by_field_name("body")
    if body is None or body.type not in ("statement_block", "class_body"):
        return False  # an arrow function's expression body is never empty
    return not any(child.type != "comment" for child in body.named_children)


def _code(node, source: bytes) -> str:
    """The node's source, dedented by its first line's indentation except inside multi-line strings."""
    line_start = source.rfind(b"\n", 0, node.start_byte) + 1
    indent = re.match(rb"[ \t]*", source[line_start:node.start_byte]).group().decode()
    in_string = _string_continuation_rows(node)
    lines = source[node.start_byte:node.end_byte].decode("utf-8").split("\n")
    first_row = node.start_point.row
    block = [lines[0]]
    for offset, line in enumerate(lines[1:], start=1):
        if first_row + offset not in in_string and line.startswith(indent):
            line = line[len(indent):]
        block.append(line)
    return "\n".join(block).rstrip()


def _string_continuation_rows(node) -> set[int]:
    """Rows (0-based) that start inside a string or template literal."""
    rows: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type in _STRINGS:
            if current.end_point.row > current.start_point.row:
                rows.update(range(current.start_point.row + 1, current.end_point.row + 1))
            continue
        stack.extend(current.children)
    return rows
