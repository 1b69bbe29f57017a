"""Synthetic queries against a local stand-in for an OpenAI-compatible chat-completions server."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest

from gtekit.adapt.chat_endpoint import chat_completions_url, retry_after_seconds
from gtekit.adapt.documents import Document
from gtekit.adapt.synthetic_queries import (
    AnswerCache,
    SyntheticQueryError,
    SyntheticQuerySettings,
    build_prompt,
    cache_key,
    clean_query,
    write_synthetic_queries,
)
from gtekit.data.extract.base import MinedPair
from tests.adapt.llm_stand_in import LLMStandIn

DOCUMENTS = [
    Document("d1", "alpha beta gamma delta epsilon", title="Greek letters"),
    Document("d2", "def parse(text): return text.split()", path="src/parse.py", language="python"),
    Document("d3", "rivers flow into the sea slowly"),
]
EXPECTED = {
    MinedPair("query about alpha beta gamma", "Greek letters alpha beta gamma delta epsilon", "d1"),
    MinedPair("query about def parse(text): return", "def parse(text): return text.split()", "d2"),
    MinedPair("query about rivers flow into", "rivers flow into the sea slowly", "d3"),
}


@pytest.fixture
def llm():
    with LLMStandIn() as stand_in:
        yield stand_in


def settings(url: str, **overrides) -> SyntheticQuerySettings:
    """Small timeouts and back-off, so failing tests stay fast."""
    fast = {"model": "tiny-llm", "backoff_seconds": 0.01, "max_backoff_seconds": 0.05, "timeout_seconds": 2.0,
            "api_key_env": "GTEKIT_TEST_LLM_KEY"}
    return SyntheticQuerySettings(url=url, **{**fast, **overrides})


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_pairs_requests_and_report(llm, monkeypatch, capsys):
    monkeypatch.setenv("GTEKIT_TEST_LLM_KEY", "sk-test")
    pairs, report = write_synthetic_queries(DOCUMENTS, settings(llm.url), progress=True)
    assert set(pairs) == EXPECTED and len(pairs) == 3
    assert (report.documents, report.pairs, report.requests, report.cache_hits, report.retries) == (3, 3, 3, 0, 0)
    assert report.failures == {} and not report.cap_reached and len(report.samples) == 3
    for request in llm.requests:
        assert request.path == "/v1/chat/completions"
        assert request.headers["authorization"] == "Bearer sk-test"
        assert request.body["model"] == "tiny-llm"
        assert (request.body["temperature"], request.body["max_tokens"]) == (0.7, 64)
        assert request.body["messages"][0]["role"] == "user"
    prompts = sorted(request.prompt for request in llm.requests)
    assert any("Title: Greek letters" in prompt and "kind: prose" in prompt for prompt in prompts)
    assert any("kind: python" in prompt and "Title: (untitled)" in prompt for prompt in prompts)
    assert "synthetic queries" in capsys.readouterr().err
    assert "3 synthetic pairs from 3 documents" in report.summary()


def test_no_key_no_authorization_header_and_full_url_accepted(llm, monkeypatch):
    monkeypatch.delenv("GTEKIT_TEST_LLM_KEY", raising=False)
    pairs, _ = write_synthetic_queries(DOCUMENTS[:1], settings(llm.url + "/chat/completions/"), progress=False)
    assert len(pairs) == 1
    assert "authorization" not in llm.requests[0].headers and llm.requests[0].path == "/v1/chat/completions"
    assert chat_completions_url("http://h:8000/v1/") == "http://h:8000/v1/chat/completions"


def test_nothing_is_called_without_documents():
    unreachable = settings(closed_port_url(), retries=0)
    assert write_synthetic_queries([], unreachable, progress=False)[0] == []
    pairs, report = write_synthetic_queries([Document("blank", "  \n")], unreachable, progress=False)
    assert pairs == [] and report.documents == 0 and report.requests == 0


def test_prompt_placeholders_truncation_and_cache_key():
    custom = settings("http://h/v1", prompt_template="[{language}] {title} :: {text} {other}", max_document_chars=5)
    document = Document("x", "abcdefghij {title}", title="T {text}", language="go")
    assert build_prompt(document, custom) == "[go] T {text} :: abcde {other}"
    key = cache_key(custom, "p", 0)
    assert key == cache_key(settings("http://elsewhere:1/v1", prompt_template="{text}"), "p", 0)  # no URL in it
    assert len({key, cache_key(custom, "p", 1), cache_key(settings("http://h/v1", model="other"), "p", 0),
                cache_key(settings("http://h/v1", temperature=0.0), "p", 0)}) == 4


@pytest.mark.parametrize(("answer", "query"), [
    ('"how do rivers reach the sea"', "how do rivers reach the sea"),
    ("Query: python split text\nThis query asks about...", "python split text"),
    ("\n\n**Search query:** “greek letter order”\n", "greek letter order"),
    ("<think>the user wants...</think>\n\n- list comprehension syntax", "list comprehension syntax"),
    ("Query:\n'3.5 inch floppy capacity'", "3.5 inch floppy capacity"),
    ("  \n ", ""),
    ("<think>never finished", ""),
])
def test_clean_query(answer, query):
    assert clean_query(answer) == query


def test_empty_over_long_and_repeated_answers_are_dropped_and_counted(monkeypatch):
    answers = {"alpha": "   ", "def": "x" * 400, "rivers": "Query: where rivers go"}

    def answer(prompt: str) -> str:
        return next(text for word, text in answers.items() if f"\n{word}" in prompt)

    with LLMStandIn(answer=answer) as llm:
        pairs, report = write_synthetic_queries(DOCUMENTS, settings(llm.url, queries_per_document=2), progress=False)
    assert pairs == [MinedPair("where rivers go", "rivers flow into the sea slowly", "d3")]
    assert report.failures == {"empty answer": 2, "over-long answer": 2, "duplicate query": 1}
    assert report.requests == 6 and len({request.prompt for request in llm.requests}) == 3


def test_requests_run_concurrently_and_pairs_keep_the_sampled_order():
    documents = [Document(f"d{i}", f"document number {i} text") for i in range(9)]
    with LLMStandIn(delay_seconds=0.15) as llm:
        started = time.monotonic()
        pairs, report = write_synthetic_queries(documents, settings(llm.url, concurrency=4), progress=False)
        elapsed = time.monotonic() - started
    assert 1 < llm.max_in_flight <= 4 and elapsed < 9 * 0.15
    assert report.pairs == 9
    with LLMStandIn() as llm:  # the same order with one thread
        serial, _ = write_synthetic_queries(documents, settings(llm.url, concurrency=1), progress=False)
    assert pairs == serial


def test_retries_recover_from_429_and_500_and_honour_retry_after(llm):
    llm.fail(2, 429, headers={"Retry-After": "0"})
    llm.fail(1, 500, first=2)
    llm.fail(1, 503, first=3, headers={"Retry-After": "100"})  # capped by max_backoff_seconds
    started = time.monotonic()
    # back-off 30 s unless Retry-After (0, or 100 capped at 0.05 s) is honoured
    pairs, report = write_synthetic_queries(DOCUMENTS[:1], settings(llm.url, backoff_seconds=30.0), progress=False)
    assert time.monotonic() - started < 5
    assert len(pairs) == 1 and (report.requests, report.retries, report.failures) == (5, 4, {})
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0 and retry_after_seconds("soon") is None


def test_a_timeout_is_retried(llm):
    llm.fail(1, hang_seconds=5.0)
    pairs, report = write_synthetic_queries(DOCUMENTS[:1], settings(llm.url, timeout_seconds=0.3), progress=False)
    assert len(pairs) == 1 and report.retries == 1 and report.requests == 2


def test_failures_after_the_first_request_are_counted_not_raised(llm):
    llm.fail(2, 500, first=1)  # the second document fails both of its tries
    llm.fail(1, body=b"<html>oops</html>", first=4)
    documents = [*DOCUMENTS, Document("d4", "one more document")]
    pairs, report = write_synthetic_queries(documents, settings(llm.url, concurrency=1, retries=1), progress=False)
    assert report.failures == {"HTTP 500": 1, "bad JSON": 1}
    assert (len(pairs), report.requests, report.retries) == (2, 5, 1)


def test_the_request_cap_stops_requests_retries_included(llm):
    llm.fail(2, 500)
    documents = [Document(f"d{i}", f"text {i}") for i in range(10)]
    pairs, report = write_synthetic_queries(documents, settings(llm.url, max_requests=4, concurrency=2),
                                            progress=False)
    assert len(llm.requests) == 4 and report.requests == 4 and report.retries == 2
    assert report.cap_reached and len(pairs) == 2 and report.not_asked == 8
    assert "request cap reached, 8 queries not asked" in report.summary()


def test_a_rerun_reads_the_cache_and_makes_no_request(llm, tmp_path: Path):
    cache = tmp_path / "cache" / "queries.jsonl"
    first, _ = write_synthetic_queries(DOCUMENTS, settings(llm.url, cache_path=cache), progress=False)
    assert len(cache.read_text().splitlines()) == 3
    # another URL (a closed port): the key does not depend on it, so nothing is sent
    again, report = write_synthetic_queries(DOCUMENTS, settings(closed_port_url(), cache_path=cache), progress=False)
    assert again == first and (report.cache_hits, report.requests) == (3, 0) and len(llm.requests) == 3
    _, other_model = write_synthetic_queries(DOCUMENTS, settings(llm.url, cache_path=cache, model="m2"),
                                             progress=False)
    assert other_model.requests == 3 and len(llm.requests) == 6


def test_a_truncated_cache_line_is_tolerated_and_reported(llm, tmp_path: Path):
    cache = tmp_path / "queries.jsonl"
    first, _ = write_synthetic_queries(DOCUMENTS, settings(llm.url, cache_path=cache), progress=False)
    text = cache.read_text()
    cache.write_text(text[: len(text) - 20])  # the last line cut short, as by a crash mid-write
    again, report = write_synthetic_queries(DOCUMENTS, settings(llm.url, cache_path=cache), progress=False)
    assert report.cache_truncated_lines == 1 and (report.cache_hits, report.requests) == (2, 1)
    assert again == first
    assert [json.loads(line)["key"] for line in cache.read_text().splitlines()] == [
        json.loads(line)["key"] for line in text.splitlines()]  # the cut line dropped, then asked and appended again
    third, report = write_synthetic_queries(DOCUMENTS, settings(llm.url, cache_path=cache), progress=False)
    assert third == first and (report.cache_truncated_lines, report.cache_hits, report.requests) == (0, 3, 0)


def test_a_bad_cache_line_before_the_last_is_an_error(tmp_path: Path):
    cache = tmp_path / "queries.jsonl"
    cache.write_text('{"key": "a", "answer": "q"}\nnot json\n{"key": "b", "answer": "r"}\n')
    with pytest.raises(SyntheticQueryError, match=r"queries\.jsonl:2: not a cache line"):
        AnswerCache(cache)


def test_401_raises_at_once_naming_the_variable(llm, monkeypatch):
    monkeypatch.delenv("GTEKIT_TEST_LLM_KEY", raising=False)
    llm.fail(1, 401)
    with pytest.raises(SyntheticQueryError, match=r"HTTP 401.*set the environment variable GTEKIT_TEST_LLM_KEY"):
        write_synthetic_queries(DOCUMENTS, settings(llm.url), progress=False)
    assert len(llm.requests) == 1
    monkeypatch.setenv("GTEKIT_TEST_LLM_KEY", "sk-wrong")
    llm.fail(1, 403, first=1)
    with pytest.raises(SyntheticQueryError, match=r"403.*API key in \$GTEKIT_TEST_LLM_KEY was not accepted"):
        write_synthetic_queries(DOCUMENTS, settings(llm.url), progress=False)


def test_an_unreachable_url_fails_quickly_and_clearly():
    url = closed_port_url()
    started = time.monotonic()
    with pytest.raises(SyntheticQueryError, match=re.escape(f"cannot reach {url}/chat/completions after 3 tries")):
        write_synthetic_queries(DOCUMENTS, settings(url, retries=2), progress=False)
    assert time.monotonic() - started < 2


def test_a_response_that_is_not_chat_completions_names_the_url_and_shows_its_start(llm):
    llm.fail(1, body=b"<html>" + b"x" * 500)
    with pytest.raises(SyntheticQueryError, match="did not answer like an OpenAI") as raised:
        write_synthetic_queries(DOCUMENTS, settings(llm.url), progress=False)
    message = str(raised.value)
    assert llm.url in message and "<html>" + "x" * 194 in message and "x" * 195 not in message
    assert len(llm.requests) == 1  # not retried


def test_sampling_is_seeded():
    documents = [Document(f"d{i}", f"text {i}") for i in range(20)]
    with LLMStandIn() as llm:
        first, report = write_synthetic_queries(documents, settings(llm.url, max_documents=5, seed=1),
                                                progress=False)
        again, _ = write_synthetic_queries(documents, settings(llm.url, max_documents=5, seed=1), progress=False)
        other, _ = write_synthetic_queries(documents, settings(llm.url, max_documents=5, seed=2), progress=False)
    assert report.documents == 5 and first == again and first != other


@pytest.mark.parametrize("bad", [{"url": "localhost:8000"}, {"concurrency": 0}, {"max_requests": 0},
                                 {"prompt_template": "no text here"}, {"retries": -1}, {"timeout_seconds": 0}])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        settings(bad.pop("url", "http://h/v1"), **bad)
