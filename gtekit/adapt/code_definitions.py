"""Functions and methods of one source text, in any supported language: :func:`find_definitions`.

Python is read with ``ast`` (``code_python``). Every other language is read by a heuristic scanner
over the text with strings and comments blanked (``code_lexer``): a line that starts like a
definition (the per-language regexes of ``code_headers``), parameters whose parentheses close, a
tail the language allows there, then the body — matched braces, or for Ruby ``def`` ... ``end``
counted with the block keywords that open an ``end`` (``if``/``unless``/``while``/``until`` at the
start of a statement, ``do``, ``begin``, ``case``, ``class``, ``module``, ``def``; modifiers such as
``return if x`` and ``range.end`` do not count; endless ``def f = x`` opens nothing).

Precision comes before recall: a wrong definition makes a wrong pair. A body is kept only if it
opens and closes on one line, or its closing brace or ``end`` starts its line at the header's
indentation and every line between that starts with code is indented deeper than the header (C/Go
labels and Ruby ``rescue`` / ``ensure`` / ``else`` may sit at the header's level; tabs count 8
columns). So an ``#ifdef`` that leaves a brace open never joins two functions into one body. Bodies
are never searched for further definitions: a nested function or closure is part of its parent's
code. Classes, impls, namespaces and modules are searched for methods but are not definitions
themselves. What the scanner passes over is counted by reason (``scan_definitions``).

Depends on the standard library and on ``code_lexer``, ``code_comments``, ``code_headers``,
``code_python`` and ``code_model``.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter

from .code_comments import DocComments
from .code_headers import C_GNU_NAME, C_TYPE_LINE, HEADERS, NOT_NAMES, NOT_TYPES, Header
from .code_lexer import lex
from .code_model import Definition, strip_blank_lines
from .code_python import python_definitions
from .code_syntax import SYNTAX

LANGUAGE_NAMES = ("python", *sorted(SYNTAX))
_HEADER_REACH = 2000  # characters searched for the body's "{" after the parameters
_LABEL = re.compile(r"\s*[A-Za-z_]\w*:\s*")
_RUBY_DEF = re.compile(r"\s*def\s+(?:self\.|[\w:]+\.)?(?P<name>\w+[?!=]?)")
_RUBY_ENDLESS = re.compile(r"\s*def\s+[\w.]+[?!]?\s*(?:\([^()]*\))?\s*=(?![=~>])")
_RUBY_OPENER = re.compile(r"\s*(?:[\w@$.:]+(?:\[[^\]]*\])*\s*(?P<op>\|\|=|&&=|\+=|-=|=|<<)\s*)?"
                          r"(?P<word>if|unless|while|until|case|begin|for|def|class|module)\b(?![?!:])")
_RUBY_DO = re.compile(r"(?<![\w.:@$])do\b(?![?!:])")
_RUBY_END = re.compile(r"(?<![\w.:@$])end\b(?![?!:])")
_RUBY_SAME_LEVEL = re.compile(r"\s*(?:rescue|ensure|else|elsif)\b")


def find_definitions(text: str, language: str) -> list[Definition]:
    """The functions and methods of ``text`` (see the module docstring), in file order."""
    return scan_definitions(text, language)[0]


def scan_definitions(text: str, language: str) -> tuple[list[Definition], Counter]:
    """:func:`find_definitions`, with a count by reason of the candidates it passed over."""
    if language not in LANGUAGE_NAMES:
        raise ValueError(f"unknown language {language!r}; known: {', '.join(LANGUAGE_NAMES)}")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    skipped: Counter = Counter()
    if language == "python":
        return python_definitions(text, skipped), skipped
    scanner = _Scanner(text, language, skipped)
    return (scanner.ruby() if language == "ruby" else scanner.braces()), skipped


class _Scanner:
    """One text, lexed once: its masked lines, line offsets and doc comments."""

    def __init__(self, text: str, language: str, skipped: Counter) -> None:
        self.text, self.language, self.skipped = text, language, skipped
        self.lexed = lex(text, language)
        self.masked = self.lexed.masked
        self.starts = [0] + [match.end() for match in re.finditer("\n", text)]
        self.docs = DocComments(text, self.lexed, self.starts, language)
        self.text_lines = text.split("\n")
        self.closing = _brace_pairs(self.masked)

    def line(self, number: int) -> str:
        return self.docs.line(number)

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset) - 1

    def indent(self, number: int) -> int:
        line = self.text_lines[number]
        return len(line[: len(line) - len(line.lstrip(" \t"))].expandtabs(8))

    def braces(self) -> list[Definition]:
        definitions, number = [], 0
        while number < len(self.starts):
            definition, resume = self.brace_definition(number)
            if definition is not None:
                definitions.append(definition)
            number = max(resume, number + 1)
        return definitions

    def brace_definition(self, number: int) -> tuple[Definition | None, int]:
        """The definition whose header starts on line ``number``, and the line to go on from."""
        found = self.header(number)
        if found is None:
            return None, number + 1
        name, first, after, header = found
        tail = header.tail
        kind, open_at = self.body_open(after)
        tail_text = self.masked[after:open_at]
        while "{" in tail_text and tail_text != (shorter := re.sub(r"\{[^{}]*\}", "", tail_text)):
            tail_text = shorter  # type literals and brace initialisers that body_open stepped over
        if kind != "open" or not tail.fullmatch(tail_text):
            if kind == "no body" and tail.fullmatch(tail_text):
                self.skipped["header without a braced body (prototype, call, expression body)"] += 1
            return None, number + 1
        close = self.closing.get(open_at)
        if close is None:
            self.skipped["unbalanced braces"] += 1
            return None, number + 1
        close_line = self.line_of(close)
        if not self.aligned(number, self.line_of(open_at), close_line):
            self.skipped["body not indented under its header"] += 1
            return None, number + 1
        signature_start = self.starts[first] + len(self.text[self.starts[first]:open_at]) - \
            len(self.text[self.starts[first]:open_at].lstrip())
        signature = " ".join(self.lexed.code[signature_start:open_at].split())
        if self.language == "scala":
            signature = signature.removesuffix("=").rstrip()
        first_inner_line = self.text[open_at + 1:self.starts[self.line_of(open_at) + 1]]
        if close_line == self.line_of(open_at):
            block = self.text[open_at + 1:close].strip()
        else:
            block = (first_inner_line.strip() + "\n" if first_inner_line.strip() else "") + \
                self.dedent(self.starts[self.line_of(open_at) + 1], close)
        definition = Definition(name=name, signature=signature, body=self.dedent(self.starts[first], close + 1),
                                doc_comment=self.docs.above(first), start_line=first + 1,
                                block=strip_blank_lines(block))
        return definition, close_line + 1

    def dedent(self, start: int, end: int) -> str:
        """``text[start:end]`` less the indentation its code lines share; other lines are kept as written.

        Only lines that start with code (not inside a string or comment) set the indentation, so a
        heredoc or multi-line string at column 0 neither blocks the dedent nor is changed by it.
        """
        lines = self.text[start:end].split("\n")
        masked = self.masked[start:end].split("\n")
        indents = [line[: len(line) - len(line.lstrip(" \t"))] for line, code in zip(lines, masked, strict=True)
                   if _starts_code(line, code)]
        margin = min(indents, key=len) if indents else ""
        while not all(indent.startswith(margin) for indent in indents):
            margin = margin[:-1]
        return "\n".join(line[len(margin):] if line.startswith(margin) else line for line in lines)

    def header(self, number: int) -> tuple[str, int, int, Header] | None:
        """(name, first line of the signature, offset after the parameters, allowed tail), or None."""
        line = self.line(number)
        for header in HEADERS[self.language]:
            match = header.pattern.match(line)
            if match is None or not self.plausible(match):
                continue
            after = self.starts[number] + match.end()
            if header.params:
                after = _matching_paren(self.masked, after - 1)
                if after is None:
                    continue
            return match.group("name").lstrip("#"), number, after, header
        if self.language in ("c", "cpp") and number > 0 and (match := C_GNU_NAME.match(line)) is not None:
            above = self.line(number - 1).strip()
            if above and C_TYPE_LINE.fullmatch(above) and not NOT_TYPES & set(re.findall(r"\w+", above)) \
                    and match.group("name") not in NOT_NAMES:
                after = _matching_paren(self.masked, self.starts[number] + match.end() - 1)
                if after is not None:
                    return match.group("name"), number - 1, after, HEADERS["c"][0]
        return None

    def plausible(self, match: re.Match[str]) -> bool:
        """Whether the matched name (and return type) are not keywords: ``if (x) {``, ``else if``, ``return f(x)``."""
        name = match.group("name").rsplit("::", 1)[-1].lstrip("~#")
        if name in NOT_NAMES:
            return False
        words = set(re.findall(r"\w+", (match.groupdict().get("type") or "") + " " +
                               (match.groupdict().get("prefix") or "")))
        return not words & NOT_TYPES

    def body_open(self, start: int) -> tuple[str, int]:
        """("open", offset of the body's ``{``), ("no body", offset of ``;``/``=``) or ("unclear", offset)."""
        masked, language = self.masked, self.language
        depth = angle = 0
        limit = min(len(masked), start + _HEADER_REACH)
        i = start
        while i < limit:
            char = masked[i]
            previous = masked[i - 1] if i else ""
            if char in "([":
                depth += 1
            elif char in ")]":
                depth -= 1
                if depth < 0:
                    return "unclear", i
            elif depth:
                pass
            elif char == "<" and language not in ("go", "shell", "php"):
                angle += 1
            elif char == ">" and angle and previous not in "-=":
                angle -= 1
            elif char == "{" and (angle or self.type_literal(start, i)):
                close = self.closing.get(i)
                if close is None:
                    return "unclear", i
                i = close
            elif angle:
                pass
            elif char == ";":
                return "no body", i
            elif char == "=" and masked[i + 1:i + 2] != "=" and previous not in "!<>=":
                following = masked[i + 1:limit].lstrip()
                if masked[i + 1:i + 2] == ">":
                    if language in ("javascript", "typescript") and following[1:].lstrip().startswith("{"):
                        i = masked.index("{", i)
                        return "open", i
                    if language != "scala":
                        return "no body", i
                elif language == "scala" and following.startswith("{"):
                    return "open", masked.index("{", i)
                else:
                    return "no body", i
            elif char == "{":
                return "open", i
            elif char == "}":
                return "unclear", i
            i += 1
        return "unclear", limit

    def type_literal(self, start: int, brace: int) -> bool:
        """Whether the ``{`` at ``brace`` is in a type (Go ``interface{}``, TS ``: {a: T}``) or a C++ brace init."""
        before = self.masked[start:brace].rstrip()
        if self.language == "go":
            return before.endswith(("interface", "struct"))
        if self.language in ("javascript", "typescript"):
            return before.endswith((":", "|", "&", ","))
        if self.language in ("c", "cpp"):
            return bool(re.search(r"(?<!:):(?!:)", before)) and (before[-1:].isalnum() or before[-1:] == "_")
        return False

    def aligned(self, header: int, open_line: int, close_line: int) -> bool:
        """Whether the body's lines sit under the header: see the module docstring."""
        if close_line in (header, open_line):
            return True  # a one-line body, on the header's line or after it
        level = self.indent(header)
        if not self.line(close_line).lstrip().startswith(("}", "end")) or self.indent(close_line) != level:
            return False
        for number in range(open_line + 1, close_line):
            line = self.line(number)
            if _starts_code(self.text_lines[number], line) and self.indent(number) <= level and \
                    not _LABEL.fullmatch(line) and not (self.language == "ruby" and _RUBY_SAME_LEVEL.match(line)):
                return False
        return True

    def ruby(self) -> list[Definition]:
        definitions, number = [], 0
        deltas = self.ruby_depths()
        while number < len(self.starts):
            line = self.line(number)
            match = _RUBY_DEF.match(line)
            if match is None or _RUBY_ENDLESS.match(line):
                number += 1
                continue
            close_line = self.ruby_end(number, deltas)
            if close_line is None:
                self.skipped["unbalanced def/end"] += 1
                number += 1
                continue
            last = number  # the signature's last line: parameters may span lines
            while line.count("(") > line.count(")") and last + 1 < close_line:
                last += 1
                line += self.line(last)
            if not self.aligned(number, last, close_line):
                self.skipped["body not indented under its header"] += 1
                number += 1
                continue
            end_of_signature = self.starts[last + 1] - 1 if last + 1 < len(self.starts) else len(self.text)
            block = self.dedent(self.starts[last + 1], self.starts[close_line] - 1) if close_line > last else ""
            end = self.starts[close_line + 1] - 1 if close_line + 1 < len(self.starts) else len(self.text)
            definitions.append(Definition(
                name=match.group("name"),
                signature=" ".join(self.lexed.code[self.starts[number]:end_of_signature].split()),
                body=self.dedent(self.starts[number], end).rstrip(), doc_comment=self.docs.above(number),
                start_line=number + 1, block=strip_blank_lines(block)))
            number = close_line + 1
        return definitions

    def ruby_end(self, number: int, deltas: list[int]) -> int | None:
        """The line of the ``end`` closing the ``def`` on line ``number``, or None."""
        depth = 0
        for current in range(number, len(deltas)):
            depth += deltas[current]
            if depth <= 0:
                return current if depth == 0 else None
        return None

    def ruby_depths(self) -> list[int]:
        """For each line, the blocks it opens less the ``end`` words it holds."""
        deltas = []
        for number in range(len(self.starts)):
            line = self.line(number)
            opener = _RUBY_OPENER.match(line)
            if opener is not None and opener.group("op") and \
                    self.lexed.code[self.starts[number] + opener.end("op"):self.starts[number] + opener.start("word")] \
                    != line[opener.end("op"):opener.start("word")]:
                opener = None  # x = "..." if y: a modifier after a string, not an "if" block
            delta = int(opener is not None and not (opener.group("word") == "def" and _RUBY_ENDLESS.match(line)))
            blocks = len(_RUBY_DO.findall(line))
            if blocks and opener is not None and opener.group("word") in ("while", "until", "for"):
                blocks -= 1  # "while x do": one block, one end
            deltas.append(delta + blocks - len(_RUBY_END.findall(line)))
        return deltas


def _starts_code(line: str, masked_line: str) -> bool:
    """Whether a line holds code and starts with it, not inside a string or comment begun on a line above."""
    return bool(masked_line.strip()) and len(masked_line) - len(masked_line.lstrip()) == len(line) - len(line.lstrip())


def _matching_paren(masked: str, open_at: int) -> int | None:
    """The offset just after the ``)`` closing the ``(`` at ``open_at`` (within reach), or None."""
    depth = 0
    for match in re.compile(r"[()]").finditer(masked, open_at, min(len(masked), open_at + _HEADER_REACH)):
        depth += 1 if match.group() == "(" else -1
        if depth == 0:
            return match.end()
    return None


def _brace_pairs(masked: str) -> dict[int, int]:
    """The offset of each ``{`` that is closed, mapped to the offset of its ``}`` (a stray ``}`` closes nothing)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for match in re.finditer(r"[{}]", masked):
        if match.group() == "{":
            stack.append(match.start())
        elif stack:
            pairs[stack.pop()] = match.start()
    return pairs
