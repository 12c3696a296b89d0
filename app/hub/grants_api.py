"""`/api/v1/hub/grants`: service grants (operator API, plain JSON). GET lists the live grants (`?revoked=true`: all),
POST creates one, DELETE /{id} revokes one at once."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.params import Parameter

from app.hub import grants
from app.operator_api.errors import ApiError, error_responses


class GrantRequest(msgspec.Struct, forbid_unknown_fields=True):
    owner: str
    """The data owner, CC/PID (e.g. NL/CPO)."""
    service: str
    """The service party that receives copies, CC/PID."""
    module: str
    interface: str = "RECEIVER"


def _json(body: Any, status: int = 200) -> Response[bytes]:
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json")


@get("/hub/grants", summary="Service grants")
async def list_grants(request: Request[Any, Any, Any],
                      revoked: Annotated[bool, Parameter(description="also list revoked grants")] = False) -> Response[bytes]:
    return _json([g.as_json() for g in await grants.list_grants(request.app.state.pool, revoked)])


@post("/hub/grants", summary="Grant a service party copies of an owner's messages",
      responses=error_responses(e400="a malformed party, module or interface", e409="the same grant is live"))
async def create_grant(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Body `{"owner": "NL/CPO", "service": "NL/BIL", "module": "cdrs", "interface": "RECEIVER"}`; 201 with the grant."""
    try:
        body = msgspec.json.decode(await request.body(), type=GrantRequest)
    except msgspec.ValidationError as exc:
        raise ApiError(400, f"invalid grant: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"the body is not JSON: {exc}") from None
    try:
        owner = grants.parse_party(body.owner, "owner")
        service = grants.parse_party(body.service, "service")
        made = await grants.create(request.app.state.pool, owner, service, body.module, body.interface)
    except grants.GrantError as exc:
        raise ApiError(409 if str(exc).startswith("already granted") else 400, str(exc)) from None
    return _json(made.as_json(), 201)


@delete("/hub/grants/{grant_id:int}", status_code=200, summary="Revoke a service grant",
        responses=error_responses(e404="no live grant with that id"))
async def revoke_grant(request: Request[Any, Any, Any], grant_id: int) -> Response[bytes]:
    revoked = await grants.revoke(request.app.state.pool, grant_id)
    if revoked is None:
        raise ApiError(404, f"no live grant {grant_id}")
    return _json(revoked.as_json())


ROUTES = [list_grants, create_grant, revoke_grant]
