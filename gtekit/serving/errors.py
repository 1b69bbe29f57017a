"""Errors in the OpenAI API's shape: ``{"error": {"message", "type", "param", "code"}}`` with an HTTP status.

:class:`APIError` is raised by the routes; :func:`install_error_handlers` turns it, FastAPI's request
validation errors and Starlette's HTTP errors into that shape, so a client library parses every error
the same way. Every client error (4xx) carries a non-null ``code`` (:func:`code_for_status` when the
raiser gave none). A 500 never shows the exception: the client gets a request id, the server's log
has the traceback under that id. Depends on Starlette/FastAPI only; knows nothing of the model.
"""

from __future__ import annotations

import json
import logging
import uuid
from enum import StrEnum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

logger = logging.getLogger("gtekit.serving")
OWN_ERROR_CODES = frozenset({"invalid_input", "token_ids_unsupported"})  # raised by ``schemas.texts_from``
STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 406: "not_acceptable", 408: "request_timeout", 409: "conflict",
                411: "length_required", 413: "request_too_large", 415: "unsupported_media_type",
                422: "invalid_value", 429: "rate_limited", 431: "headers_too_large"}
REQUEST_ID_HEADER = "X-Request-Id"


class ErrorType(StrEnum):
    INVALID_REQUEST = "invalid_request_error"
    SERVER = "server_error"


def code_for_status(status: int) -> str | None:
    """The ``code`` of a client error whose raiser named none (``invalid_request`` for an unlisted 4xx)."""
    if 400 <= status < 500:
        return STATUS_CODES.get(status, "invalid_request")
    return None


class APIError(Exception):
    """An error answered to the client as ``status`` with the OpenAI error body."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 error_type: ErrorType = ErrorType.INVALID_REQUEST, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.error_type, self.headers = error_type, headers

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, param=self.param, code=self.code,
                              error_type=self.error_type, headers=self.headers)


class ErrorJSONResponse(JSONResponse):
    """JSON as ASCII: an error message that quotes the request (a model name holding a lone surrogate, say)
    is still sent, escaped, instead of failing to encode."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def error_response(status: int, message: str, *, param: str | None = None, code: str | None = None,
                   error_type: ErrorType = ErrorType.INVALID_REQUEST,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": error_type.value, "param": param,
                      "code": code or code_for_status(status)}}
    return ErrorJSONResponse(body, status_code=status, headers=headers)


def quoted(value: object, limit: int = 80) -> str:
    """A value of the request for an error message: at most ``limit`` characters."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def validation_error(exc: RequestValidationError) -> APIError:
    """FastAPI's list of pydantic errors -> one 422 (400 for a body that is not JSON) naming the field."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    if first.get("type") == "json_invalid":
        return APIError(400, f"the request body is not valid JSON: {first.get('ctx', {}).get('error', first['msg'])}",
                        code="invalid_json")
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = _dotted(location) or None
    if param is None and first.get("type") == "missing":
        return APIError(400, "the request body is empty: send a JSON object with the header "
                             "`Content-Type: application/json`", code="empty_body")
    if param is None:
        return APIError(400, f"the request body must be a JSON object sent with the header "
                             f"`Content-Type: application/json` ({first['msg']})", code="invalid_json")
    message = first["msg"] if first["msg"].startswith(param) else f"{param}: {first['msg']}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    code = first["type"] if first.get("type") in OWN_ERROR_CODES else "invalid_value"
    return APIError(422, message, param=param, code=code)


def _dotted(location: list[str]) -> str:
    """``["input", "list[str]", "3"]`` -> ``input[3]``: drop pydantic's union-branch tags, index lists."""
    text = ""
    for part in location:
        if "[" in part or part in ("str", "int"):  # a union branch such as 'list[str]' names a type, not a field
            continue
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text


def internal_error(request: Request, exc: BaseException) -> JSONResponse:
    """500 with a request id; the exception and its traceback go to the log under that id, not to the client."""
    request_id = uuid.uuid4().hex[:16]
    logger.error("request %s: unhandled error on %s %s", request_id, request.method, request.url.path,
                 exc_info=exc)
    return error_response(500, f"internal server error (request id {request_id}); the server's log has the "
                               "details under that id", code="internal_error", error_type=ErrorType.SERVER,
                          headers={REQUEST_ID_HEADER: request_id})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc).response()

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None),
                              error_type=ErrorType.SERVER if exc.status_code >= 500 else ErrorType.INVALID_REQUEST)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return internal_error(request, exc)
