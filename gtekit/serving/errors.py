"""Errors in the OpenAI API's shape: ``{"error": {"message", "type", "param", "code"}}`` with an HTTP status.

:class:`APIError` is raised by the routes; :func:`install_error_handlers` turns it, FastAPI's request
validation errors and Starlette's HTTP errors into that shape, so a client library parses every error
the same way. Depends on Starlette/FastAPI only; knows nothing of the model.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

logger = logging.getLogger("gtekit.serving")
OWN_ERROR_CODES = frozenset({"invalid_input", "token_ids_unsupported"})  # raised by ``schemas.texts_from``


class ErrorType(StrEnum):
    INVALID_REQUEST = "invalid_request_error"
    SERVER = "server_error"


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


def error_response(status: int, message: str, *, param: str | None = None, code: str | None = None,
                   error_type: ErrorType = ErrorType.INVALID_REQUEST,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": error_type.value, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def validation_error(exc: RequestValidationError) -> APIError:
    """FastAPI's list of pydantic errors -> one 422 (400 for a body that is not JSON) naming the field."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    if first.get("type") == "json_invalid":
        return APIError(400, f"the request body is not valid JSON: {first.get('ctx', {}).get('error', first['msg'])}",
                        code="invalid_json")
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = _dotted(location) or None
    message = first["msg"] if not param or first["msg"].startswith(param) else f"{param}: {first['msg']}"
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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc).response()

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return error_response(exc.status_code, str(exc.detail), code=code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error: {type(exc).__name__}: {exc}", error_type=ErrorType.SERVER)
