"""Batches bounded by padded tokens (``--max-batch-tokens``): every model call holds at most the budget
(texts x longest text's tokens) or a single text, texts keep their arrival order, and the embeddings
equal those of each text encoded alone."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

from gtekit.serving.request_batching import BatchingEncoder
from gtekit.serving.settings import ServerSettings
from tests.serving.test_batching import DIM, FakeModel, vector_of, wait_until


def tokens_of(texts: list[str]) -> np.ndarray:
    """The fake model's token count of a text: its length in characters."""
    return np.array([len(text) for text in texts])


def padded(call: list[str]) -> int:
    return len(call) * max(map(len, call))


def run_budgeted(requests: list[list[str]], budget: int, max_batch_size: int = 8):
    """Queue ``requests`` while the model is busy with a first call, then let them through; returns the
    results and the model's calls after the first."""
    model = FakeModel()

    async def main():
        batcher = BatchingEncoder(model, DIM, max_batch_size=max_batch_size, max_wait_ms=20,
                                  max_batch_tokens=budget, count_tokens=tokens_of)
        await batcher.start()
        try:
            model.release.clear()
            first = asyncio.create_task(batcher.encode(["first-0"]))
            await wait_until(lambda: model.started == 1)
            tasks = [asyncio.create_task(batcher.encode(texts)) for texts in requests]
            await wait_until(lambda: batcher.stats.requests == 1 + len(requests))
            model.release.set()
            await first
            return await asyncio.gather(*tasks), batcher.queued_texts
        finally:
            await batcher.stop()

    results, queued = asyncio.run(main())
    assert queued == 0
    return results, model.calls[1:]


def test_batches_stay_within_the_token_budget_in_arrival_order():
    # lengths 3..12 characters, mixed: "a-1" (3), "bbbbbbbbb-2" (11), ...
    requests = [[f"{'b' * (i * 7 % 10)}-{i}" for i in range(j, j + 1 + j % 3)] for j in range(0, 30, 3)]
    results, calls = run_budgeted(requests, budget=30)
    for call in calls:
        assert padded(call) <= 30 or len(call) == 1, call
    assert [text for call in calls for text in call] == [text for texts in requests for text in texts]
    assert len(calls) > 1 and max(map(len, calls)) > 1  # bounded, yet still coalesced
    # each batch closed only because its next text would not fit: padded(call + next) > budget
    flat = [text for call in calls for text in call]
    position = 0
    for call in calls[:-1]:
        position += len(call)
        assert len(call) == 8 or padded([*call, flat[position]]) > 30
    for texts, result in zip(requests, results, strict=True):
        np.testing.assert_array_equal(result.embeddings, np.stack([vector_of(t) for t in texts]))


def test_a_text_longer_than_the_budget_goes_alone():
    long_text = "l" * 40 + "-1"
    _, calls = run_budgeted([["s-2"], [long_text, "t-3"], ["u-4"]], budget=20)
    assert [long_text] in calls
    assert [text for call in calls for text in call] == ["s-2", long_text, "t-3", "u-4"]
    assert all(padded(call) <= 20 for call in calls if call != [long_text])


def test_no_budget_keeps_batches_bounded_by_count_only():
    requests = [[f"{'x' * 30}-{i}"] for i in range(6)]
    _, calls = run_budgeted(requests, budget=0, max_batch_size=4)
    assert [len(call) for call in calls] == [4, 2]


def test_a_budget_needs_a_token_counter():
    with pytest.raises(ValueError, match="count_tokens"):
        BatchingEncoder(FakeModel(), DIM, max_batch_tokens=100)
    with pytest.raises(ValueError, match="--max-batch-tokens must be >= 0"):
        ServerSettings(model_names=("m",), max_batch_tokens=-1)


def test_the_tiny_model_runs_padded_batches_within_the_budget(tiny_model_dir):
    """Over HTTP with the real tokenizer: each forward's input_ids (B, T) has B x T <= budget (or B = 1),
    and every request gets the embeddings of its texts encoded one at a time."""
    from gtekit import Embedder
    from gtekit.serving.app import create_app, model_encode_function
    from tests.serving.conftest import Gate, running_server

    model = Embedder.load(tiny_model_dir)
    budget = 60
    settings = ServerSettings(model_names=("tiny",), max_batch_size=16, max_wait_ms=20, max_batch_tokens=budget)
    gate = Gate(model_encode_function(model, settings.max_batch_size))
    shapes: list[tuple[int, int]] = []
    model.register_forward_pre_hook(lambda module, args: shapes.append(tuple(args[0]["input_ids"].shape)))
    words = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "and", "runs", "far", "away"]
    requests = [[" ".join(words[: 1 + (i * 5 + j * 3) % len(words)]) for j in range(1 + i % 3)] for i in range(10)]
    requests.append(["word " * 100])  # truncated to max_seq_length (64) tokens: more than the budget, alone

    async def send_all(url: str):
        async with httpx.AsyncClient(timeout=60) as client:
            tasks = [asyncio.create_task(client.post(f"{url}/v1/embeddings", json={"model": "tiny", "input": texts}))
                     for texts in requests]
            while (await client.get(f"{url}/health")).json()["batching"]["requests"] < len(requests):
                await asyncio.sleep(0.01)
            gate.open_event.set()
            return await asyncio.gather(*tasks)

    with running_server(create_app(model, settings, encode=gate)) as url:
        shapes.clear()  # the warm-up's forward
        gate.open_event.clear()
        try:
            responses = asyncio.run(send_all(url))
        finally:
            gate.open_event.set()
    assert all(rows * length <= budget or rows == 1 for rows, length in shapes), shapes
    assert (1, 64) in shapes and any(rows > 1 for rows, _ in shapes)
    assert sum(rows for rows, _ in shapes) == sum(map(len, requests))
    for texts, response in zip(requests, responses, strict=True):
        assert response.status_code == 200, response.text
        served = np.array([item["embedding"] for item in response.json()["data"]])
        alone = np.concatenate([model.encode([text]) for text in texts])
        np.testing.assert_allclose(served, alone, atol=1e-5)
