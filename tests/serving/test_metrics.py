"""GET /metrics: Prometheus text parsed back after real requests; counters equal what was sent, 4xx counted
with their status, histogram counts equal the model calls; the API key; 501 without prometheus-client."""

from __future__ import annotations

import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gtekit.serving.settings import ServerSettings
from tests.serving.conftest import running_server


def scrape(url: str, headers: dict | None = None) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} of ``GET /metrics``, parsed by prometheus-client's own parser."""
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def metrics_server(served_model, index_dir):
    from gtekit.search import SearchIndex
    from gtekit.serving.app import create_app

    settings = ServerSettings(model_names=("tiny",), max_inputs_per_request=8, max_wait_ms=0)
    with running_server(create_app(served_model, settings, SearchIndex.load(index_dir))) as url:
        yield url


def test_counters_and_histograms_match_the_requests_sent(metrics_server):
    url = metrics_server
    inputs = [["a cat", "a dog"], "one text", ["x", "the quick brown fox", "jumps"]]
    tokens = 0
    for texts in inputs:
        response = httpx.post(f"{url}/v1/embeddings", json={"model": "tiny", "input": texts}, timeout=30)
        assert response.status_code == 200
        tokens += response.json()["usage"]["prompt_tokens"]
    assert httpx.post(f"{url}/v1/embeddings", json={"model": "tiny", "input": ["ok", " "]}).status_code == 422
    assert httpx.post(f"{url}/v1/embeddings", json={"model": "other", "input": "ok"}).status_code == 404
    assert httpx.post(f"{url}/v1/embeddings", json={"model": "tiny", "input": ["a"] * 9}).status_code == 413
    search = httpx.post(f"{url}/search", json={"query": ["cats", "bread"], "k": 2}, timeout=30)
    assert search.status_code == 200
    assert httpx.get(f"{url}/no/such/route").status_code == 404
    assert httpx.get(f"{url}/v1/models/tiny").status_code == 200
    batching = httpx.get(f"{url}/health").json()["batching"]

    samples = scrape(url)
    requests = "gtekit_requests_total"
    assert value(samples, requests, route="/v1/embeddings", status="200") == 3
    assert value(samples, requests, route="/v1/embeddings", status="422") == 1
    assert value(samples, requests, route="/v1/embeddings", status="404") == 1
    assert value(samples, requests, route="/v1/embeddings", status="413") == 1
    assert value(samples, requests, route="/search", status="200") == 1
    assert value(samples, requests, route="unmatched", status="404") == 1
    assert value(samples, requests, route="/v1/models/{name:path}", status="200") == 1
    assert value(samples, requests, route="/health", status="200") == 1
    assert value(samples, "gtekit_request_duration_seconds_count", route="/v1/embeddings") == 6
    assert value(samples, "gtekit_request_duration_seconds_sum", route="/v1/embeddings") > 0

    assert value(samples, "gtekit_embedded_texts_total", route="/v1/embeddings") == 6
    assert value(samples, "gtekit_embedded_tokens_total", route="/v1/embeddings") == tokens
    assert value(samples, "gtekit_embedded_texts_total", route="/search") == 2
    assert value(samples, "gtekit_embedded_tokens_total", route="/search") == search.json()["usage"]["prompt_tokens"]

    assert batching["texts"] == 8
    for histogram in ("gtekit_batch_size_texts", "gtekit_batch_padded_tokens", "gtekit_model_forward_duration_seconds"):
        assert value(samples, f"{histogram}_count") == batching["model_calls"] >= 4
        assert value(samples, f"{histogram}_bucket", le="+Inf") == batching["model_calls"]
    assert value(samples, "gtekit_batch_size_texts_sum") == 8
    assert value(samples, "gtekit_batch_size_texts_bucket", le="1.0") >= 1  # "one text" went alone
    assert value(samples, "gtekit_batch_padded_tokens_sum") >= tokens
    assert value(samples, "gtekit_model_forward_duration_seconds_sum") > 0
    assert value(samples, "gtekit_queue_depth_texts") == 0

    again = scrape(url)  # the first scrape is counted by the second
    assert value(again, requests, route="/metrics", status="200") == 1
    assert value(again, requests, route="/v1/embeddings", status="200") == 3


def test_each_app_counts_on_its_own_registry(metrics_server, served_model):
    from gtekit.serving.app import create_app

    with running_server(create_app(served_model, ServerSettings(model_names=("tiny",)))) as url:
        assert httpx.post(f"{url}/v1/embeddings", json={"model": "tiny", "input": "a"}).status_code == 200
        samples = scrape(url)
    assert value(samples, "gtekit_requests_total", route="/v1/embeddings", status="200") == 1
    assert value(samples, "gtekit_embedded_texts_total", route="/v1/embeddings") == 1


@pytest.mark.parametrize("public", [False, True])
def test_metrics_follow_the_api_key_unless_public(served_model, public):
    from gtekit.serving.app import create_app

    settings = ServerSettings(model_names=("tiny",), api_key="secret", metrics_public=public)
    key = {"Authorization": "Bearer secret"}
    with running_server(create_app(served_model, settings)) as url:
        anonymous = httpx.get(f"{url}/metrics")
        assert anonymous.status_code == (200 if public else 401)
        assert httpx.post(f"{url}/v1/embeddings", json={"model": "tiny", "input": "a"}).status_code == 401
        samples = scrape(url, headers=key)
    assert value(samples, "gtekit_requests_total", route="/metrics", status="401") == (0 if public else 1)
    assert value(samples, "gtekit_requests_total", route="/v1/embeddings", status="401") == 1


def test_without_prometheus_client_metrics_answer_501_and_the_rest_works(served_model, monkeypatch):
    from gtekit.serving.app import create_app

    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # `import prometheus_client` raises ImportError
    with running_server(create_app(served_model, ServerSettings(model_names=("tiny",)))) as url:
        response = httpx.get(f"{url}/metrics")
        assert response.status_code == 501
        error = response.json()["error"]
        assert error["code"] == "metrics_unavailable" and "pip install 'gtekit[serve]'" in error["message"]
        assert "prometheus-client" in error["message"]
        embedded = httpx.post(f"{url}/v1/embeddings", json={"model": "tiny", "input": ["a", "b"]}, timeout=30)
        assert embedded.status_code == 200 and len(embedded.json()["data"]) == 2
        assert httpx.get(f"{url}/health").json()["batching"]["texts"] == 2
