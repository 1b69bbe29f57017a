"""Bearer-key authentication as a plain ASGI middleware: ``Authorization: Bearer KEY`` or 401.

It answers before the request body is read. ``GET /health`` and the API description (``/docs``,
``/openapi.json``) stay open so that load balancers and people can reach them. The key is compared in
constant time. A request with more than one ``Authorization`` header is refused with 400 whatever they
say: which one counts would be a guess (and proxies guess differently). Depends on Starlette only.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_response

OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/openapi.json"})


class BearerKeyMiddleware:
    def __init__(self, app: ASGIApp, api_key: str, open_paths: frozenset[str] = OPEN_PATHS) -> None:
        self.app, self.expected, self.open_paths = app, api_key.encode(), open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            return await self.app(scope, receive, send)
        headers = [value for name, value in scope["headers"] if name == b"authorization"]
        if len(headers) > 1:
            response = error_response(400, f"the request has {len(headers)} Authorization headers; send exactly "
                                           "one: `Authorization: Bearer KEY`", code="invalid_authorization")
            return await response(scope, receive, send)
        header = headers[0] if headers else b""
        scheme, _, token = header.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.expected):
            return await self.app(scope, receive, send)
        message = ("missing API key: send the header `Authorization: Bearer KEY`" if not header
                   else "incorrect API key provided")
        response = error_response(401, message, code="invalid_api_key",
                                  headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)
