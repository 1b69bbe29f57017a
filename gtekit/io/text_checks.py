"""Whether a text can be embedded at all: the one check every entry point makes before tokenizing.

A Python ``str`` may hold a lone surrogate (U+D800..U+DFFF not in a pair): JSON's ``"\\ud800"`` escape,
``open(..., errors="surrogateescape")`` reading the bytes ED A0 80, or ``bytes.decode("utf-8",
"surrogatepass")`` all make one. It has no UTF-8 encoding, so the Rust tokenizers refuse the whole call
(``TypeError: TextEncodeInput must be ...``) and every other text in that batch fails with it. A text
that is empty or only whitespace tokenizes to nothing but the special tokens: its embedding says nothing
about the text, and in training it is a pair that cannot be learnt from.

:func:`text_problem` names what is wrong with a text (None when it is fine); callers decide whether that
is an error naming the file, line and field, a counted skip, or a 422 naming the input's index.
Depends on the standard library only.
"""

from __future__ import annotations


def text_problem(text: object) -> str | None:
    """Why ``text`` cannot be embedded, in words (None when it can)."""
    if not isinstance(text, str):
        return f"is a {type(text).__name__}, not a string"
    if not text.strip():
        return "is empty or whitespace only"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        return f"holds a lone surrogate U+{code:04X} at character {error.start}, which has no UTF-8 encoding"
    return None
