"""Reading a route's JSON body ourselves, so that every way a body can be unreadable has its own status,
``code`` and message instead of FastAPI's generic 400 ("There was an error parsing the body").

:class:`JSONBodyRoute` is the FastAPI route class of the app: for a route that takes a body it checks
the ``Content-Type`` (415 ``unsupported_media_type`` unless ``application/json`` or ``*/*+json``), reads
the body and parses it with :func:`parse_json_body`; FastAPI then validates the parsed object as usual.

:func:`parse_json_body` decodes UTF-8 (a leading BOM is dropped; the bytes of a lone surrogate, e.g.
ED A0 80, are let through as that surrogate so that the route can name the input that holds it) and
parses with the standard library, refusing what the standard library would turn into a bare
``ValueError`` or ``RecursionError``: bytes that are not UTF-8 (``invalid_utf8``), NaN and Infinity,
which are not JSON (``invalid_json``), an integer longer than Python converts
(``sys.get_int_max_str_digits()``, 4,300 by default: ``number_too_long``), arrays and objects nested
deeper than the parser can recurse (``nesting_too_deep``), a top level that is not an object
(``invalid_json``). Depends on FastAPI/Starlette only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from .errors import APIError

JSON_HINT = "send a JSON object with the header `Content-Type: application/json`"


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` or ``application/<anything>+json``, with any parameters."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/")
                                                and media_type.endswith("+json"))


def _not_json_constant(name: str) -> Any:
    raise APIError(400, f"the request body is not valid JSON: {name} is not a JSON value", code="invalid_json")


def parse_json_body(body: bytes) -> dict:
    """A request body -> the JSON object it holds, or an :class:`APIError` (400) naming what is wrong."""
    if not body:
        raise APIError(400, f"the request body is empty: {JSON_HINT}", code="empty_body")
    try:
        text = body.decode("utf-8", "surrogatepass").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise APIError(400, f"the request body is not valid UTF-8 (byte 0x{body[error.start]:02X} at offset "
                            f"{error.start:,}): JSON must be sent as UTF-8", code="invalid_utf8") from None
    try:
        value = json.loads(text, parse_constant=_not_json_constant)
    except json.JSONDecodeError as error:
        raise APIError(400, f"the request body is not valid JSON: {error.msg} at line {error.lineno}, column "
                            f"{error.colno} (offset {error.pos:,})", code="invalid_json") from None
    except RecursionError:
        raise APIError(400, "the request body's JSON is nested too deeply; this API's bodies are at most a "
                            "few levels deep", code="nesting_too_deep") from None
    except ValueError:  # int(): "Exceeds the limit (4300 digits) for integer string conversion"
        raise APIError(400, f"the request body holds an integer of more than {sys.get_int_max_str_digits():,} "
                            "digits; no number in this API needs more than a few", code="number_too_long") from None
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
        raise APIError(400, f"the request body must be a JSON object, got {kind}: {JSON_HINT}", code="invalid_json")
    return value


class _ParsedRequest(Request):
    """A request whose ``json()`` is the object :func:`parse_json_body` made (FastAPI calls it)."""

    parsed: dict

    async def json(self) -> Any:
        return self.parsed


class JSONBodyRoute(APIRoute):
    """A route whose JSON body is checked and parsed by :func:`parse_json_body` before FastAPI validates it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def handle(request: Request) -> Response:
            content_type = request.headers.get("content-type")
            if not is_json_media_type(content_type):
                got = f"`{content_type[:80]}`" if content_type else "none"
                raise APIError(415, f"the request body must be JSON: {JSON_HINT} (Content-Type was {got})",
                               code="unsupported_media_type")
            parsed = _ParsedRequest(request.scope, request.receive)
            parsed.parsed = parse_json_body(await parsed.body())
            return await handler(parsed)

        return handle
