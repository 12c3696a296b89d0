"""Request paths whose ids no object can have, refused before routing (HTTP 400/2000 in the envelope).

- `%2F` (an encoded `/`): the path is decoded before it is routed, so `locations/a%2Fb` would be read as two
  path segments (another endpoint, another object). No id we serve can be asked for that way.
- Control characters (`%00`, `%0A`, ...): ids are CiString, printable ASCII (digest §1.10), and PostgreSQL text
  cannot hold NUL at all.
"""

from __future__ import annotations

import re

from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from app.ocpi.transport import CLIENT_ERROR, JSON, envelope

_ENCODED_SLASH = re.compile(rb"%2f", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def problem(raw_path: bytes, path: str) -> str | None:
    if _ENCODED_SLASH.search(raw_path):
        return "an encoded '/' (%2F) is not allowed in a path: ids cannot contain '/'"
    if _CONTROL.search(path):
        return "control characters (e.g. %00) are not allowed in a path"
    return None


def path_guard_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            message = problem(scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape"), scope["path"])
            if message is not None:
                body = envelope(None, CLIENT_ERROR, message)
                headers = [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode())]
                await send(HTTPResponseStartEvent(type="http.response.start", status=400, headers=headers))
                await send(HTTPResponseBodyEvent(type="http.response.body", body=body, more_body=False))
                return
        await app(scope, receive, send)

    return middleware
