"""`GET /api/v1/monitoring/...`: the live view per location and per EVSE, as plain JSON. Each request first
brings this worker's view up to date with the database (cheap when nothing changed)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from app.charging.monitoring import LiveView
from app.operator_api.errors import ApiError, error_responses

MAX_LIMIT = 1000


# --- response shapes (OpenAPI only: the monitor writes the JSON) --------------------------------------

class Cost(msgspec.Struct):
    currency: str
    excl_vat: float | None
    """Exact decimal; null while any session of this currency has no cost yet."""
    incl_vat: float | None


class _LocationFigures(msgspec.Struct):
    country_code: str
    party_id: str
    location_id: str
    active_sessions: int
    kwh: float
    cost: list[Cost]


class LocationSummary(_LocationFigures):
    evses: dict[str, int]
    """EVSEs per status (OCPI EVSE Status; UNKNOWN when never reported)."""


class LocationPage(msgspec.Struct):
    total: int
    """Locations matching the filter (with an active session or a known EVSE; with active=true, an active
    session)."""
    active_sessions: int
    kwh: float
    cost: list[Cost]
    locations: list[LocationSummary]


class LiveSession(msgspec.Struct):
    id: str
    connector_id: str
    kwh: float
    excl_vat: float | None
    incl_vat: float | None
    currency: str
    started_at: str


class LiveEvse(msgspec.Struct):
    evse_uid: str
    status: str
    active_sessions: int
    kwh: float
    cost: list[Cost]
    sessions: list[LiveSession]


class LocationDetail(_LocationFigures):
    evses: list[LiveEvse]


async def live_view(request: Request[Any, Any, Any]) -> LiveView:
    """This worker's view, created at its first use and refreshed on every request."""
    view: LiveView | None = request.app.state.get("live_view")
    if view is None:
        view = request.app.state.setdefault("live_view", LiveView())
    await view.refresh(request.app.state.pool)
    return view


def _json(body: bytes) -> Response[bytes]:
    return Response(body, media_type="application/json")


_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def _active_filter(active: str | None) -> bool:
    """Read as a string so a bad value is answered with the field named, as every other bad filter."""
    if active is None:
        return False
    value = _BOOLEANS.get(active.lower())
    if value is None:
        raise ApiError(400, f"active must be true or false, not {active[:20]!r}", field="active")
    return value


def _party_filter(country_code: str | None, party_id: str | None) -> None:
    if country_code is not None and not (len(country_code) == 2 and country_code.isascii() and country_code.isalpha()):
        raise ApiError(400, "country_code must be two letters (ISO 3166-1 alpha-2)", field="country_code")
    if party_id is not None and not (len(party_id) == 3 and party_id.isascii() and party_id.isalnum()):
        raise ApiError(400, "party_id must be three letters or digits", field="party_id")


@get("/monitoring/locations", summary="Live view: active sessions, energy, cost and EVSE statuses per location",
     description="Locations of our CPO parties with an active session or a known EVSE status, sorted by country, "
                 "party and id; with `active=true` only those with at least one active session. `total`, "
                 "`active_sessions`, `kwh` and `cost` cover every location of the filter, not only the page. "
                 "Amounts are exact decimals (kWh, and cost per currency).",
     responses={200: ResponseSpec(data_container=LocationPage, description="one page of the location list"),
                **error_responses(e400="a bad filter or page parameter")})
async def monitoring_locations(
    request: Request[Any, Any, Any],
    country_code: Annotated[str | None, Parameter(description="only this country (two letters)")] = None,
    party_id: Annotated[str | None, Parameter(description="only this party id (three characters)")] = None,
    active: Annotated[str | None, Parameter(
        description="true: only locations with at least one active session (`total` then counts those); "
                    "false (default): every location with an active session or a known EVSE status",
        schema_extra={"type": "boolean"})] = None,
    offset: Annotated[int, Parameter(ge=0, description="locations to skip")] = 0,
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="locations on the page")] = 100,
) -> Response[bytes]:
    _party_filter(country_code, party_id)
    active_only = _active_filter(active)
    view = await live_view(request)
    return _json(view.locations(country_code, party_id, offset, limit, active_only=active_only))


@get("/monitoring/locations/{country_code:str}/{party_id:str}/{location_id:str}",
     summary="Live view of one location: per EVSE its status and active sessions with energy and cost so far",
     description="EVSEs by uid, sessions by start time. 404 when the location has no active session and no "
                 "known EVSE status.",
     responses={200: ResponseSpec(data_container=LocationDetail, description="the location"),
                **error_responses(e404="unknown location")})
async def monitoring_location(request: Request[Any, Any, Any], country_code: str, party_id: str,
                              location_id: str) -> Response[bytes]:
    view = await live_view(request)
    body = view.location(country_code, party_id, location_id)
    if body is None:
        raise ApiError(404, f"no location {country_code.upper()}/{party_id.upper()}/{location_id} in the live view "
                            "(no active session and no EVSE status)", field="location_id")
    return _json(body)


ROUTES = [monitoring_locations, monitoring_location]
