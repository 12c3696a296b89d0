"""`GET /api/v1/cdr-checks` and `GET /api/v1/cdr-checks/{country_code}/{party_id}/{cdr_id}`: the outcome of the
eMSP's check of each CDR it received (operator API: plain JSON, the API key guard of the /api/v1 router)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from app.checks import disputes
from app.checks.disputes import CheckDetail, CheckPage
from app.operator_api.errors import ApiError, error_responses

MAX_LIMIT = 1000


def _json(body: bytes) -> Response[bytes]:
    return Response(body, media_type="application/json")


def _count(name: str, raw: str | None, default: int, maximum: int | None = None) -> int:
    """A non-negative integer query parameter, written in ASCII digits."""
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise ApiError(400, f"{name} must be a whole number from 0{f' to {maximum}' if maximum else ''}, not {raw!r}",
                       field=name)
    value = int(raw)
    if maximum is not None and value > maximum:
        raise ApiError(400, f"{name} must be at most {maximum}", field=name)
    return value


@get("/cdr-checks", summary="Checks of the CDRs this eMSP received", responses={
    200: ResponseSpec(CheckPage, description="a page of checks, newest received first"),
    **error_responses(e400="a bad status, offset or limit")})
async def list_checks(
    request: Request[Any, Any, Any],
    status: Annotated[str | None, Parameter(description="PENDING, AGREED, DISPUTED or UNVERIFIABLE; several "
                                                        "comma-separated; default every status")] = None,
    offset: Annotated[str | None, Parameter(description="checks to skip (default 0)")] = None,
    limit: Annotated[str | None, Parameter(description=f"checks per page (default 100, at most {MAX_LIMIT})")] = None,
) -> Response[bytes]:
    """Every CDR a CPO sends us is re-priced with the tariff versions we hold for that CPO (the one in force at
    session start) and the time zone of our copy of its Location: AGREED, DISPUTED (a total differs by more than
    OCPI_ENGINE_DISPUTE_TOLERANCE) or UNVERIFIABLE (with the reason); PENDING until checked."""
    try:
        statuses = disputes.parse_statuses(status)
    except ValueError as exc:
        raise ApiError(400, str(exc), field="status") from None
    found = await disputes.page(request.app.state.pool, statuses, _count("offset", offset, 0),
                                _count("limit", limit, 100, MAX_LIMIT))
    return _json(disputes.encode(found))


@get("/cdr-checks/{country_code:str}/{party_id:str}/{cdr_id:str}", summary="One CDR's check, with both breakdowns",
     responses={200: ResponseSpec(CheckDetail, description="the check with our breakdown, theirs and the differences"),
                **error_responses(e404="no check of that CDR")})
async def get_check(request: Request[Any, Any, Any], country_code: str, party_id: str, cdr_id: str) -> Response[bytes]:
    """404 when we received no such CDR (ids compare case-insensitively)."""
    found = await disputes.one(request.app.state.pool, country_code, party_id, cdr_id)
    if found is None:
        raise ApiError(404, f"no check of CDR {country_code}/{party_id}/{cdr_id}: we received no such CDR")
    return _json(disputes.encode(found))


ROUTES = [list_checks, get_check]
