"""Errors in OpenAI's body {"error": {"message", "type", "param", "code"}}: 413 for too many inputs or
too large a body, 422 (400 for broken JSON) for invalid input, 401 for a missing or wrong key."""

from __future__ import annotations

import json

import fastapi  # noqa: F401  (the server under test)
import httpx
import openai
import pytest


def error_of(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and error["type"] == "invalid_request_error"
    return error


def post(url: str, body, headers: dict | None = None, **options) -> httpx.Response:
    """POST ``body`` as JSON with ASCII escapes (httpx's ``json=`` cannot send a lone surrogate)."""
    return httpx.post(f"{url}/v1/embeddings", content=json.dumps(body).encode(), timeout=30,
                      headers={"Content-Type": "application/json", **(headers or {})}, **options)


def test_too_many_inputs_is_413(server_url):
    error = error_of(post(server_url, {"model": "tiny", "input": ["a"] * 17}), 413)  # the limit is 16
    assert error["code"] == "too_many_inputs" and error["param"] == "input" and "16" in error["message"]
    assert post(server_url, {"model": "tiny", "input": ["a"] * 16}).status_code == 200


def test_body_above_the_byte_limit_is_413(server_url):
    big = {"model": "tiny", "input": ["word " * 150] * 6}  # ~4.5 kB, the limit is 4096 bytes
    error = error_of(post(server_url, big), 413)
    assert error["code"] == "request_too_large" and "4,096" in error["message"]
    pieces = [b'{"model": "tiny", "input": "', b"w" * 5000, b'"}']
    chunked = httpx.post(f"{server_url}/v1/embeddings", content=iter(pieces),
                         headers={"Content-Type": "application/json"})
    assert chunked.request.headers["transfer-encoding"] == "chunked"  # no Content-Length: counted while read
    assert error_of(chunked, 413)["code"] == "request_too_large"


@pytest.mark.parametrize(("body", "param", "code", "says"), [
    ({"model": "tiny", "input": ""}, "input", "empty_input", "input[0] is empty or whitespace only"),
    ({"model": "tiny", "input": ["ok", ""]}, "input", "empty_input", "input[1]"),
    ({"model": "tiny", "input": ["ok", " \t\n"]}, "input", "empty_input", "input[1] is empty or whitespace"),
    ({"model": "tiny", "input": ["ok", "x", "\ud800"]}, "input", "invalid_input", "input[2] holds a lone surrogate"),
    ({"model": "tiny", "input": "a \udc00 b"}, "input", "invalid_input", "U+DC00 at character 2"),
    ({"model": "tiny", "input": []}, "input", "invalid_input", "empty list"),
    ({"model": "tiny", "input": "w" * 1001}, "input", "input_too_long", "1,000"),
    ({"model": "tiny", "input": ["ok", 3]}, "input", "invalid_input", "input[1] must be a string"),
    ({"model": "tiny", "input": {"text": "ok"}}, "input", "invalid_input", "got dict"),
    ({"model": "tiny", "input": [101, 2000, 102]}, "input", "token_ids_unsupported", "token ids"),
    ({"model": "tiny", "input": [[101, 2000, 102]]}, "input", "token_ids_unsupported", "send text"),
    ({"model": "tiny"}, "input", "invalid_value", "required"),
    ({"input": "ok"}, "model", "invalid_value", "required"),
    ({"model": "tiny", "input": "ok", "encoding_format": "hex"}, "encoding_format", "invalid_value", "'base64'"),
    ({"model": "tiny", "input": "ok", "dimensions": 0}, "dimensions", "invalid_value", "between 1 and 32"),
    ({"model": "tiny", "input": "ok", "dimensions": 33}, "dimensions", "invalid_value", "between 1 and 32"),
    ({"model": "tiny", "input": "ok", "input_type": "passage"}, "input_type", "invalid_value", "'document'"),
])
def test_invalid_input_is_422(server_url, body, param, code, says):
    error = error_of(post(server_url, body), 422)
    assert (error["param"], error["code"]) == (param, code)
    assert says in error["message"]


def test_broken_json_is_400(server_url):
    response = httpx.post(f"{server_url}/v1/embeddings", content=b'{"model": "tiny", "input": ',
                          headers={"Content-Type": "application/json"})
    assert error_of(response, 400)["code"] == "invalid_json"


def test_unknown_route_has_the_error_body(server_url):
    assert error_of(httpx.get(f"{server_url}/v2/nothing"), 404)["code"] == "not_found"


def test_search_without_an_index_is_404(server_url):
    error = error_of(httpx.post(f"{server_url}/search", json={"query": "cats", "k": 3}), 404)
    assert error["code"] == "no_index" and "--index" in error["message"]


@pytest.fixture(scope="module")
def keyed_url(served_model):
    from gtekit.serving.app import create_app
    from gtekit.serving.settings import ServerSettings
    from tests.serving.conftest import running_server

    with running_server(create_app(served_model, ServerSettings(model_names=("tiny",), api_key="s3cret"))) as url:
        yield url


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"},
                                     {"Authorization": "Basic s3cret"}])
def test_missing_or_wrong_key_is_401(keyed_url, headers):
    response = post(keyed_url, {"model": "tiny", "input": "ok"}, headers=headers)
    error = error_of(response, 401)
    assert error["code"] == "invalid_api_key" and response.headers["www-authenticate"] == "Bearer"
    assert error_of(httpx.get(f"{keyed_url}/v1/models", headers=headers), 401)["code"] == "invalid_api_key"


@pytest.mark.parametrize("keys", [("Bearer wrong", "Bearer s3cret"), ("Bearer s3cret", "Bearer wrong"),
                                  ("Bearer s3cret", "Bearer s3cret")])
def test_two_authorization_headers_are_refused(keyed_url, keys):
    headers = [("Content-Type", "application/json")] + [("Authorization", key) for key in keys]
    response = httpx.post(f"{keyed_url}/v1/embeddings", content=b'{"model": "tiny", "input": "ok"}', headers=headers)
    assert response.request.headers.get_list("authorization") == list(keys)
    error = error_of(response, 400)
    assert error["code"] == "invalid_authorization" and "2 Authorization headers" in error["message"]


def test_the_key_is_checked_before_the_body(keyed_url):
    response = post(keyed_url, {"model": "tiny", "input": ["a"] * 100_000})  # far above every limit
    assert error_of(response, 401)["code"] == "invalid_api_key"


def test_right_key_passes_and_health_stays_open(keyed_url):
    client = openai.OpenAI(base_url=f"{keyed_url}/v1", api_key="s3cret", max_retries=0)
    assert len(client.embeddings.create(model="tiny", input=["a", "b"]).data) == 2
    with pytest.raises(openai.AuthenticationError) as raised:
        openai.OpenAI(base_url=f"{keyed_url}/v1", api_key="wrong", max_retries=0).embeddings.create(
            model="tiny", input="a")
    assert raised.value.code == "invalid_api_key"
    assert httpx.get(f"{keyed_url}/health").json()["status"] == "ok"


def test_api_key_from_the_environment(monkeypatch):
    from gtekit.serving.settings import api_key_from

    monkeypatch.setenv("GTEKIT_API_KEY", "from-env")
    assert api_key_from(None) == "from-env" and api_key_from("given") == "given"
    monkeypatch.setenv("GTEKIT_API_KEY", "")
    assert api_key_from(None) is None
