"""`gtekit serve` under faults: 32 concurrent clients, a poison request about every second, slow and idle
clients the whole time, then SIGTERM. Every well-formed request gets the right embeddings, every poison
one its 4xx, the slow ones are cut off, the server's memory stays put and it exits 0 in time (~40 s)."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import threading
import time
from pathlib import Path

import fastapi  # noqa: F401  (the server under test)
import httpx
import numpy as np
import pytest

from tests.fault_injection import record_faults
from tests.serving.test_shutdown import start_server
from tests.serving.test_timeouts import connect, read_until_closed, request_head, response_of

pytestmark = [pytest.mark.faults, pytest.mark.slow]

CLIENTS = 32
LOAD_SECONDS = 15.0
TIMEOUT = 1.5  # the server's header and body timeouts
SHUTDOWN_TIMEOUT = 5.0
RSS_GROWTH_LIMIT_MIB = 150  # generous: the tiny model's batches need a few MiB
TEXTS = [f"sentence {i}: {' '.join(['alpha', 'beta', 'gamma', 'delta', 'epsilon'][: 1 + i % 5] * (1 + i % 7))}"
         for i in range(300)]
POISON = [  # (body, status, code)
    (b'{"model": "tiny", "input": ["fine", "bad \\ud800"]}', 422, "invalid_input"),
    (b'{"model": "tiny", "input": ["fine", "raw \xed\xa0\x80 bytes"]}', 422, "invalid_input"),
    (b'{"model": "tiny", "input": "\\udc00"}', 422, "invalid_input"),
    (b'{"model": "tiny", "input": ["fine", " \\n "]}', 422, "empty_input"),
    (b'{"model": "tiny", "input": ["fine", "caf\xe9"]}', 400, "invalid_utf8"),
    (b'{"model": "tiny", "input": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", 400, "nesting_too_deep"),
]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class Tally:
    def __init__(self) -> None:
        self.ok = self.poisoned = self.slow_cut = self.idle_cut = self.compared_bytes = 0
        self.failures: list[str] = []


async def load(url: str, reference: dict[str, np.ndarray], tally: Tally, stop_at: float) -> None:
    async def client(seed: int, http: httpx.AsyncClient) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop_at:
            texts = rng.sample(TEXTS, rng.randint(1, 4))
            response = await http.post(f"{url}/v1/embeddings", json={"model": "tiny", "input": texts})
            if response.status_code != 200:
                tally.failures.append(f"{response.status_code}: {response.text[:300]}")
                continue
            served = np.array([item["embedding"] for item in response.json()["data"]])
            expected = np.stack([reference[text] for text in texts])
            if served.shape != expected.shape or not np.allclose(served, expected, atol=1e-4):
                tally.failures.append(f"wrong embeddings for {texts}")
            else:
                tally.ok += 1
                tally.compared_bytes += expected.astype(np.float32).nbytes

    async def poisoner(http: httpx.AsyncClient) -> None:
        rng = random.Random(1)
        while time.monotonic() < stop_at:
            await asyncio.sleep(rng.uniform(0.5, 1.5))
            body, status, code = rng.choice(POISON)
            response = await http.post(f"{url}/v1/embeddings", content=body,
                                       headers={"Content-Type": "application/json"})
            if response.status_code != status or response.json()["error"]["code"] != code:
                tally.failures.append(f"poison {body[:60]!r}: {response.status_code} {response.text[:300]}")
            else:
                tally.poisoned += 1

    limits = httpx.Limits(max_connections=CLIENTS + 1, max_keepalive_connections=CLIENTS + 1)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        await asyncio.gather(*(client(seed, http) for seed in range(CLIENTS)), poisoner(http))


def slow_clients(url: str, tally: Tally, stop: threading.Event) -> list[threading.Thread]:
    body = json.dumps({"model": "tiny", "input": "a slow request"}).encode()

    def trickle() -> None:  # a body at a byte per 0.3 s: 408 after the body timeout
        while not stop.is_set():
            with connect(url) as sock:
                sock.sendall(request_head(len(body)))
                received, took = read_until_closed(sock, body, every=0.3, limit=TIMEOUT + 10)
            if response_of(received)[0] == 408 and took <= TIMEOUT + 3:
                tally.slow_cut += 1
            else:
                tally.failures.append(f"slow body: {received[:100]!r} after {took:.1f} s")

    def idle() -> None:  # connects, sends nothing: closed after the header timeout
        while not stop.is_set():
            with connect(url) as sock:
                received, took = read_until_closed(sock, limit=TIMEOUT + 10)
            if received == b"" and took <= TIMEOUT + 3:
                tally.idle_cut += 1
            else:
                tally.failures.append(f"idle socket: {received[:100]!r} after {took:.1f} s")

    threads = [threading.Thread(target=target, daemon=True) for target in (trickle, trickle, idle)]
    for thread in threads:
        thread.start()
    return threads


def test_the_server_survives_poison_slow_clients_and_load_then_stops(tiny_model_dir, served_model):
    reference = dict(zip(TEXTS, served_model.encode(TEXTS), strict=True))
    process, url = start_server([str(tiny_model_dir), "--alias", "tiny", "--no-access-log", "--max-wait-ms", "5",
                                 "--header-timeout", str(TIMEOUT), "--body-timeout", str(TIMEOUT),
                                 "--shutdown-timeout", str(SHUTDOWN_TIMEOUT)])
    tally, stop = Tally(), threading.Event()
    try:
        asyncio.run(load(url, reference, Tally(), time.monotonic() + 2))  # warm-up: the largest batches, once
        rss_start = rss_mib(process.pid)
        threads = slow_clients(url, tally, stop)
        asyncio.run(load(url, reference, tally, time.monotonic() + LOAD_SECONDS))
        stop.set()
        for thread in threads:
            thread.join(timeout=TIMEOUT + 15)
        rss_end = rss_mib(process.pid)
        health = httpx.get(f"{url}/health", timeout=30).json()
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert process.wait(timeout=SHUTDOWN_TIMEOUT + 30) == 0
        took = time.monotonic() - signalled
    finally:
        stop.set()
        if process.poll() is None:
            process.kill()
    assert not tally.failures, f"{len(tally.failures)} failures, e.g. {tally.failures[:5]}"
    assert tally.ok >= 200 and tally.poisoned >= LOAD_SECONDS / 2 and tally.slow_cut >= 4 and tally.idle_cut >= 4
    assert health["batching"]["largest_batch"] > 4  # concurrent requests were coalesced
    assert rss_end - rss_start <= RSS_GROWTH_LIMIT_MIB, (rss_start, rss_end)
    assert took <= SHUTDOWN_TIMEOUT + 3
    stdout, stderr = process.communicate(timeout=30)
    assert "gtekit serve: stopped" in stdout, stderr[-3000:]
    record_faults("serve", tally.poisoned + tally.slow_cut + tally.idle_cut + 1, tally.compared_bytes)  # +1: SIGTERM
