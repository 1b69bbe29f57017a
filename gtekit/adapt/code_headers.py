"""Per-language regexes for where a function or method definition starts, and what may follow its parameters.

Each :class:`Header` is matched at the start of a line of *masked* text (strings and comments
blanked, see ``code_lexer``), so a header inside a string or comment is never seen. ``pattern``
names the definition in its ``name`` group and, when ``params`` is true, ends at the ``(`` that
opens the parameters; ``tail`` must match all of what lies between the closing ``)`` (or the end
of the match) and the body's ``{``, or the candidate is dropped. Tails are deliberately strict
(a return type, ``throws``, ``where``, C++ qualifiers and initialiser lists), so that a call
statement, a control statement or a declaration without a body (``int f(void);``, a Kotlin
``fun f() = x``, a Swift protocol requirement) is not taken for a definition. Supported shapes:

- Go ``func name(`` and ``func (r *T) name[T any](``, at the start of a line;
- Rust ``fn`` with ``pub``/``pub(crate)``, ``const``, ``async``, ``unsafe``, ``extern "C"``, generics;
- Java, C#, Kotlin, Swift, Scala methods and constructors with their modifiers and annotations;
- C and C++ ``type name(args) {`` (pointer/reference/template return types, ``Class::method``,
  constructors and destructors, initialiser lists; the GNU style with the type on the line above);
- JavaScript/TypeScript ``function name(``, ``const name = (...) => {`` / ``= function (``,
  ``exports.name = function (`` / ``Foo.prototype.name = function (``, class and object-literal
  methods; PHP ``function name(`` with modifiers;
- shell ``name() {`` and ``function name {``.

Ruby (``def``/``end``) and Python (``ast``) are read elsewhere. Depends on the standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_GENERIC = r"<[^=();{}]*>"
_ANNOTATIONS = r"(?:@[\w.:]+(?:\s*\([^()]*\))?\s+)*"


@dataclass(frozen=True)
class Header:
    """A definition-start regex, whether it ends at the parameters' ``(``, and the allowed tail."""

    pattern: re.Pattern[str]
    tail: re.Pattern[str]
    params: bool = True


def _header(pattern: str, tail: str, *, params: bool = True) -> Header:
    return Header(re.compile(pattern), re.compile(tail, re.DOTALL), params)


_KEYWORDS = (
    "if for foreach while switch catch return sizeof typeof alignof decltype do else case new delete throw using "
    "typedef with synchronized lock fixed checked unchecked when guard defer match loop until elif elsif unless "
    "function func fn def assert static_assert await yield super this init deinit subscript operator "
    "__attribute__ __declspec")
NOT_NAMES = frozenset(_KEYWORDS.split())  # words that head a statement, never a definition
_NOT_TYPE_WORDS = (
    "return else goto case new delete throw typedef using namespace sizeof if while for switch do co_return "
    "co_yield co_await record class interface enum struct extends implements import package yield await "
    "operator friend")
NOT_TYPES = frozenset(_NOT_TYPE_WORDS.split())  # words never part of a method's return type

_C_PREFIX = r"(?:[A-Za-z_]\w*(?:::[A-Za-z_]\w*)*(?:" + _GENERIC + r")?(?:\s+|\s*[*&]+\s*))+"
_C_TAIL = (r"\s*(?:(?:const|volatile|noexcept|override|final|mutable|&&?|[A-Z_][A-Z0-9_]*|throw\s*\([^)]*\)|"
           r"noexcept\s*\([^)]*\)|__attribute__\s*\(\(.*?\)\)|->\s*[\w:<>,*&\s]+?)\s*)*(?::[^;]*)?\s*")
C_TYPE_LINE = re.compile(r"(?:[A-Za-z_]\w*(?:::[A-Za-z_]\w*)*(?:" + _GENERIC + r")?(?:\s+|\s*[*&]+\s*))*"
                         r"[A-Za-z_]\w*(?:" + _GENERIC + r")?\s*[*&]*\s*")
C_GNU_NAME = re.compile(r"(?P<name>[A-Za-z_]\w*)\s*\(")  # at column 0, the return type on the line above
_C = (
    _header(r"\s*(?:template\s*<[^;{}]*>\s*)?(?P<prefix>" + _C_PREFIX + r")(?P<name>~?[A-Za-z_]\w*"
            r"(?:::~?[A-Za-z_]\w*)*)\s*\(", _C_TAIL),
    _header(r"\s*(?P<name>[A-Za-z_]\w*(?:" + _GENERIC + r")?(?:::~?[A-Za-z_]\w*)+)\s*\(", _C_TAIL),
    _header(r"\s*(?P<name>~[A-Za-z_]\w*)\s*\(", _C_TAIL),  # a destructor inside its class
)
_JAVA_MODIFIERS = r"(?:(?:public|protected|private|static|final|abstract|synchronized|native|default|strictfp)\s+)"
_CS_MODIFIERS = (r"(?:(?:public|private|protected|internal|static|virtual|override|abstract|sealed|async|extern|"
                 r"unsafe|new|partial|readonly)\s+)")
_KOTLIN_MODIFIERS = (r"(?:(?:public|private|protected|internal|open|override|abstract|final|suspend|inline|operator|"
                     r"infix|tailrec|external|actual|expect)\s+)")
_SWIFT_MODIFIERS = (r"(?:(?:public|private|fileprivate|internal|open|static|class|final|override|mutating|"
                    r"nonmutating|dynamic|convenience|required|indirect|nonisolated|@\w+)\s+)")
