"""POST /v1/embeddings through the official `openai` client: the same vectors as Embedder.encode,
float and base64, one text or many, Matryoshka truncation, usage counted by the model's tokenizer."""

from __future__ import annotations

import base64

import fastapi  # noqa: F401  (the server under test)
import httpx
import numpy as np
import openai
import pytest

TEXTS = ["a cat sat on the mat", "dogs bark", "the quick brown fox jumps over the lazy dog " * 3, "x"]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def client(server_url):
    return openai.OpenAI(base_url=f"{server_url}/v1", api_key="unused", max_retries=0)


def reference_tokens(model, text: str) -> int:
    """Tokens the model sees for ``text``: Embedder.tokenize's attention mask (special tokens, truncation)."""
    return int(model.tokenize([text])["attention_mask"].sum())


@pytest.mark.parametrize("encoding_format", ["float", "base64", None])
def test_list_matches_encode(client, served_model, encoding_format):
    options = {"encoding_format": encoding_format} if encoding_format else {}  # None: the client asks for base64
    response = client.embeddings.create(model="tiny", input=TEXTS, **options)
    assert [item.index for item in response.data] == list(range(len(TEXTS)))
    if encoding_format == "base64":  # asked for explicitly, the client hands back the strings as they came
        served = np.stack([np.frombuffer(base64.b64decode(item.embedding), dtype="<f4") for item in response.data])
    else:
        served = np.array([item.embedding for item in response.data])
    expected = served_model.encode(TEXTS)
    assert served.shape == expected.shape
    assert (cosines(served, expected) >= 0.999).all()
    np.testing.assert_allclose(served, expected, atol=1e-5)
    assert response.model == "tiny" and response.object == "list"
    tokens = sum(reference_tokens(served_model, text) for text in TEXTS)
    assert response.usage.prompt_tokens == response.usage.total_tokens == tokens


def test_single_string(client, served_model):
    response = client.embeddings.create(model="tiny-alias", input="dogs bark", encoding_format="float")
    assert len(response.data) == 1 and response.model == "tiny"
    assert cosines([response.data[0].embedding], served_model.encode(["dogs bark"]))[0] >= 0.999
    assert response.usage.prompt_tokens == reference_tokens(served_model, "dogs bark") == 4  # [CLS] dogs bark [SEP]


def test_base64_is_little_endian_float32(server_url, served_model):
    body = httpx.post(f"{server_url}/v1/embeddings", json={"model": "tiny", "input": TEXTS[:2],
                                                           "encoding_format": "base64"}).json()
    decoded = np.stack([np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4") for item in body["data"]])
    np.testing.assert_allclose(decoded, served_model.encode(TEXTS[:2]), atol=1e-5)


def test_usage_counts_tokens_after_truncation(client, served_model):
    long_text = "word " * 150  # far beyond the tiny model's max_seq_length of 64
    response = client.embeddings.create(model="tiny", input=[long_text, "dogs bark"], encoding_format="float")
    assert served_model.settings.max_seq_length == 64
    assert response.usage.prompt_tokens == 64 + 4


def test_dimensions_truncate_and_renormalise(client, served_model):
    response = client.embeddings.create(model="tiny", input=TEXTS, dimensions=8, encoding_format="float")
    served = np.array([item.embedding for item in response.data])
    full = served_model.encode(TEXTS)[:, :8]
    expected = full / np.linalg.norm(full, axis=1, keepdims=True)
    np.testing.assert_allclose(served, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(served, axis=1), 1.0, atol=1e-5)


def test_unknown_model_is_404_model_not_found(client):
    with pytest.raises(openai.NotFoundError) as raised:
        client.embeddings.create(model="text-embedding-3-small", input="dogs bark")
    assert raised.value.code == "model_not_found" and raised.value.param == "model"
    assert "`tiny`" in raised.value.body["message"]


def test_models_list_and_retrieve(client, server_url):
    assert [model.id for model in client.models.list()] == ["tiny"]
    assert client.models.retrieve("tiny-alias").id == "tiny"
    assert httpx.get(f"{server_url}/v1/models/other").json()["error"]["code"] == "model_not_found"


def test_input_type_adds_the_models_prefix(tiny_model_dir):
    from gtekit import Embedder
    from gtekit.serving.app import create_app
    from gtekit.serving.settings import ServerSettings
    from tests.serving.conftest import running_server

    model = Embedder.load(tiny_model_dir, query_prefix="query: ", document_prefix="passage: ")
    with running_server(create_app(model, ServerSettings(model_names=("tiny",)))) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        for kind in ("query", "document"):
            response = client.embeddings.create(model="tiny", input=TEXTS, encoding_format="float",
                                                extra_body={"input_type": kind})
            served = np.array([item.embedding for item in response.data])
            np.testing.assert_allclose(served, model.encode(TEXTS, kind=kind), atol=1e-5)
            assert not np.allclose(served, model.encode(TEXTS), atol=1e-3)
        plain = client.embeddings.create(model="tiny", input=TEXTS, encoding_format="float")
        np.testing.assert_allclose([item.embedding for item in plain.data], model.encode(TEXTS), atol=1e-5)
        listed = httpx.get(f"{url}/v1/models").json()["data"][0]["input_types"]
        assert listed == [{"input_type": "query", "prefix": "query: ", "template": "query: {text}"},
                          {"input_type": "document", "prefix": "passage: ", "template": "passage: {text}"}]
        assert httpx.get(f"{url}/v1/models/tiny").json()["input_types"] == listed
        for card in listed:  # what the card says is what the model embeds
            response = client.embeddings.create(model="tiny", input=TEXTS[:2], encoding_format="float",
                                                extra_body={"input_type": card["input_type"]})
            as_sent = [card["template"].replace("{text}", text) for text in TEXTS[:2]]
            np.testing.assert_allclose([item.embedding for item in response.data], model.encode(as_sent), atol=1e-5)


def test_models_list_input_types_without_prefixes(server_url):
    card = httpx.get(f"{server_url}/v1/models").json()["data"][0]
    assert card["input_types"] == [{"input_type": "query", "prefix": "", "template": "{text}"},
                                   {"input_type": "document", "prefix": "", "template": "{text}"}]


def test_health(server_url, served_model):
    health = httpx.get(f"{server_url}/health").json()
    assert health["status"] == "ok" and health["model"] == "tiny"
    assert health["dimension"] == served_model.dimension == 32
    assert health["uptime_s"] > 0 and health["queue_depth"] == 0 and health["index"] is None
    assert set(health["batching"]) >= {"requests", "texts", "model_calls", "largest_batch"}


def test_the_api_description_lists_the_routes(server_url):
    paths = httpx.get(f"{server_url}/openapi.json").json()["paths"]
    assert {"/v1/embeddings", "/search", "/v1/models", "/health"} <= set(paths)
