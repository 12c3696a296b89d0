"""Who may call the operator API: a live operator API key in `Authorization: Bearer <key>`."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from app.operator_api.errors import ApiError
from app.operator_api.keys import find_key

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ocpi-engine operator API"'}


async def operator_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Litestar guard: refuse (401) a request without a live operator API key. OCPI tokens are not accepted
    here: a peer is never an operator."""
    header = connection.headers.get("authorization", "")
    scheme, _sep, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "missing operator API key; send 'Authorization: Bearer <key>' "
                            "(create one with `ocpi-engine apikey create`)", headers=_CHALLENGE)
    state = connection.app.state
    key_id = await find_key(state.pool, state.vault, key.strip())
    if key_id is None:
        raise ApiError(401, "unknown or revoked operator API key", headers=_CHALLENGE)
    connection.state.api_key_id = key_id