_SCALA_MODIFIERS = r"(?:(?:override|private|protected|final|implicit|inline|transparent|abstract)(?:\[\w+\])?\s+)"
_JS_TAIL = r"[ \t]*(?::[^;\n]*)?\s*"

HEADERS: dict[str, tuple[Header, ...]] = {
    "go": (_header(r"func\s+(?:\([^()]*\)\s*)?(?P<name>\w+)\s*(?:\[[^\]]*\]\s*)?\(", r"[^\n;=]*"),),
    "rust": (_header(r"\s*(?:pub(?:\s*\([^)]*\))?\s+)?(?:default\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?"
                     r"(?:extern\s+)?fn\s+(?P<name>\w+)\s*(?:<.*>)?\s*\(",
                     r"\s*(?:->[^;]*?)?\s*(?:where\b[^;]*)?"),),
    "java": (
        _header(r"\s*" + _ANNOTATIONS + _JAVA_MODIFIERS + r"*(?:" + _GENERIC + r"\s+)?(?P<type>[\w$.]+(?:"
                + _GENERIC + r")?(?:\[\])*)\s+(?P<name>[\w$]+)\s*\(", r"\s*(?:throws\s+[\w$.<>,\s]+?)?\s*"),
        _header(r"\s*" + _ANNOTATIONS + r"(?:(?:public|protected|private)\s+)(?P<name>[A-Z][\w$]*)\s*\(",
                r"\s*(?:throws\s+[\w$.<>,\s]+?)?\s*"),
    ),
    "csharp": (
        _header(r"\s*(?:\[[^\]]*\]\s*)*" + _CS_MODIFIERS + r"*(?P<type>[\w.]+(?:" + _GENERIC
                + r")?\??(?:\[[,\s]*\])*\??)\s+(?P<name>\w+)\s*(?:" + _GENERIC + r")?\s*\(",
                r"\s*(?:where\s[^;{]+)?\s*"),
        _header(r"\s*(?:(?:public|private|protected|internal|static)\s+)+(?P<name>[A-Z]\w*)\s*\(",
                r"\s*(?::\s*(?:base|this)\s*\([^;{]*\))?\s*"),
    ),
    "kotlin": (_header(r"\s*" + _ANNOTATIONS + _KOTLIN_MODIFIERS + r"*fun\s+(?:" + _GENERIC
                       + r"\s*)?(?:[\w.<>?, ]+\.)?(?P<name>\w+)\s*\(",
                       r"[ \t]*(?::[ \t]*[^={}\n]+)?(?:\s*where\s[^={}]+)?\s*"),),
    "swift": (_header(r"\s*" + _ANNOTATIONS + _SWIFT_MODIFIERS + r"*func\s+(?P<name>\w+)\s*(?:" + _GENERIC
                      + r")?\s*\(", r"[ \t]*(?:async[ \t]*)?(?:(?:re)?throws[ \t]*)?(?:->[ \t]*[^{}\n]+?)?"
                      r"(?:\s*where\s[^{}]+?)?\s*"),),
    "scala": (_header(r"\s*" + _ANNOTATIONS + _SCALA_MODIFIERS + r"*def\s+(?P<name>\w+)\s*(?:\[[^=(){}]*\])?\s*\(",
                      r"(?:\s*\([^(){}]*\))*[ \t]*(?::[ \t]*[^={}\n]+)?[ \t]*=?\s*"),),
    "javascript": (
        _header(r"\s*(?:export\s+(?:default\s+)?)?(?:declare\s+)?(?:async\s+)?function\s*\*?\s*(?P<name>[\w$]+)\s*"
                r"(?:" + _GENERIC + r")?\s*\(", _JS_TAIL),
        _header(r"\s*(?:export\s+)?(?:const|let|var)\s+(?P<name>[\w$]+)\s*(?::[^=]+)?=\s*(?:async\s+)?"
                r"(?:function\b\s*\*?\s*[\w$]*\s*)?(?:" + _GENERIC + r")?\s*\(",
                r"[ \t]*(?::[^;=\n]*?)?[ \t]*(?:=>)?\s*"),
        _header(r"\s*(?:[\w$]+\.)+(?P<name>[\w$]+)\s*=\s*(?:async\s+)?function\b\s*\*?\s*[\w$]*\s*\(",
                _JS_TAIL),  # exports.name = function (, Foo.prototype.name = function (
        _header(r"\s*(?:(?:static|async|get|set|public|private|protected|readonly|override|abstract)\s+)*\*?\s*"
                r"(?P<name>#?[\w$]+)\s*(?:" + _GENERIC + r")?\s*\(", r"[ \t]*(?::[^;\n]*)?[ \t]*"),
    ),
    "php": (_header(r"\s*(?:#\[[^\]]*\]\s*)*(?:(?:public|protected|private|static|abstract|final)\s+)*"
                    r"function\s+&?(?P<name>\w+)\s*\(", r"\s*(?::\s*\??[\w\\|?]+)?\s*"),),
    "shell": (
        _header(r"\s*(?:function\s+)?(?P<name>[A-Za-z_][\w:.-]*)\s*\(\s*\)", r"\s*", params=False),
        _header(r"\s*function\s+(?P<name>[A-Za-z_][\w:.-]*)\s*(?=\{|$)", r"\s*", params=False),
    ),
    "c": _C,
    "cpp": _C,
}
HEADERS["typescript"] = HEADERS["javascript"]
