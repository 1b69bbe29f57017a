"""A local stand-in for an OpenAI-compatible ``/v1/chat/completions`` server, for tests.

It answers deterministically (``"query about "`` + the first words of the ``<document>`` in the prompt),
records every request (path, headers, JSON body) and can fail on purpose: a status with headers, a body that
is not JSON, or a hang past the client's timeout, for chosen request numbers. It runs on 127.0.0.1, port 0,
in a background thread of a ``ThreadingHTTPServer``, and tracks how many requests were in flight at once.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_DOCUMENT = re.compile(r"<document>\s*(.*?)\s*</document>", re.DOTALL)


def first_words_answer(prompt: str, words: int = 3) -> str:
    """``"query about "`` + the first ``words`` words of the document in the prompt (or of the prompt)."""
    match = _DOCUMENT.search(prompt)
    return "query about " + " ".join((match.group(1) if match else prompt).split()[:words])


@dataclass
class Fault:
    """What to do instead of answering, for requests ``first`` to ``first + count - 1`` (numbered from 0)."""

    first: int
    count: int
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # None: an OpenAI error object for a status >= 400
    hang_seconds: float = 0.0  # wait this long before answering

    def covers(self, number: int) -> bool:
        return self.first <= number < self.first + self.count


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  # names in lower case
    body: dict

    @property
    def prompt(self) -> str:
        return self.body["messages"][0]["content"]


class LLMStandIn:
    """``with LLMStandIn() as llm: ... llm.url ...``; ``answer`` maps a prompt to the reply's content."""

    def __init__(self, answer: Callable[[str], str] = first_words_answer, delay_seconds: float = 0.0):
        self.answer, self.delay_seconds = answer, delay_seconds
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.server.stand_in = self
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def fail(self, count: int, status: int = 200, *, first: int = 0, headers: dict[str, str] | None = None,
             body: bytes | None = None, hang_seconds: float = 0.0) -> None:
        """Requests ``first`` .. ``first + count - 1`` get this failure instead of an answer."""
        self.faults.append(Fault(first, count, status, headers or {}, body, hang_seconds))

    def __enter__(self) -> LLMStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._closing.set()  # hanging handlers return at once
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def _begin(self, request: RecordedRequest) -> Fault | None:
        with self._lock:
            number = len(self.requests)
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return next((fault for fault in self.faults if fault.covers(number)), None)

    def _end(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        stand_in: LLMStandIn = self.server.stand_in
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.loads(raw) if raw else {}
        fault = stand_in._begin(RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        try:
            if stand_in.delay_seconds:
                time.sleep(stand_in.delay_seconds)
            if fault is not None and fault.hang_seconds:
                stand_in._closing.wait(fault.hang_seconds)
            if self.path != "/v1/chat/completions":
                self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())
            elif fault is not None and (fault.status != 200 or fault.body is not None):
                error = json.dumps({"error": {"message": f"injected {fault.status}", "type": "test"}}).encode()
                self._send(fault.status, fault.body if fault.body is not None else error, fault.headers)
            else:
                content = stand_in.answer(body["messages"][0]["content"])
                reply = {"id": "chatcmpl-test", "object": "chat.completion", "model": body.get("model"),
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                      "finish_reason": "stop"}]}
                self._send(200, json.dumps(reply).encode())
        finally:
            stand_in._end()

    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (timed out) and closed the connection
            pass

    def log_message(self, format: str, *args) -> None:  # quiet
        pass
