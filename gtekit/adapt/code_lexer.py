"""Strings and comments blanked out of source code, so that its structure can be read with regexes.

:func:`lex` returns a source text three ways, each exactly as long as the text and with every line
break in place, so offsets and line numbers mean the same in all three: ``masked`` (string, character
and regex literals, comments, heredocs and preprocessor lines replaced by spaces), ``code`` (only the
comments replaced) and the comments themselves, each with its marker (``//``, ``///``, ``//!``,
``/*``, ``/**``, ``/*!``, ``#``, ``#!`` for a shebang, ``=begin`` for a Ruby block comment).

Braces, ``def``/``end`` words and definition headers found in ``masked`` are real code, never text
inside a string or a comment. Per language it knows: ``'...'`` as a string (JS, PHP, Ruby, shell
with no escapes), as a character literal (C-like languages; ``1'000`` digit separators and Scala
symbols are left alone) or, in Rust, a character literal or a lifetime (``'a``); backtick template
literals with ``${...}`` (JS/TS), raw strings (Go backticks, Rust ``r#"..."#``, C++ ``R"x(...)x"``,
C# ``@"..."``), triple-quoted strings, interpolations that hold quotes (``"${a["k"]}"``, ``"#{x}"``,
``"\\(x)"``, ``"$(cmd "a")"``), nested block comments (Rust, Kotlin, Scala, Swift), JS and Ruby
regex literals (``/\\{/``), shell/Ruby/PHP heredocs, Ruby ``=begin`` blocks, ``%w[...]`` literals,
``$'`` globals and ``?"`` characters, C/C# preprocessor lines and shell ``#`` comments only at the
start of a word (``$#`` and ``${#a}`` are code). It is a heuristic: an unterminated single-line
string ends at its line's end.

Depends on the standard library and ``code_syntax`` (the per-language rules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .code_syntax import SYNTAX, Syntax, string_stops, token_pattern


@dataclass(frozen=True, slots=True)
class Comment:
    """One comment: its offsets in the text (``end`` is exclusive), its marker and its text."""

    start: int
    end: int
    marker: str
    text: str


@dataclass(frozen=True, slots=True)
class Lexed:
    """A source text with strings and comments blanked (``masked``), with comments blanked (``code``)."""

    masked: str
    code: str
    comments: tuple[Comment, ...]


_CHAR = re.compile(r"'(?:[^\\'\n]|\\[^\n]{1,10}?)'")
_RUST_CHAR = re.compile(r"'(?:[^\\'\n]|\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]{1,6}\}|[^\n]))'")
_RUST_RAW = re.compile(r'b?r(#*)"')
_CPP_RAW = re.compile(r'(?:u8|u|U|L)?R"([^()\\\s"]{0,16})\(')
_HEREDOC = {
    "shell": re.compile(r"<<(-?)[ \t]*\\?(['\"]?)([A-Za-z_]\w*)\2"),
    "ruby": re.compile(r"<<([~-]?)(['\"`]?)([A-Z_][A-Z0-9_]*)\2"),
    "php": re.compile(r"<<<[ \t]*()(['\"]?)([A-Za-z_]\w*)\2"),
}
_RUBY_PERCENT = re.compile(r"%([qQwWiIrsx]?)([(\[{<|!/^])")
_PAIRS = {"(": ")", "[": "]", "{": "}", "<": ">"}
_REGEX_BEFORE = set("(,=:[!&|?{;+-*%>~^")  # not ")", "}" or "<": JSX's "key={i} />" and "</div>" divide
_REGEX_AFTER_WORDS = {"return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw",
                      "yield", "await", "if", "unless", "when", "and", "or", "not", "elsif", "while", "until"}


def lex(text: str, language: str) -> Lexed:
    """``text`` with strings and comments blanked, and its comments (see the module docstring)."""
    if language not in SYNTAX:
        raise ValueError(f"no lexer for language {language!r}; known: {', '.join(sorted(SYNTAX))}")
    return _Lexer(text, SYNTAX[language]).lexed()


class _Lexer:
    """One pass over a text; ``masked``/``code`` are edited in place as literals and comments are found."""

    def __init__(self, text: str, syntax: Syntax) -> None:
        self.text = text
        self.syntax = syntax
        self.masked = list(text)
        self.code = list(text)
        self.comments: list[Comment] = []
        self.heredocs: list[tuple[str, bool]] = []  # (terminator word, indented terminator allowed)

    def lexed(self) -> Lexed:
        start = 0
        if self.text.startswith("#!"):
            start = self.line_comment(0, "#!")
        self.run(start)
        return Lexed("".join(self.masked), "".join(self.code), tuple(self.comments))

    def blank(self, start: int, end: int, *, comment: bool = False) -> None:
        chunk = ["\n" if char == "\n" else " " for char in self.text[start:end]]
        self.masked[start:end] = chunk
        if comment:
            self.code[start:end] = chunk

    def run(self, i: int, closer: str = "") -> int:
        """Lex code from ``i`` to the end, or (with ``closer``) to just after the bracket closing an interpolation."""
        pattern = token_pattern(self.syntax, bool(closer))
        opener = {"}": "{", ")": "("}.get(closer, "")
        depth = 0
        while (match := pattern.search(self.text, i)) is not None:
            i, token = match.start(), match.group()
            if closer and token in "(){}":
                if token == closer and depth == 0:
                    return i + 1
                depth += 1 if token == opener else -1 if token == closer else 0
                i += 1
            elif token == "\n":
                i = self.heredoc_bodies(i + 1) if self.heredocs else i + 1
            else:
                i = max(self.token(i, token), i + 1)
        return len(self.text)

    def token(self, i: int, token: str) -> int:
        """Skip the literal or comment starting at ``i`` (blanking it); return where code resumes."""
        text, syntax = self.text, self.syntax
        if token == "//":
            marker = "///" if text.startswith("///", i) and not text.startswith("////", i) else \
                "//!" if text.startswith("//!", i) else "//"
            return self.line_comment(i, marker)
        if token == "/*":
            return self.block_comment(i)
        if token == "/":
            return self.regex_literal(i)
        if token == "#":
            return self.hash(i)
        if token in "\"'`" and syntax.heredoc == "ruby" and i and text[i - 1] in "$?":
            return i + 1  # $' and $" are Ruby globals, ?" and ?' characters: no quotes
        if token == '"""':
            end = text.find('"""', i + 3)
            return self.literal(i, len(text) if end < 0 else end + 3)
        if token == '"':
            return self.string(i, '"', escapes=True, multiline=syntax.multiline_strings,
                               openers=syntax.interpolation)
        if token == "'":
            return self.single_quote(i)
        if token == "`":
            return self.backtick(i)
        if token in ('@"', '$@"', '@$"'):
            return self.verbatim(i, len(token))
        if token == '$"':
            self.blank(i, i + 1)
            return self.string(i + 1, '"', escapes=True, multiline=False, openers=(("{{", ""), ("{", "}")))
        if token.endswith('"') or token.endswith("("):
            return self.raw_string(i)
        if token == "<<":
            return self.heredoc(i)
        if token == "\\":
            self.blank(i, i + 2)
            return i + 2
        if token == "=begin":
            end = re.compile(r"(?m)^=end\b.*$").search(text, i)
            end_at = len(text) if end is None else end.end()
            self.comments.append(Comment(i, end_at, "=begin", text[i:end_at]))
            self.blank(i, end_at, comment=True)
            return end_at
        if token == "__END__":
            self.blank(i, len(text))
            return len(text)
        if token == "%":
            return self.percent_literal(i)
        return i + 1

    def literal(self, start: int, end: int) -> int:
        self.blank(start, end)
        return end

    def line_comment(self, i: int, marker: str) -> int:
        end = self.text.find("\n", i)
        end = len(self.text) if end < 0 else end
        self.comments.append(Comment(i, end, marker, self.text[i:end]))
        self.blank(i, end, comment=True)
        return end

    def block_comment(self, i: int) -> int:
        text = self.text
        if self.syntax.nested_comments:
            depth, j = 0, i
            for match in re.compile(r"/\*|\*/").finditer(text, i):
                depth += 1 if match.group() == "/*" else -1
                j = match.end()
                if depth == 0:
                    break
            end = j if depth == 0 else len(text)
        else:
            close = text.find("*/", i + 2)
            end = len(text) if close < 0 else close + 2
        marker = "/**" if text.startswith("/**", i) and not text.startswith("/**/", i) else \
            "/*!" if text.startswith("/*!", i) else "/*"
        self.comments.append(Comment(i, end, marker, text[i:end]))
        self.blank(i, end, comment=True)
        return end

    def hash(self, i: int) -> int:
        text, syntax = self.text, self.syntax
        line_start = text.rfind("\n", 0, i) + 1
        if syntax.preprocessor and not text[line_start:i].strip():
            end = i
            while True:  # a directive continues over lines ending in a backslash
                newline = text.find("\n", end)
                if newline < 0:
                    end = len(text)
                    break
                end = last = newline
                while last > i and text[last - 1] in " \t":
                    last -= 1
                if text[last - 1] != "\\":
                    break
                end = newline + 1
            return self.literal(i, end)
        if syntax.hash_comments == "word" and i > 0 and text[i - 1] not in " \t\n;|&()":
            return i + 1
        if syntax.hash_comments == "any" and syntax.heredoc == "php" and text.startswith("#[", i):
            return i + 1
        if syntax.hash_comments:
            return self.line_comment(i, "#")
        return i + 1

    def string(self, i: int, quote: str, *, escapes: bool, multiline: bool,
               openers: tuple[tuple[str, str], ...] = ()) -> int:
        """Skip a string opened at ``i``; interpolations are lexed as code up to their closing bracket."""
        text = self.text
        stops = string_stops(quote, escapes, tuple(opener for opener, _ in openers))
        j = i + len(quote)
        while (match := stops.search(text, j)) is not None:
            j = match.start()
            opened = next(((opener, closer) for opener, closer in openers if text.startswith(opener, j)), None)
            if opened is not None:
                j = self.run(j + len(opened[0]), opened[1]) if opened[1] else j + len(opened[0])
            elif escapes and text[j] == "\\":
                j += 2
            elif text.startswith(quote, j):
                return self.literal(i, j + len(quote))
            elif text[j] == "\n" and not multiline:
                return self.literal(i, j)
            else:
                j += 1
        return self.literal(i, len(text))

    def single_quote(self, i: int) -> int:
        mode = self.syntax.single_quote
        if mode in ("char", "rust"):
            match = (_RUST_CHAR if mode == "rust" else _CHAR).match(self.text, i)
            return self.literal(i, match.end()) if match else i + 1  # a lifetime, a digit separator, a symbol
        return self.string(i, "'", escapes=mode == "string", multiline=self.syntax.multiline_strings)

    def backtick(self, i: int) -> int:
        mode = self.syntax.backtick
        if mode == "template":
            return self.string(i, "`", escapes=True, multiline=True, openers=(("${", "}"),))
        if mode in ("raw", "name"):
            return self.string(i, "`", escapes=False, multiline=mode == "raw")
        return self.string(i, "`", escapes=True, multiline=True, openers=self.syntax.interpolation)

    def verbatim(self, i: int, prefix: int) -> int:
        """A C# verbatim string: no escapes, ``""`` is a quote."""
        j = i + prefix
        while True:
            close = self.text.find('"', j)
            if close < 0:
                return self.literal(i, len(self.text))
            if self.text.startswith('""', close):
                j = close + 2
                continue
            return self.literal(i, close + 1)

    def raw_string(self, i: int) -> int:
        text = self.text
        if self.syntax.raw_strings == "rust":
            match = _RUST_RAW.match(text, i)
            closing = '"' + match.group(1)
        else:
            match = _CPP_RAW.match(text, i)
            closing = ")" + match.group(1) + '"'
        end = text.find(closing, match.end())
        return self.literal(i, len(text) if end < 0 else end + len(closing))

    def regex_literal(self, i: int) -> int:
        """A JS or Ruby regex literal where a ``/`` cannot be a division (after ``(``, ``=``, ``return``, ...)."""
        text, code = self.text, self.code
        k = i - 1
        while k >= 0 and code[k] in " \t\n":
            k -= 1
        if k >= 0 and code[k] not in _REGEX_BEFORE:
            if not (code[k].isalnum() or code[k] in "_$"):
                return i + 1
            word_end = k + 1
            while k >= 0 and (code[k].isalnum() or code[k] in "_$"):
                k -= 1
            if "".join(code[k + 1:word_end]) not in _REGEX_AFTER_WORDS:
                return i + 1
        j, in_class = i + 1, False
        while j < len(text):
            char = text[j]
            if char == "\n":
                return i + 1  # not a regex after all
            if char == "\\":
                j += 2
                continue
            if in_class:
                in_class = char != "]"
            elif char == "[":
                in_class = True
            elif char == "/":
                j += 1
                while j < len(text) and text[j].isalpha():
                    j += 1
                return self.literal(i, j)
            j += 1
        return i + 1

    def heredoc(self, i: int) -> int:
        match = _HEREDOC[self.syntax.heredoc].match(self.text, i)
        if match is None or (self.syntax.heredoc == "shell" and self.text.startswith("<<<", i)):
            return i + (3 if self.text.startswith("<<<", i) else 2)
        indented = self.syntax.heredoc == "php" or bool(match.group(1))
        self.heredocs.append((match.group(3), indented))
        return match.end()

    def heredoc_bodies(self, start: int) -> int:
        """Blank the bodies of the heredocs opened on the line that ended just before ``start``."""
        text, position = self.text, start
        for word, indented in self.heredocs:
            line_start, end = position, len(text)
            while line_start < len(text):
                line_end = text.find("\n", line_start)
                line_end = len(text) if line_end < 0 else line_end
                line = text[line_start:line_end].strip() if indented else text[line_start:line_end]
                if line == word or (self.syntax.heredoc == "php" and re.match(rf"{re.escape(word)}\b", line)):
                    end = line_end
                    break
                line_start = line_end + 1
            self.blank(position, end)
            position = end + 1
        self.heredocs.clear()
        return min(position - 1, len(text))

    def percent_literal(self, i: int) -> int:
        """A Ruby ``%w[...]``-style literal (bare ``%(...)`` only where a modulo cannot be)."""
        text = self.text
        match = _RUBY_PERCENT.match(text, i)
        if match is None:
            return i + 1
        if not match.group(1):
            k = i - 1
            while k >= 0 and text[k] in " \t":
                k -= 1
            if (k >= 0 and text[k] not in "(,=[{\n") or match.group(2) not in "([{<":
                return i + 1
        opener = match.group(2)
        closer = _PAIRS.get(opener, opener)
        depth, j = 1, match.end()
        while j < len(text):
            char = text[j]
            if char == "\\":
                j += 2
                continue
            if char == closer:
                depth -= 1
                if depth == 0:
                    return self.literal(i, j + 1)
            elif char == opener and closer != opener:
                depth += 1
            j += 1
        return self.literal(i, len(text))
