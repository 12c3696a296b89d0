"""The `/api/v1` router: every operator route behind the API key guard, with plain JSON errors."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from litestar import Request, Router, get

from app.operator_api.auth import operator_key
from app.operator_api.errors import EXCEPTION_HANDLERS

PREFIX = "/api/v1"

# Modules exposing `ROUTES` (Litestar route handlers, paths relative to /api/v1).
MODULES: list[str] = [
    "app.charging.events",
    "app.charging.monitoring_api",
    "app.checks.api",
    "app.hub.api",
    "app.hub.grants_api",
    "app.outbox.api",
]


@get("/whoami", summary="The operator API key this request authenticated with")
async def whoami(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Lets a client check its key: `{"key_id", "label"}`."""
    key_id = request.state.api_key_id
    label = await request.app.state.pool.fetchval("SELECT label FROM api_keys WHERE id = $1", key_id)
    return {"key_id": key_id, "label": label}


def api_router() -> Router:
    handlers = [whoami, *(h for name in MODULES for h in import_module(name).ROUTES)]
    return Router(PREFIX, route_handlers=handlers, guards=[operator_key], exception_handlers=EXCEPTION_HANDLERS,
                  tags=["operator API"], security=[{"operatorKey": []}])
