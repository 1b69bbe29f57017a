"""Hostile or broken requests: each is refused alone, with its own status and stable ``code``, and never
takes down the requests batched with it nor the server.

- A text that cannot be embedded (lone surrogate, empty, whitespace only) is a 422 naming its index
  before it joins a batch; the requests coalesced with it get their embeddings.
- A batch whose model call fails anyway is encoded again request by request: only the guilty one fails.
- Bodies that are not JSON, not UTF-8, too deep or with a 5,000-digit number are 400s (415 without a JSON
  Content-Type), each with its code; a 500 shows a request id, never the exception.
- Numbers and booleans are strict: ``"dimensions": "12"`` is a 422.
"""

from __future__ import annotations

import asyncio
import json
import logging

import fastapi  # noqa: F401  (the server under test)
import httpx
import numpy as np
import pytest

from tests.serving.conftest import running_server

POISON_ESCAPED = b'{"model": "tiny", "input": ["fine", "also fine", "bad \\ud800 text", "ok"]}'
POISON_RAW = b'{"model": "tiny", "input": ["fine", "also fine", "bad \xed\xa0\x80 text", "ok"]}'  # UTF-8 of U+D800
POISON_LOW = b'{"model": "tiny", "input": ["fine", "also fine", "\\udc00", "ok"]}'
FAILS_IN_MODEL = "boom: the model refuses this one"  # passes validation; the encode function raises on it
EXPLODES = "explode: the model crashes on this one"
SECRET = "secret internal detail 7f3a"


class Recorder:
    """The tiny model's encode function, recording each call's texts; raises like the tokenizer on
    FAILS_IN_MODEL, and with SECRET in its message on EXPLODES."""

    def __init__(self, encode) -> None:
        self.encode, self.calls = encode, []

    def __call__(self, texts: list[str]):
        self.calls.append(list(texts))
        if FAILS_IN_MODEL in texts:
            raise TypeError("TextEncodeInput must be Union[TextInputSequence, Tuple[InputSequence, InputSequence]]")
        if EXPLODES in texts:
            raise RuntimeError(SECRET)
        return self.encode(texts)


@pytest.fixture(scope="module")
def coalescing_server(served_model):
    """The tiny model as ``tiny``; a lone request waits 250 ms for companions, so concurrent ones share a batch."""
    from gtekit.serving.app import create_app, model_encode_function
    from gtekit.serving.settings import ServerSettings

    settings = ServerSettings(model_names=("tiny",), max_batch_size=64, max_wait_ms=250)
    recorder = Recorder(model_encode_function(served_model, settings.max_batch_size))
    with running_server(create_app(served_model, settings, encode=recorder), settings) as url:
        yield url, recorder


def raw_post(url: str, body: bytes, path: str = "/v1/embeddings", content_type: str | None = "application/json",
             **options) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return httpx.post(f"{url}{path}", content=body, headers=headers, timeout=30, **options)


def error_of(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code, error
    return error


def send_together(url: str, bodies: list[bytes]) -> list[httpx.Response]:
    """POST every body at once (one connection each), so that the server coalesces them."""

    async def main():
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=len(bodies))) as client:
            return await asyncio.gather(*(client.post(f"{url}/v1/embeddings", content=body,
                                                      headers={"Content-Type": "application/json"})
                                          for body in bodies))

    return asyncio.run(main())


def innocent_bodies(count: int) -> tuple[list[list[str]], list[bytes]]:
    texts = [[f"request {i} text {j}" for j in range(1 + i % 3)] for i in range(count)]
    return texts, [json.dumps({"model": "tiny", "input": t}).encode() for t in texts]


def assert_embeddings(response: httpx.Response, texts: list[str], model) -> None:
    assert response.status_code == 200, response.text
    served = np.array([item["embedding"] for item in response.json()["data"]])
    np.testing.assert_allclose(served, model.encode(texts), atol=1e-5)


@pytest.mark.parametrize("poison", [POISON_ESCAPED, POISON_RAW, POISON_LOW], ids=["escaped", "raw-bytes", "low"])
def test_a_lone_surrogate_fails_its_request_alone(coalescing_server, served_model, poison):
    url, recorder = coalescing_server
    texts, bodies = innocent_bodies(6)
    calls_before = len(recorder.calls)
    responses = send_together(url, [*bodies[:3], poison, *bodies[3:]])
    error = error_of(responses[3], 422, "invalid_input")
    assert error["param"] == "input" and error["message"].startswith("input[2] holds a lone surrogate U+D")
    for request_texts, response in zip(texts, responses[:3] + responses[4:], strict=True):
        assert_embeddings(response, request_texts, served_model)
    new_calls = recorder.calls[calls_before:]
    assert len(new_calls) < len(bodies)  # coalesced: the innocent requests did share model calls
    assert all(text.encode("utf-8") for call in new_calls for text in call)  # the poison never reached the model


def test_a_batch_failing_in_the_model_is_retried_request_by_request(coalescing_server, served_model):
    url, recorder = coalescing_server
    texts, bodies = innocent_bodies(5)
    guilty = json.dumps({"model": "tiny", "input": ["an innocent text", FAILS_IN_MODEL]}).encode()
    before = httpx.get(f"{url}/health").json()["batching"]
    calls_before = len(recorder.calls)
    responses = send_together(url, [*bodies[:2], guilty, *bodies[2:]])
    error = error_of(responses[2], 500, "internal_error")
    assert error["type"] == "server_error" and "TextEncodeInput" not in error["message"]
    for request_texts, response in zip(texts, responses[:2] + responses[3:], strict=True):
        assert_embeddings(response, request_texts, served_model)
    assert any(FAILS_IN_MODEL in call and len(call) > 2 for call in recorder.calls[calls_before:])  # one batch
    after = httpx.get(f"{url}/health").json()["batching"]
    assert after["isolated_retries"] > before["isolated_retries"]


