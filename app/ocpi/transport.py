"""OCPI transport (digest §1): the response envelope, status codes and their HTTP statuses, body decoding,
request/correlation ids, routing headers, and the error handlers that keep every error inside the envelope."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, ExceptionHandlersMap, Message, Receive, Scope, Send

from app.db.pool import describe, unavailable
from app.logs import correlation_id, request_id
from app.ocpi import json_input
from app.ocpi.json_input import Decoded, JsonInputError

log = logging.getLogger("app.ocpi")

# Status codes, digest §1.4.
SUCCESS = 1000
CLIENT_ERROR = 2000
INVALID_PARAMETERS = 2001
NOT_ENOUGH_INFORMATION = 2002
UNKNOWN_LOCATION = 2003
UNKNOWN_TOKEN = 2004
SERVER_ERROR = 3000
UNABLE_TO_USE_CLIENT_API = 3001
UNSUPPORTED_VERSION = 3002
NO_MATCHING_ENDPOINTS = 3003
HUB_ERROR = 4000
"""Any other hub failure, including a message a party's allow or deny list blocks."""
UNKNOWN_RECEIVER = 4001
FORWARD_TIMEOUT = 4002
RECEIVER_NOT_CONNECTED = 4003

JSON = "application/json"
_encoder = msgspec.json.Encoder(decimal_format="number")
T = TypeVar("T")


class OcpiError(Exception):
    """An error answered inside the OCPI envelope.

    HTTP status: syntactically valid JSON that reaches the OCPI layer is answered with HTTP 200
    and an OCPI error code (§1.4); 400 only for a body that is not JSON, 401 for credentials, 404
    for a resource that does not exist, 405 for credentials calls out of turn.
    """

    def __init__(self, status_code: int, message: str, http_status: int = 200, data: Any = None,
                 headers: dict[str, str] | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.http_status = http_status
        self.data = data
        self.headers = headers
        self.detail = detail or message
        """For our logs and the operator only (e.g. what a peer's URL answered); `message` goes on the wire."""


def not_found(message: str, status_code: int = CLIENT_ERROR) -> OcpiError:
    return OcpiError(status_code, message, http_status=404)


def unauthorized(message: str) -> OcpiError:
    return OcpiError(CLIENT_ERROR, message, http_status=401)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)


def envelope(data_json: bytes | None, status_code: int = SUCCESS, message: str = "Success") -> bytes:
    """The envelope around already-encoded `data`, so stored objects are served without re-encoding.
    `data` is omitted when None (PUT/PATCH answers, errors; digest A-23)."""
    head = b'{"data":' + data_json + b"," if data_json is not None else b"{"
    return head + b'"status_code":%d,"status_message":%s,"timestamp":"%s"}' % (
        status_code, _encoder.encode(message), now_iso().encode())


