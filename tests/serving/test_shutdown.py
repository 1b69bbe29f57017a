"""`gtekit serve` as a subprocess: it serves embeddings and search from the command line, and on SIGTERM
stops accepting connections, answers the request in flight, then exits 0."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import fastapi  # noqa: F401  (the server under test)
import httpx
import numpy as np
import pytest
import uvicorn  # noqa: F401

from tests.serving.conftest import DOCUMENTS

pytestmark = pytest.mark.slow


def start_server(arguments: list[str]) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    process = subprocess.Popen([sys.executable, "-m", "gtekit", "serve", *arguments, "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline()
    found = re.search(r"listening on (http://\S+)", line)
    if not found:
        process.kill()
        raise AssertionError(f"no address printed: {line!r}\n{process.communicate(timeout=30)[1][-3000:]}")
    url = found.group(1)
    httpx.get(f"{url}/health", timeout=120).raise_for_status()  # the socket accepts at once; this waits for the app
    return process, url


def test_sigterm_finishes_the_request_in_flight_then_exits_0(tiny_model_dir, served_model, index_dir):
    # --max-wait-ms 4000: a lone request waits 4 s for companions, so it is surely in flight at SIGTERM
    process, url = start_server([str(tiny_model_dir), "--index", str(index_dir), "--max-wait-ms", "4000",
                                 "--alias", "tiny", "--no-access-log"])
    try:
        hits = httpx.post(f"{url}/search", json={"query": "pets", "k": 3}, timeout=60).json()["data"][0]["hits"]
        assert len(hits) == 3 and all(hit["text"] in DOCUMENTS for hit in hits)
        outcome: dict = {}

        def request_in_flight() -> None:
            outcome["response"] = httpx.post(f"{url}/v1/embeddings", json={"model": "tiny", "input": ["in flight"]},
                                             timeout=60)
            outcome["answered"] = time.monotonic()

        thread = threading.Thread(target=request_in_flight)
        thread.start()
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/health", timeout=30).json()["queue_depth"] != 1:  # queued, waiting to be batched
            assert time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        refused = False
        while not refused and time.monotonic() < signalled + 3:  # new connections: refused, the request: pending
            try:
                httpx.get(f"{url}/health", timeout=1)
                time.sleep(0.05)
            except httpx.TransportError:
                refused = True
        assert refused and "response" not in outcome
        thread.join(timeout=60)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    response = outcome["response"]
    assert response.status_code == 200 and outcome["answered"] > signalled
    served = np.array(response.json()["data"][0]["embedding"])
    expected = served_model.encode(["in flight"])[0]
    assert served @ expected / np.linalg.norm(served) / np.linalg.norm(expected) >= 0.999
    stdout, stderr = process.communicate(timeout=30)
    assert "gtekit serve: stopped" in stdout, stderr[-3000:]
