"""The request coalescer: concurrent requests share model calls, each gets its own rows back, large
requests span batches, failures and cancellations stay contained, stop() drains the queue."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import numpy as np
import pytest

from gtekit.serving.request_batching import BatchingEncoder, Overloaded, ShuttingDown

DIM = 4


def vector_of(text: str) -> np.ndarray:
    """A fake embedding that identifies its text: (number, length, 0, 1)."""
    return np.array([float(text.split("-")[-1]), len(text), 0.0, 1.0], dtype=np.float32)


class FakeModel:
    """Records each call's texts; may wait on an event (so jobs queue up) or fail on a marked text."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.started = 0  # calls begun (the worker may be waiting inside one)
        self.release = threading.Event()
        self.release.set()

    def __call__(self, texts: list[str]):
        self.started += 1
        self.release.wait(timeout=30)
        if any(text.startswith("fail") for text in texts):
            raise ValueError("this batch fails")
        self.calls.append(list(texts))
        return np.stack([vector_of(t) for t in texts]), np.array([len(t) for t in texts])


def run(coroutine_function, model, **options):
    async def main():
        batcher = BatchingEncoder(model, DIM, **options)
        await batcher.start()
        try:
            return await coroutine_function(batcher)
        finally:
            await batcher.stop()

    return asyncio.run(main())


async def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.001)


