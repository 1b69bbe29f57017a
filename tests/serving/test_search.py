"""POST /search over a real gtekit.search folder: the hits of exact cosine search with the model's query
and document embeddings (numpy as the reference), ids and texts included."""

from __future__ import annotations

import json

import fastapi  # noqa: F401  (the server under test)
import httpx
import numpy as np
import pytest

from tests.serving.conftest import DOCUMENTS

QUERIES = ["pets at home", "baking", "how do I write a function"]


@pytest.fixture(scope="module")
def search_url(served_model, index_dir):
    from gtekit.search import SearchIndex
    from gtekit.serving.app import create_app
    from gtekit.serving.settings import ServerSettings
    from tests.serving.conftest import running_server

    app = create_app(served_model, ServerSettings(model_names=("tiny",), max_k=20), SearchIndex.load(index_dir))
    with running_server(app) as url:
        yield url


def exact_scores(model, queries: list[str]) -> np.ndarray:
    """Reference: the cosine of every (query, document) pair in numpy, (Q, N)."""
    q, d = model.encode(queries, kind="query"), model.encode(DOCUMENTS, kind="document")
    q, d = q / np.linalg.norm(q, axis=1, keepdims=True), d / np.linalg.norm(d, axis=1, keepdims=True)
    return q @ d.T


@pytest.mark.parametrize("rescore", [None, False])
def test_search_returns_the_exact_top_k(search_url, served_model, rescore):
    body = httpx.post(f"{search_url}/search", json={"query": QUERIES, "k": 5, "rescore": rescore}).json()
    reference = exact_scores(served_model, QUERIES)  # (Q, N)
    assert [result["index"] for result in body["data"]] == [0, 1, 2] and body["model"] == "tiny"
    for result, row in zip(body["data"], reference, strict=True):
        served = np.array([hit["score"] for hit in result["hits"]])
        np.testing.assert_allclose(served, np.sort(row)[::-1][:5], atol=1e-5)  # the 5 best scores, in order
        for hit in result["hits"]:  # ... each of the document it names
            document = int(hit["id"].removeprefix("doc-"))
            assert hit["score"] == pytest.approx(row[document], abs=1e-5)
            assert hit["text"] == DOCUMENTS[document]
    assert body["usage"]["prompt_tokens"] == sum(int(served_model.tokenize([q])["attention_mask"].sum())
                                                 for q in QUERIES)


def test_rescore_without_a_rescore_store_is_422(search_url):
    response = httpx.post(f"{search_url}/search", json={"query": "pets", "k": 3, "rescore": True})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "rescore" and "rescore store" in response.json()["error"]["message"]


def test_single_query_and_k_beyond_the_index(search_url):
    body = httpx.post(f"{search_url}/search", json={"query": "pets", "k": 20}).json()
    assert len(body["data"]) == 1
    hits = body["data"][0]["hits"]
    assert len(hits) == 20 and [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_search_limits(search_url):
    too_many = httpx.post(f"{search_url}/search", json={"query": "pets", "k": 21})
    assert too_many.status_code == 422 and too_many.json()["error"]["param"] == "k"
    for body, param in [({"query": "", "k": 3}, "query"), ({"query": [], "k": 3}, "query"),
                        ({"query": "pets", "k": 0}, "k")]:
        response = httpx.post(f"{search_url}/search", json=body)
        assert response.status_code == 422 and response.json()["error"]["param"] == param


@pytest.mark.parametrize(("query", "code", "says"), [
    (["pets", "\ud800"], "invalid_input", "query[1] holds a lone surrogate U+D800"),
    (["pets", " \t "], "empty_input", "query[1] is empty or whitespace only"),
])
def test_a_query_that_cannot_be_embedded_is_422_naming_it(search_url, query, code, says):
    body = json.dumps({"query": query, "k": 3}).encode()  # ASCII escapes: httpx's json= cannot send a surrogate
    response = httpx.post(f"{search_url}/search", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == ("query", code) and error["message"].startswith(says)


def test_health_describes_the_index(search_url, tiny_model_dir):
    assert httpx.get(f"{search_url}/health").json()["index"] == {"documents": len(DOCUMENTS), "dimension": 32,
                                                                  "model": str(tiny_model_dir)}


def test_an_index_of_another_dimension_is_refused(served_model, tmp_path):
    from gtekit.search import ArrayShards, SearchIndex, build_index
    from gtekit.serving.app import create_app
    from gtekit.serving.settings import ServerSettings

    build_index(ArrayShards(np.eye(16, dtype=np.float32), model="other-model"), tmp_path / "other")
    with pytest.raises(ValueError, match=r"16-dimensional.*32-dimensional.*other-model"):
        create_app(served_model, ServerSettings(model_names=("tiny",)), SearchIndex.load(tmp_path / "other"))
