"""The documentation comment right above a definition, cleaned to its description.

Which comments document code, per language (others, such as a plain ``//`` above a Rust function,
are never taken): Rust ``///`` and ``/** */`` (``//!`` and ``/*!`` document the enclosing module,
not the next function, so they are left out); Go ``//`` runs and ``/* */`` (Go doc comments); C and
C++ ``///``, ``//!``, ``//`` runs, ``/** */``, ``/*! */`` and ``/* */`` (Doxygen and plain); Java,
Kotlin, Scala, JavaScript, TypeScript and PHP ``/** */`` (Javadoc, KDoc, Scaladoc, JSDoc, PHPDoc);
Swift and C# ``///`` runs and ``/** */``; shell and Ruby ``#`` runs (a shebang never).

A comment documents a definition when it is the only thing on its lines and ends on the line just
above the definition, or above its annotations, attributes or ``template <...>`` line (``@Override``,
``#[inline]``, ``[HttpGet]``); a blank line in between means it does not, except in JavaScript and
TypeScript, where blank lines and ``//`` comments may part a JSDoc comment from its function (as in
the JSDoc miner, ``gtekit.data.extract.javascript_code``). A run of line comments is taken whole,
and only while every line has the same marker. A comment with a file-header tag (``@license``,
``@file``, ``@module``, ...) documents no definition.

The description is what comes before the first block tag (``@param``, ``\\param``, ``@return``,
...), a Markdown heading (``# Examples``), a code fence or a Swift callout (``- Parameter x:``):
``*`` gutters and markers are stripped, Doxygen ``\\brief`` markers removed, inline tags such as
``{@link Foo#bar(A, B) label}`` and ``{@code a b}`` made plain (the JSDoc rules of
:func:`jsdoc_description`, plus Javadoc's link targets with arguments), C# XML docs
reduced to the text of ``<summary>``, and tool directives (``//go:generate``, ``# rubocop:``,
``// eslint-disable``, ...) dropped. Whether the description is worth a pair (length, license
headers, commented-out code) is decided by ``code_pairs``.

Depends on ``code_lexer`` and on the JSDoc description rules of ``gtekit.data.extract.javascript_code``.
"""

from __future__ import annotations

import bisect
import html
import re
import textwrap

from gtekit.data.extract.javascript_code import jsdoc_description

from .code_lexer import Comment, Lexed

_C_DOCS = ("///", "//!", "//", "/**", "/*!", "/*")
DOC_MARKERS: dict[str, tuple[str, ...]] = {
    "rust": ("///", "/**"),
    "go": ("//", "/*"),
    "c": _C_DOCS,
    "cpp": _C_DOCS,
    "java": ("/**",),
    "kotlin": ("/**",),
    "scala": ("/**",),
    "javascript": ("/**",),
    "typescript": ("/**",),
    "php": ("/**",),
    "swift": ("///", "/**"),
    "csharp": ("///", "/**"),
    "shell": ("#",),
    "ruby": ("#",),
}
_BLOCKS = ("/**", "/*!", "/*")
_PRELUDE = re.compile(r"\s*(?:@[\w.:]+(?:\s*\([^()]*\))?|#!?\[.*\]|\[[\w.]+(?:\(.*\))?(?:\s*,\s*[\w.]+(?:\(.*\))?)*\]"
                      r"|template\s*<.*>)\s*")
_COMPILER_DIRECTIVE = re.compile(r"(?:go:|nolint|export\s|line\s|extern\s|lint:|\s*\+build)")  # //go:generate
_TOOL_DIRECTIVE = re.compile(r"(?i)(?:rubocop:|shellcheck\s|eslint-|jshint|istanbul\s|prettier-ignore|@ts-|NOLINT|"
                             r"clang-format|frozen_string_literal|-\*-|typed:|noqa|pylint:|type:\s*ignore|"
                             r"#?region\b|#?endregion\b|#?pragma\b)")
_DOXYGEN_SUMMARY = re.compile(r"(?m)^(\s*\*?\s*)[@\\](?:brief|short|details)\b[ \t]*")
_DOXYGEN_TAG = re.compile(r"(?m)^(\s*\*?\s*)\\(?=[A-Za-z]+\b)")
# {@code a b}: all its text; {@link A#b(C, D) label}: the label, else the member or class name
_JAVADOC_CODE = re.compile(r"\{@(?:code|literal)\s+([^{}]*)\}")
_JAVADOC_LINK = re.compile(r"\{@link(?:plain)?\s+([\w.$]*)#?([\w$]*)(?:\([^)]*\))?(?:\s+([^}]*))?\}")
_STOP = re.compile(r"#{1,6}\s|```|~~~|-\s+(?:Parameters?|Returns|Throws|Note|Precondition|Postcondition|Complexity|"
                   r"Important|Warning|Attention|Requires)\b", re.IGNORECASE)