def respond(data_json: bytes | None = None, *, http_status: int = 200, status_code: int = SUCCESS,
            message: str = "Success", headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(envelope(data_json, status_code, message), status_code=http_status, media_type=JSON, headers=headers)


def respond_data(obj: Any, *, http_status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    return respond(encode(obj), http_status=http_status, headers=headers)


def _input_error(exc: Exception, what: str) -> OcpiError:
    """Not JSON (or nested too deep) → HTTP 400/2000; JSON whose content breaks the rules or the schema → 2001
    with the message of msgspec or `json_input`, which names the field (e.g. "... - at `$.evses[0].uid`")."""
    if isinstance(exc, JsonInputError) and exc.syntax:
        return OcpiError(CLIENT_ERROR, f"the {what} is not valid JSON: {exc}", http_status=400)
    return OcpiError(INVALID_PARAMETERS, f"invalid {what}: {exc}")


def parse_json(raw: bytes, what: str = "request body") -> Any:
    """A JSON body read strictly (`app.ocpi.json_input.parse`), nulls kept: for PATCH bodies."""
    if not raw.strip():
        raise OcpiError(INVALID_PARAMETERS, f"the {what} is empty; a JSON object is required")
    try:
        return json_input.parse(raw)
    except JsonInputError as exc:
        raise _input_error(exc, what) from None


def validate_object(doc: Any, type_: type[T], what: str = "request body", nulls: bool = True,
                    raw: bytes | None = None) -> Decoded[T]:
    """An already parsed document (from `raw`, when given) checked as `type_`, with the normal form to store."""
    try:
        return json_input.validate(doc, type_, nulls, raw)
    except (JsonInputError, msgspec.ValidationError) as exc:
        raise _input_error(exc, what) from None


def decode_object(raw: bytes, type_: type[T], what: str = "request body") -> Decoded[T]:
    """Decode and validate a JSON body; `.text` is the document to store (nulls dropped, date-times in UTC)."""
    return validate_object(parse_json(raw, what), type_, what, nulls=b"null" in raw, raw=raw)


def decode_json(raw: bytes, type_: type[T], what: str = "request body") -> T:
    return decode_object(raw, type_, what).obj


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == JSON or (media.startswith("application/") and media.endswith("+json"))


async def read_json_body(request: Request[Any, Any, Any]) -> bytes:
    """The request body; a body labelled with a media type other than JSON is refused (HTTP 400/2000), a body
    without Content-Type is read as JSON."""
    raw = await request.body()
    content_type = request.headers.get("content-type")
    if raw and content_type is not None and not _is_json(content_type):
        raise OcpiError(CLIENT_ERROR, f"Content-Type {content_type[:100]!r} is not JSON; send {JSON}", http_status=400)
    return raw


async def read_body(request: Request[Any, Any, Any], type_: type[T]) -> T:
    return decode_json(await read_json_body(request), type_)


# --- error handlers: every error leaves inside the envelope ---------------------------------------

RETRY_AFTER = 5
"""Seconds a client is asked to wait while the database is unavailable."""

_HTTP_MESSAGES = {
    404: "no such OCPI endpoint",
    405: "method not allowed on this endpoint",
    413: "request body too large",
}


def _error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    if isinstance(exc, OcpiError):
        data = encode(exc.data) if exc.data is not None else None
        return respond(data, http_status=exc.http_status, status_code=exc.status_code, message=exc.message,
                       headers=exc.headers)
    if isinstance(exc, HTTPException):
        code = exc.status_code
        if code == 400:  # Litestar's parameter validation (query and path parameters)
            message = exc.detail if isinstance(exc.detail, str) else "invalid request parameters"
            extra = getattr(exc, "extra", None)
            if extra:
                message = f"{message}: {encode(extra).decode()}"
            return respond(status_code=INVALID_PARAMETERS, message=message)
        if code == 413:
            message = f"request body too large (limit {request.app.state.settings.max_body_bytes} bytes)"
        else:
            message = _HTTP_MESSAGES.get(code, exc.detail)
        return respond(http_status=code, status_code=CLIENT_ERROR if code < 500 else SERVER_ERROR, message=message,
                       headers=dict(exc.headers or {}) or None)
    if unavailable(exc):
        # PostgreSQL is down or restarting; the pool re-creates its connections once it is back.
        log.warning("database unavailable", extra={"path": request.url.path, "method": request.method,
                                                   "error": describe(exc)})
        return respond(http_status=503, status_code=SERVER_ERROR, headers={"Retry-After": str(RETRY_AFTER)},
                       message="the database is unavailable; retry later")
    log.exception("unhandled error", extra={"path": request.url.path, "method": request.method})
    return respond(http_status=500, status_code=SERVER_ERROR, message="internal server error")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {Exception: _error_response}


# --- request / correlation ids, access log --------------------------------------------------------

def request_ids_middleware(app: ASGIApp) -> ASGIApp:
    """Echo X-Request-ID and X-Correlation-ID on every response (generated when absent, §1.8),
    expose them to the logs, and write one access-log line per request."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        rid = cid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value.decode("latin-1")
            elif name == b"x-correlation-id":
                cid = value.decode("latin-1")
        rid = rid or str(uuid.uuid4())
        cid = cid or rid
        t_rid, t_cid = request_id.set(rid), correlation_id.set(cid)
        started = time.perf_counter()
        status = 500

        async def send_with_ids(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid.encode("latin-1")),
                                      (b"x-correlation-id", cid.encode("latin-1"))]
            await send(message)

        try:
            await app(scope, receive, send_with_ids)
        finally:
            log.info("request", extra={"method": scope.get("method"), "path": scope["path"], "status": status,
                                       "ms": round((time.perf_counter() - started) * 1000, 2)})
            request_id.reset(t_rid)
            correlation_id.reset(t_cid)

    return middleware
