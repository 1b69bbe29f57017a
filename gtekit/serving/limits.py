"""Request-body size limit as a plain ASGI middleware: 413 above ``max_bytes``, before any JSON parsing.

A ``Content-Length`` above the limit is refused without reading the body; a body sent without one
(chunked) is read up to the limit and refused as soon as it passes it. Bodies within the limit are
handed on unchanged. Depends on Starlette only.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(int(declared), scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
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
