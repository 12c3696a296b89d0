"""Errors of the operator API: plain JSON `{"error": message, "field"?: path}` with an HTTP status."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.openapi import ResponseSpec
from litestar.types import ExceptionHandlersMap

from app.db.pool import describe, unavailable

log = logging.getLogger(__name__)
RETRY_AFTER = 5


class Problem(msgspec.Struct):
    """The body of every operator API error."""

    error: str
    field: str | None = None


def error_responses(**described: str) -> dict[int, ResponseSpec]:
    """OpenAPI entries for a route's error answers, e.g. `error_responses(e400="...", e404="...")`."""
    return {int(code[1:]): ResponseSpec(data_container=Problem, description=text) for code, text in described.items()}


class ApiError(Exception):
    def __init__(self, http_status: int, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.message = message
        self.field = field
        self.headers = headers


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json", headers=headers)


def _handle(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if isinstance(exc, ApiError):
        body: dict[str, Any] = {"error": exc.message}
        if exc.field is not None:
            body["field"] = exc.field
        return _json(exc.http_status, body, exc.headers)
    if isinstance(exc, HTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "invalid request"
        extra = getattr(exc, "extra", None)
        body = {"error": detail}
        if extra:
            body["detail"] = extra
        return _json(exc.status_code, body, dict(exc.headers or {}) or None)
    if unavailable(exc):
        log.warning("database unavailable", extra={"path": request.url.path, "error": describe(exc)})
        return _json(503, {"error": "the database is unavailable; retry later"}, {"Retry-After": str(RETRY_AFTER)})
    log.exception("unhandled error", extra={"path": request.url.path, "method": request.method})
    return _json(500, {"error": "internal server error"})


EXCEPTION_HANDLERS: ExceptionHandlersMap = {Exception: _handle}