def test_concurrent_requests_share_model_calls_and_get_their_own_rows():
    model = FakeModel()

    async def scenario(batcher):
        model.release.clear()  # the first call blocks: the other requests pile up meanwhile
        requests = [[f"r{i}-{j}" for j in range(1 + i % 3)] for i in range(20)]
        tasks = [asyncio.create_task(batcher.encode(texts)) for texts in requests]
        await wait_until(lambda: batcher.stats.requests == 20)
        model.release.set()
        return requests, await asyncio.gather(*tasks), batcher.stats

    requests, results, stats = run(scenario, model, max_batch_size=8, max_wait_ms=50)
    for texts, result in zip(requests, results, strict=True):
        np.testing.assert_array_equal(result.embeddings, np.stack([vector_of(t) for t in texts]))
        np.testing.assert_array_equal(result.token_counts, [len(t) for t in texts])
    total = sum(map(len, requests))
    assert sorted(t for call in model.calls for t in call) == sorted(t for texts in requests for t in texts)
    assert stats.model_calls == len(model.calls) < len(requests)
    assert len(model.calls) <= 1 + -(-total // 8)  # the first call, then full batches
    assert max(map(len, model.calls)) == stats.largest_batch == 8 and stats.texts == total


def test_a_request_larger_than_a_batch_spans_several_in_order():
    model = FakeModel()
    texts = [f"t-{i}" for i in range(21)]
    result = run(lambda batcher: batcher.encode(texts), model, max_batch_size=8, max_wait_ms=0)
    assert [len(call) for call in model.calls] == [8, 8, 5]
    np.testing.assert_array_equal(result.embeddings[:, 0], np.arange(21))


def test_a_lone_request_waits_at_most_max_wait():
    model = FakeModel()

    async def scenario(batcher):
        started = time.monotonic()
        await batcher.encode(["only-1"])
        return time.monotonic() - started

    assert run(scenario, model, max_batch_size=8, max_wait_ms=30) >= 0.025
    assert model.calls == [["only-1"]]


def test_a_failing_batch_is_retried_request_by_request_so_only_the_guilty_one_fails():
    model = FakeModel()

    async def scenario(batcher):
        model.release.clear()
        first = asyncio.create_task(batcher.encode(["a-1"]))
        await wait_until(lambda: model.started == 1)
        batched = [asyncio.create_task(batcher.encode(texts)) for texts in (["b-2"], ["fail-3"], ["c-4", "d-5"])]
        await wait_until(lambda: batcher.stats.requests == 4)
        model.release.set()
        outcomes = await asyncio.gather(first, *batched, return_exceptions=True)
        later = await batcher.encode(["e-6"])
        return outcomes, later, batcher.stats

    (first, innocent, guilty, innocent_too), later, stats = run(scenario, model, max_batch_size=8, max_wait_ms=20)
    assert first.embeddings[0, 0] == 1
    assert isinstance(guilty, ValueError)
    np.testing.assert_array_equal(innocent.embeddings, [vector_of("b-2")])  # coalesced with the guilty one
    np.testing.assert_array_equal(innocent_too.embeddings, [vector_of("c-4"), vector_of("d-5")])
    assert later.embeddings[0, 0] == 6
    assert model.calls[1:3] == [["b-2"], ["c-4", "d-5"]] and stats.isolated_retries == 1


def test_a_failing_request_spanning_batches_fails_alone():
    model = FakeModel()

    async def scenario(batcher):
        model.release.clear()
        first = asyncio.create_task(batcher.encode(["a-1"]))
        await wait_until(lambda: model.started == 1)
        large = asyncio.create_task(batcher.encode([f"l-{i}" for i in range(5)] + ["fail-9"]))
        small = asyncio.create_task(batcher.encode(["s-7"]))
        await wait_until(lambda: batcher.stats.requests == 3)
        model.release.set()
        return await asyncio.gather(first, large, small, return_exceptions=True), batcher.queued_texts

    (_, large, small), queued = run(scenario, model, max_batch_size=4, max_wait_ms=20)
    assert isinstance(large, ValueError) and queued == 0
    np.testing.assert_array_equal(small.embeddings, [vector_of("s-7")])


def test_cancelled_requests_are_skipped():
    model = FakeModel()

    async def scenario(batcher):
        model.release.clear()
        first = asyncio.create_task(batcher.encode(["a-1"]))
        await wait_until(lambda: model.started == 1)
        gone = asyncio.create_task(batcher.encode(["gone-2", "gone-3"]))
        kept = asyncio.create_task(batcher.encode(["kept-4"]))
        await wait_until(lambda: batcher.queued_texts == 3)
        gone.cancel()
        model.release.set()
        await first
        result = await kept
        return result, batcher.queued_texts

    result, queued = run(scenario, model, max_batch_size=8, max_wait_ms=5)
    assert result.embeddings[0, 0] == 4 and queued == 0
    assert [t for call in model.calls for t in call] == ["a-1", "kept-4"]


def test_a_full_queue_refuses_with_overloaded():
    model = FakeModel()

    async def scenario(batcher):
        model.release.clear()
        first = asyncio.create_task(batcher.encode(["a-1"]))
        await wait_until(lambda: model.started == 1)
        queued = asyncio.create_task(batcher.encode([f"q-{i}" for i in range(10)]))
        await wait_until(lambda: batcher.queued_texts == 10)
        with pytest.raises(Overloaded):
            await batcher.encode(["one-too-many-11"])
        model.release.set()
        await asyncio.gather(first, queued)
        return batcher.stats.rejected_overloaded

    assert run(scenario, model, max_batch_size=4, max_wait_ms=0, max_queued_texts=10) == 1


def test_stop_finishes_queued_jobs_then_refuses_new_ones():
    model = FakeModel()

    async def main():
        batcher = BatchingEncoder(model, DIM, max_batch_size=4, max_wait_ms=1000)
        await batcher.start()
        model.release.clear()
        tasks = [asyncio.create_task(batcher.encode([f"j-{i}", f"k-{i}", f"l-{i}"])) for i in range(5)]
        await wait_until(lambda: batcher.stats.requests == 5)
        stopping = asyncio.create_task(batcher.stop())
        await asyncio.sleep(0.01)
        with pytest.raises(ShuttingDown):
            await batcher.encode(["late-0"])
        model.release.set()
        await stopping
        return await asyncio.gather(*tasks)

    results = asyncio.run(main())
    assert [r.embeddings[0, 0] for r in results] == [0, 1, 2, 3, 4]
    assert sum(map(len, model.calls)) == 15


def test_concurrent_http_requests_are_coalesced(gated_server, served_model):
    """N concurrent requests over HTTP: fewer model calls than N (counted in /health), right rows for each."""
    url, gate = gated_server
    requests = [[f"request {i} sentence {j}" for j in range(1 + i % 3)] for i in range(12)]
    before = httpx.get(f"{url}/health").json()["batching"]

    async def send_all():
        async with httpx.AsyncClient(timeout=60) as client:
            tasks = [asyncio.create_task(client.post(f"{url}/v1/embeddings", json={"model": "tiny", "input": texts}))
                     for texts in requests]
            while (await client.get(f"{url}/health")).json()["batching"]["requests"] < before["requests"] + 12:
                await asyncio.sleep(0.01)
            gate.open_event.set()
            return await asyncio.gather(*tasks)

    gate.open_event.clear()
    try:
        responses = asyncio.run(send_all())
    finally:
        gate.open_event.set()
    after = httpx.get(f"{url}/health").json()["batching"]
    calls = after["model_calls"] - before["model_calls"]
    assert 1 <= calls < len(requests)
    assert after["texts"] - before["texts"] == sum(map(len, requests))
    for texts, response in zip(requests, responses, strict=True):
        served = np.array([item["embedding"] for item in response.json()["data"]])
        expected = served_model.encode(texts)
        cosine = np.sum(served * expected, axis=1) / np.linalg.norm(served, axis=1) / np.linalg.norm(expected, axis=1)
        assert (cosine >= 0.999).all()
