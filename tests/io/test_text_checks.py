"""The one check made before tokenizing: a text the tokenizer would refuse, or one with nothing in it."""

import pytest
from transformers import AutoTokenizer

from gtekit.io.text_checks import text_problem

LONE_SURROGATES = ["\ud800", "before \udc00 after", b"\xed\xa0\x80".decode("utf-8", "surrogatepass"),
                   b"x\xed\xa0\x80".decode("utf-8", "surrogateescape")]


@pytest.mark.parametrize("text", LONE_SURROGATES)
def test_a_lone_surrogate_is_named_and_is_what_the_tokenizer_refuses(text, tiny_model_dir):
    problem = text_problem(text)
    assert problem is not None and "surrogate" in problem
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    with pytest.raises(TypeError):  # what an unchecked text does to the whole batch it is in
        tokenizer(["a fine text", text])


@pytest.mark.parametrize("text", ["", " ", "\n\t ", "\u3000"])
def test_empty_and_whitespace_only_texts_are_named(text):
    assert text_problem(text) == "is empty or whitespace only"


@pytest.mark.parametrize("text", ["a", "naïve café", "数据", "emoji 🙂 pair", " padded "])
def test_ordinary_texts_pass(text):
    assert text_problem(text) is None


def test_a_value_that_is_not_a_string_is_named():
    assert text_problem(12) == "is a int, not a string"
