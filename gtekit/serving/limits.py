"""Request limits as a plain ASGI middleware: header size (431), body size (413) and body time (408),
before any JSON parsing.

Headers: the request line and headers together are at most ``max_header_bytes``, else 431
``headers_too_large`` and the connection is closed. (h11, under uvicorn, only bounds a request head
that arrives in pieces; one that arrives whole is checked here.)

Size: a ``Content-Length`` above ``max_bytes`` is refused without reading the body; a body sent without
one (chunked) is read up to the limit and refused as soon as it passes it.

Time: uvicorn bounds the wait for a request's headers (``server.HeaderTimeoutH11Protocol``) but not for
its body, so a client sending one byte now and then would hold a connection, a task and the server's
shutdown for as long as it likes. Here the whole body must arrive within ``timeout_s`` of the end of the
headers, plus one second per ``min_rate`` bytes received (a large body sent steadily at ``min_rate`` or
faster always makes it; a trickle does not); past that deadline the client gets 408 ``request_timeout``
and the connection is closed. Each ``receive()`` is bounded by the time left (``asyncio.wait_for``).

A 413 leaves the connection open: uvicorn reads and drops the rest of the body (closing at once could
reset the connection before the client reads the answer), within the header timeout of the next
request. Bodies within the limits are handed on unchanged. Depends on Starlette only.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
CLOSE = {"Connection": "close"}


class BodyLimitsMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 30.0, min_rate: float = 0.0,
                 max_header_bytes: int | None = None) -> None:
        self.app, self.max_bytes, self.timeout_s, self.min_rate = app, max_bytes, timeout_s, min_rate
        self.max_header_bytes = max_header_bytes

    def deadline(self, started: float, received: int) -> float:
        """When the body must be complete: ``timeout_s`` after ``started``, plus ``received / min_rate``."""
        return started + self.timeout_s + (received / self.min_rate if self.min_rate > 0 else 0.0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.max_header_bytes is not None:
            head = len(scope["method"]) + len(scope.get("raw_path") or scope["path"]) + len(scope["query_string"]) + 12
            head += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if head > self.max_header_bytes:
                message = (f"the request line and headers take {head:,} bytes; this server takes at most "
                           f"{self.max_header_bytes:,} (--max-header-bytes)")
                response = error_response(431, message, code="headers_too_large", headers=CLOSE)
                return await response(scope, receive, send)
        if scope["method"] not in BODY_METHODS:
            return await self.app(scope, receive, send)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(int(declared), scope, receive, send)
        loop = asyncio.get_running_loop()
        started = loop.time()
        chunks, size = [], 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.deadline(started, size) - loop.time())
            except TimeoutError:
                return await self._timed_out(size, loop.time() - started, scope, receive, send)
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._refuse(size, scope, receive, send, at_least=True)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later calls wait for the disconnect, as usual

        await self.app(scope, replay, send)

    async def _refuse(self, size: int, scope: Scope, receive: Receive, send: Send, at_least: bool = False) -> None:
        message = (f"request body of {'at least ' if at_least else ''}{size:,} bytes exceeds the server's limit "
                   f"of {self.max_bytes:,} bytes (--max-request-bytes); send fewer or shorter texts per request")
        await error_response(413, message, code="request_too_large")(scope, receive, send)

    async def _timed_out(self, size: int, waited: float, scope: Scope, receive: Receive, send: Send) -> None:
        rate = f" plus 1 s per {self.min_rate:,.0f} bytes received (--body-min-rate)" if self.min_rate > 0 else ""
        message = (f"the request body did not arrive in time: {size:,} bytes in {waited:.1f} s; this server waits "
                   f"{self.timeout_s:g} s (--body-timeout){rate}")
        await error_response(408, message, code="request_timeout", headers=CLOSE)(scope, receive, send)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None