_FILE_TAGS = re.compile(r"@(?:license|preserve|copyright|file|fileoverview|overview|module)\b")  # a file's header
_SEPARATOR = re.compile(r"[-=*#_~/+.<>]{3,}")


class DocComments:
    """The comments of one lexed text that can document the definition below them, by their last line."""

    def __init__(self, text: str, lexed: Lexed, line_starts: list[int], language: str) -> None:
        self.language = language
        self.masked = lexed.masked
        self.line_starts = line_starts
        self.by_end_line: dict[int, Comment] = {}
        markers = DOC_MARKERS.get(language, ())
        for comment in lexed.comments:
            if comment.marker not in markers:
                continue
            first = self.line_of(comment.start)
            last = self.line_of(max(comment.end - 1, comment.start))
            before = text[line_starts[first]:comment.start]
            after_end = text.find("\n", comment.end)
            after = text[comment.end:len(text) if after_end < 0 else after_end]
            if not before.strip() and not after.strip():
                self.by_end_line[last] = comment

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.line_starts, offset) - 1

    def line(self, number: int) -> str:
        end = self.line_starts[number + 1] - 1 if number + 1 < len(self.line_starts) else len(self.masked)
        return self.masked[self.line_starts[number]:end]

    def above(self, line: int) -> str:
        """The cleaned description of the doc comment documenting the definition that starts on ``line`` (0-based)."""
        number = line - 1
        gaps = self.language in ("javascript", "typescript")  # JSDoc may stand apart, as express writes it
        while number >= 0 and number not in self.by_end_line and (
                _PRELUDE.fullmatch(self.line(number)) or (gaps and not self.line(number).strip())):
            number -= 1
        comment = self.by_end_line.get(number)
        if comment is None or _FILE_TAGS.search(comment.text):
            return ""
        run = [comment]
        if comment.marker not in _BLOCKS:
            while (previous := self.by_end_line.get(self.line_of(run[-1].start) - 1)) is not None \
                    and previous.marker == comment.marker:
                run.append(previous)
            run.reverse()
        return clean_doc_comment(run)


def clean_doc_comment(run: list[Comment]) -> str:
    """The description of one block comment or of a run of line comments (see the module docstring)."""
    first = run[0]
    if first.marker in _BLOCKS:
        body = first.text[len(first.marker):]
        body = body.removesuffix("*/")
        lines = [re.sub(r"^\s*\*(?!/) ?", "", line) for line in body.split("\n")]
    else:
        lines = []
        for comment in run:
            line = comment.text[len(comment.marker):]
            line = re.sub(r"^#+", "", line) if comment.marker == "#" else line
            if _COMPILER_DIRECTIVE.match(line) or _TOOL_DIRECTIVE.match(line.strip()):
                continue
            lines.append(line[1:] if line.startswith(" ") else line)
    text = textwrap.dedent("\n".join(lines)).strip("\n")
    if "<summary>" in text or re.search(r"</?(?:param|returns|remarks)\b", text):
        text = _xml_summary(text)
    text = _DOXYGEN_TAG.sub(r"\1@", _DOXYGEN_SUMMARY.sub(r"\1", text))
    text = _JAVADOC_CODE.sub(r"\1", text)
    text = _JAVADOC_LINK.sub(lambda m: (m.group(3) or "").strip() or m.group(2) or m.group(1).rsplit(".", 1)[-1], text)
    text = jsdoc_description("/**\n" + "\n".join(" * " + line for line in text.split("\n")) + "\n */")
    kept: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if _STOP.match(stripped):
            break
        if not _SEPARATOR.fullmatch(stripped):
            kept.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _xml_summary(text: str) -> str:
    """A C# XML doc comment as plain text: ``<summary>``'s content, references kept as their names."""
    summary = re.search(r"<summary>(.*?)</summary>", text, re.DOTALL)
    text = summary.group(1) if summary else re.split(r"<(?:param|returns|exception|typeparam|remarks|example)\b",
                                                     text)[0]
    text = re.sub(r'<(?:see|seealso)\s+(?:cref|href|langword)="(?:\w:)?([^"]*)"\s*/>', r"\1", text)
    text = re.sub(r'<(?:paramref|typeparamref)\s+name="([^"]*)"\s*/>', r"\1", text)
    text = re.sub(r"</?[A-Za-z][^>]*>", "", text)
    return textwrap.dedent(html.unescape(text)).strip()
