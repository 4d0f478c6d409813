"""Every error the API answers, as JSON: ``{"error", "message", "details"?}``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..scheduler.errors import ServiceStateError
from ._guard import BodyTooLargeError
from .models import ErrorBody

__all__ = ["add_error_handlers"]


_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    500: "internal_server_error",
    503: "service_unavailable",
}
"""The ``error`` of each status we answer, fixed: Python 3.13 renamed some
reason phrases (413 "Content Too Large", 422 "Unprocessable Content"), and the
kinds must not change with the interpreter."""


def _kind(status_code: int) -> str:
    if status_code in _KINDS:
        return _KINDS[status_code]
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        return "error"
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")


def _error(
    status_code: int,
    message: str,
    details: list[Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(error=_kind(status_code), message=message, details=details)
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code,
        headers=dict(headers or {}),
    )


def add_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with an :class:`ErrorBody`."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(
            exc.status_code, str(exc.detail), getattr(exc, "details", None), exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {
                "loc": list(e.get("loc", ())),
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        summary = "; ".join(
            f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in details
        )
        return _error(422, f"invalid request: {summary}", details)

    @app.exception_handler(BodyTooLargeError)
    async def too_large(request: Request, exc: BodyTooLargeError) -> JSONResponse:
        return _error(413, str(exc))

    @app.exception_handler(ServiceStateError)
    async def wrong_state(request: Request, exc: ServiceStateError) -> JSONResponse:
        return _error(409, str(exc))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")
