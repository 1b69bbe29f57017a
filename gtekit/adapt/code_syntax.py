"""What the lexer of each supported language must know: comments, quotes, raw strings, heredocs, ...

One :class:`Syntax` per language name (``SYNTAX``; Python is read with ``ast`` and has none), and
the regexes that find where a literal or comment may start (:func:`token_pattern`) and where a
string's scan must look again (:func:`string_stops`). ``code_lexer`` does the scanning.

Depends on the standard library only.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Syntax:
    """What a language's lexer must know: its comments, quotes, raw strings, heredocs, ..."""

    slash_comments: bool = True  # // and /* */
    nested_comments: bool = False
    hash_comments: str = ""  # "word": a word start (shell); "any": anywhere (Ruby, PHP but not #[)
    single_quote: str = "char"  # "char", "string" (escapes), "raw" (no escapes), "rust" (char or lifetime), ""
    backtick: str = ""  # "template" (JS), "raw" (Go), "name" (Kotlin/Scala `names`), "string" (shell, Ruby)
    triple_quotes: bool = False
    interpolation: tuple[tuple[str, str], ...] = ()  # (opener, closer) inside "..." strings
    multiline_strings: bool = False
    heredoc: str = ""  # "shell", "ruby", "php"
    preprocessor: bool = False
    regex_literals: bool = False
    raw_strings: str = ""  # "rust", "cpp", "csharp"


_C = Syntax(preprocessor=True, raw_strings="cpp")
_JS = Syntax(single_quote="string", backtick="template", regex_literals=True)
SYNTAX: dict[str, Syntax] = {
    "c": _C,
    "cpp": _C,
    "go": Syntax(backtick="raw"),
    "java": Syntax(triple_quotes=True),
    "csharp": Syntax(triple_quotes=True, preprocessor=True, raw_strings="csharp"),
    "kotlin": Syntax(triple_quotes=True, nested_comments=True, backtick="name", interpolation=(("${", "}"),)),
    "scala": Syntax(triple_quotes=True, nested_comments=True, backtick="name", interpolation=(("${", "}"),)),
    "swift": Syntax(triple_quotes=True, nested_comments=True, single_quote="", interpolation=(("\\(", ")"),)),
    "rust": Syntax(single_quote="rust", nested_comments=True, multiline_strings=True, raw_strings="rust"),
    "javascript": _JS,
    "typescript": _JS,
    "php": Syntax(hash_comments="any", single_quote="string", multiline_strings=True, heredoc="php"),
    "ruby": Syntax(slash_comments=False, hash_comments="any", single_quote="string", backtick="string",
                   multiline_strings=True, heredoc="ruby", interpolation=(("#{", "}"),), regex_literals=True),
    "shell": Syntax(slash_comments=False, hash_comments="word", single_quote="raw", backtick="string",
                     multiline_strings=True, heredoc="shell", interpolation=(("$(", ")"), ("${", "}"))),
}


@functools.cache
def token_pattern(syntax: Syntax, brackets: bool) -> re.Pattern[str]:
    """Where something to skip (or, inside an interpolation, a bracket) may start."""
    parts = []
    if syntax.slash_comments:
        parts += [r"//", r"/\*"]
    if syntax.regex_literals:
        parts.append(r"/")
    if syntax.raw_strings == "rust":
        parts.append(r'(?<![\w])b?r#*"')
    elif syntax.raw_strings == "cpp":
        parts.append(r'(?<![\w])(?:u8|u|U|L)?R"[^()\\\s"]{0,16}\(')
    elif syntax.raw_strings == "csharp":
        parts.append(r'\$@"|@\$"|@"|\$"')
    if syntax.triple_quotes:
        parts.append('"""')
    parts.append('"')
    if syntax.single_quote:
        parts.append("'")
    if syntax.backtick:
        parts.append("`")
    if syntax.hash_comments or syntax.preprocessor:
        parts.append("#")
    if syntax.heredoc:
        parts += ["<<", "\n"]
    if syntax.heredoc == "shell":
        parts.append(r"\\")
    if syntax.heredoc == "ruby":
        parts += [r"(?m:^=begin\b)", r"(?m:^__END__$)", "%"]
    if brackets:
        parts.append(r"[(){}]")
    return re.compile("|".join(parts))


@functools.cache
def string_stops(quote: str, escapes: bool, openers: tuple[str, ...]) -> re.Pattern[str]:
    """Where a string's scan must look again: its quote, an escape, a line break, an interpolation."""
    firsts = {quote[0], "\n", *(opener[0] for opener in openers)}
    if escapes:
        firsts.add("\\")
    return re.compile("[" + re.escape("".join(sorted(firsts))) + "]")
