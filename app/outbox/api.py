"""Operator API on a peer's outbox queue (`app/outbox/ops.py`): `GET /api/v1/peers/{id}/queue`,
`POST /api/v1/peers/{id}/queue/retry`, `POST /api/v1/peers/{id}/resync`."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from app.modules.sync import MODULES as SYNCED
from app.operator_api.errors import ApiError, error_responses
from app.outbox import ops

MAX_LIMIT = 1000


class RetryRequest(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[int] | None = None
    """The refused rows to send again; default every refused row of the peer."""


class ResyncRequest(msgspec.Struct, forbid_unknown_fields=True):
    modules: list[str] | None = None
    """Modules to resynchronise (default all of them)."""


def _api_error(exc: ops.OpsError) -> ApiError:
    return ApiError(exc.status, exc.message, field=exc.field)


@get("/peers/{peer_id:int}/queue", summary="A peer's delivery queue", responses={
    200: ResponseSpec(ops.Queue, description="counts by state and module, the oldest waiting push's age, the peer's "
                                             "delivery status and its first pending, in-flight and refused pushes"),
    **error_responses(e404="no such peer")})
async def get_queue(request: Request[Any, Any, Any], peer_id: int,
                    limit: Annotated[int, Parameter(ge=0, le=MAX_LIMIT, description="rows listed (default 50)")] = 50
                    ) -> ops.Queue:
    """What waits for the peer, what was refused and why, and whether it is CONNECTED or OFFLINE."""
    try:
        return await ops.show(request.app.state.pool, peer_id, limit)
    except ops.OpsError as exc:
        raise _api_error(exc) from None


@post("/peers/{peer_id:int}/queue/retry", summary="Send a peer's refused pushes again", status_code=200, responses={
    200: ResponseSpec(ops.Retried, description="the rows moved back to PENDING, and those left refused because a "
                                               "newer update of their object went out since"),
    **error_responses(e400="an id that is not a refused push of this peer", e404="no such peer")})
async def retry_queue(request: Request[Any, Any, Any], peer_id: int, data: RetryRequest | None = None) -> ops.Retried:
    """A refused push is never retried by itself (the peer said no). Once the cause is fixed on the peer's side,
    this sends it again: every refused row of the peer, or those of `ids`."""
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        try:
            return await ops.retry(conn, peer_id, data.ids if data else None)
        except ops.OpsError as exc:
            raise _api_error(exc) from None


@post("/peers/{peer_id:int}/resync", summary="Queue the current state of everything a peer may see",
      status_code=200, responses={
          200: ResponseSpec(ops.Resynced, description="how many PUTs were queued"),
          **error_responses(e400=f"a module other than {', '.join(SYNCED)}", e404="no such peer",
                            e409="the peer is not registered")})
async def resync_peer(request: Request[Any, Any, Any], peer_id: int, data: ResyncRequest | None = None) -> ops.Resynced:
    """A PUT of every object of ours the peer may see, as at its registration (waiting updates of the same
    objects fold into them): for a peer that lost its data or refused pushes whose cause is now fixed."""
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        try:
            return await ops.resync(conn, peer_id, data.modules if data else None)
        except ops.OpsError as exc:
            raise _api_error(exc) from None


ROUTES = [get_queue, retry_queue, resync_peer]
