"""Operator API of the hub: `GET /api/v1/hub/parties` (the registry) and `/api/v1/hub/rules` (allow/deny lists:
GET list, POST add, DELETE /{id} remove)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.params import Parameter

from app.hub import registry, rules
from app.hub.rules import Rule, RuleError
from app.operator_api.errors import ApiError, error_responses


class PartyEntry(msgspec.Struct):
    country_code: str
    party_id: str
    role: str
    peer_id: int
    status: str
    """CONNECTED, OFFLINE, PLANNED (invited, not registered yet) or SUSPENDED (its peer unregistered)."""


class RuleOut(msgspec.Struct):
    id: int
    party: str
    kind: str
    other: str
    created_at: str


class RuleIn(msgspec.Struct):
    party: str
    """The party whose list this is: `CC/PID`, e.g. NL/MSP."""
    kind: str
    """ALLOW or DENY."""
    other: str
    """The counterpart party, `CC/PID`."""


def _out(rule: Rule) -> RuleOut:
    return RuleOut(rule.id, "/".join(rule.party), rule.kind, "/".join(rule.other), rule.created_at.isoformat())


def _json(obj: Any, status: int = 200) -> Response[bytes]:
    return Response(msgspec.json.encode(obj), status_code=status, media_type="application/json")


@get("/hub/parties", summary="Every party reachable through this hub, with its connection status")
async def list_parties(request: Request[Any, Any, Any]) -> list[PartyEntry]:
    return [PartyEntry(e.country_code, e.party_id, e.role, e.peer_id, e.status)
            for e in await registry.entries(request.app.state.pool)]


@get("/hub/rules", summary="Allow and deny lists", responses=error_responses(e400="a malformed party"))
async def list_rules(request: Request[Any, Any, Any],
                     party: Annotated[str | None, Parameter(description="only this party's lists (CC/PID)")] = None
                     ) -> list[RuleOut]:
    try:
        key = rules.parse_party(party) if party else None
    except RuleError as exc:
        raise ApiError(400, str(exc), field="party") from None
    return [_out(r) for r in await rules.list_rules(request.app.state.pool, key)]


@post("/hub/rules", summary="Add a party to another party's allow or deny list", status_code=201,
      responses=error_responses(e400="a malformed party or kind"))
async def add_rule(request: Request[Any, Any, Any], data: RuleIn) -> Response[bytes]:
    """201 with the new rule; 200 with the existing one when it was already there."""
    try:
        party, other = rules.parse_party(data.party), rules.parse_party(data.other)
        rule, new = await rules.add(request.app.state.pool, party, data.kind, other)
    except RuleError as exc:
        raise ApiError(400, str(exc)) from None
    return _json(_out(rule), 201 if new else 200)


@delete("/hub/rules/{rule_id:int}", summary="Remove a rule", status_code=204,
        responses=error_responses(e404="no such rule"))
async def remove_rule(request: Request[Any, Any, Any], rule_id: int) -> None:
    if not await rules.remove(request.app.state.pool, rule_id):
        raise ApiError(404, f"no rule {rule_id} (see GET /api/v1/hub/rules)")


ROUTES = [list_parties, list_rules, add_rule, remove_rule]
