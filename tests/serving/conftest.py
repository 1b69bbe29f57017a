"""Fixtures of the server tests: the tiny random model, and servers on free loopback ports run by uvicorn
in a background thread of this process (the shutdown test starts `gtekit serve` as a subprocess)."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

DOCUMENTS = [f"document {i} about {topic}" for i, topic in enumerate(
    ["cats and dogs", "python code", "the weather in spring", "a recipe for bread", "football results",
     "stock markets", "a poem about the sea", "quantum physics", "gardening tips", "train timetables"] * 3)]


@contextlib.contextmanager
def running_server(app, settings=None):
    """Serve ``app`` on 127.0.0.1:<free port> until the block ends, as `gtekit serve` does (its header and
    keep-alive timeouts from ``settings``, default: the defaults); yields the base URL."""
    import uvicorn

    from gtekit.serving.server import address_of, bind_socket, uvicorn_config
    from gtekit.serving.settings import ServerSettings

    sock = bind_socket("127.0.0.1", 0)
    config = uvicorn_config(app, settings or ServerSettings(model_names=("-",)), access_log=False, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield address_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class Gate:
    """Wraps an encode function; while closed, model calls wait (so requests pile up in the queue)."""

    def __init__(self, encode) -> None:
        self.encode, self.open_event = encode, threading.Event()
        self.open_event.set()

    def __call__(self, texts):
        self.open_event.wait(timeout=60)
        return self.encode(texts)


@pytest.fixture(scope="session")
def served_model(tiny_model_dir):
    from gtekit import Embedder

    return Embedder.load(tiny_model_dir)


@pytest.fixture(scope="module")
def gated_server(served_model):
    """A server for the tiny model named ``tiny`` (alias ``tiny-alias``), with small limits and a gate."""
    from gtekit.serving.app import create_app, model_encode_function
    from gtekit.serving.settings import ServerSettings

    settings = ServerSettings(model_names=("tiny", "tiny-alias"), max_batch_size=8, max_wait_ms=20,
                              max_inputs_per_request=16, max_request_bytes=4096, max_text_chars=1000,
                              max_queued_texts=64)
    gate = Gate(model_encode_function(served_model, settings.max_batch_size))
    app = create_app(served_model, settings, encode=gate)
    with running_server(app) as url:
        yield url, gate


@pytest.fixture(scope="module")
def server_url(gated_server):
    return gated_server[0]


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory, served_model, tiny_model_dir):
    """A gtekit.search folder (exact, float32) of DOCUMENTS embedded by the tiny model, ids doc-0, doc-1, ..."""
    from gtekit.search import ArrayShards, IndexSettings, build_index

    folder = tmp_path_factory.mktemp("index") / "docs"
    embeddings = served_model.encode(DOCUMENTS, kind="document")
    build_index(ArrayShards(embeddings, ids=[f"doc-{i}" for i in range(len(DOCUMENTS))], texts=DOCUMENTS,
                            model=str(tiny_model_dir)), folder, IndexSettings(kind="flat"))
    return folder