def test_a_500_shows_a_request_id_not_the_exception(coalescing_server, caplog):
    url, _ = coalescing_server
    with caplog.at_level(logging.ERROR, logger="gtekit.serving"):
        response = raw_post(url, json.dumps({"model": "tiny", "input": EXPLODES}).encode())
    error = error_of(response, 500, "internal_error")
    request_id = response.headers["x-request-id"]
    assert SECRET not in response.text and "RuntimeError" not in response.text
    assert request_id in error["message"] and len(request_id) == 16
    logged = "\n".join(record.getMessage() + str(record.exc_info) for record in caplog.records)
    assert request_id in logged and SECRET in logged


@pytest.mark.parametrize(("content_type", "says"), [(None, "none"), ("text/plain", "text/plain"),
                                                    ("application/x-www-form-urlencoded", "x-www-form")])
def test_a_body_without_a_json_content_type_is_415_with_a_hint(coalescing_server, content_type, says):
    response = raw_post(coalescing_server[0], b'{"model": "tiny", "input": "a"}', content_type=content_type)
    error = error_of(response, 415, "unsupported_media_type")
    assert "Content-Type: application/json" in error["message"] and says in error["message"]


def test_json_content_types_with_parameters_are_accepted(coalescing_server):
    for content_type in ("application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"):
        assert raw_post(coalescing_server[0], b'{"model": "tiny", "input": "a"}',
                        content_type=content_type).status_code == 200


@pytest.mark.parametrize(("body", "code", "says"), [
    (b'{"model": "tiny", "input": "caf\xe9"}', "invalid_utf8", "byte 0xE9 at offset 31"),
    (b'{"model": "tiny", "input": "a", "dimensions": ' + b"1" * 5000 + b"}", "number_too_long", "4,300 digits"),
    (b'{"model": "tiny", "input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nesting_too_deep", "nested"),
    (b'{"model": "tiny", "input": "a", "dimensions": NaN}', "invalid_json", "NaN is not a JSON value"),
    (b'{"model": "tiny", "input": ', "invalid_json", "line 1, column 28"),
    (b"", "empty_body", "Content-Type: application/json"),
    (b'["a", "b"]', "invalid_json", "must be a JSON object, got an array"),
    (b'"a"', "invalid_json", "got a string"),
])
def test_unreadable_bodies_are_400_with_a_code(coalescing_server, body, code, says):
    error = error_of(raw_post(coalescing_server[0], body), 400, code)
    assert says in error["message"], error["message"]
    assert httpx.get(f"{coalescing_server[0]}/health").json()["status"] == "ok"


@pytest.mark.parametrize("depth", [100, 900, 990])
def test_deep_nesting_within_the_parsers_reach_is_a_client_error(coalescing_server, depth):
    url = coalescing_server[0]
    for field in ("input", "model", "dimensions", "user", "extra"):
        body = {"model": "tiny", "input": "a", field: "DEEP"}
        text = json.dumps(body).replace('"DEEP"', "[" * depth + "]" * depth)
        response = raw_post(url, text.encode())
        assert 400 <= response.status_code < 500 or (field == "extra" and response.status_code == 200), response.text
        if response.status_code != 200:
            assert response.json()["error"]["code"], response.text
    assert httpx.get(f"{url}/health").json()["status"] == "ok"


@pytest.mark.parametrize(("field", "value"), [("dimensions", "12"), ("dimensions", 12.0), ("dimensions", True)])
def test_numbers_are_strict(coalescing_server, field, value):
    body = json.dumps({"model": "tiny", "input": "a", field: value}).encode()
    error = error_of(raw_post(coalescing_server[0], body), 422, "invalid_value")
    assert error["param"] == field


@pytest.mark.parametrize(("field", "value"), [("k", "3"), ("k", 3.0), ("rescore", "true"), ("rescore", 1)])
def test_search_numbers_and_booleans_are_strict(coalescing_server, field, value):
    body = json.dumps({"query": "a", field: value}).encode()
    error = error_of(raw_post(coalescing_server[0], body, path="/search"), 422, "invalid_value")
    assert error["param"] == field


def test_an_unknown_model_name_is_quoted_safely(coalescing_server):
    response = raw_post(coalescing_server[0], b'{"model": "bad \\ud800 name' + b"x" * 5000 + b'", "input": "a"}')
    error = error_of(response, 404, "model_not_found")
    assert "\\ud800" in response.text and len(error["message"]) < 400


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/v1/embeddings", 405), ("DELETE", "/health", 405),
                                                        ("GET", "/nowhere", 404), ("PUT", "/v1/models", 405)])
def test_every_client_error_has_a_code(coalescing_server, method, path, status):
    response = httpx.request(method, f"{coalescing_server[0]}{path}", timeout=30)
    assert response.status_code == status and response.json()["error"]["code"]


def test_error_bodies_always_have_a_code_for_client_errors():
    from gtekit.serving.errors import error_response

    for status in (400, 401, 403, 404, 405, 408, 409, 413, 415, 418, 422, 429, 451):
        assert json.loads(error_response(status, "x").body)["error"]["code"]
    assert json.loads(error_response(500, "x").body)["error"]["code"] is None
