"""`POST /api/v1/charging-events`: the charging backend reports what happens at our chargers (operator API key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request, post
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType

from app.charging.ingest import BadBatch, NotStored, Result
from app.operator_api.errors import RETRY_AFTER, ApiError, error_responses

MEDIA_TYPES = ("application/x-ndjson", "application/jsonl", "application/json")

DESCRIPTION = """Charging events, as JSON Lines (`application/x-ndjson` or `application/jsonl`: one JSON object per
line) or a JSON array (`application/json`). Each event is answered on its own, in input order: `accepted`,
`duplicate` (its `event_id` was seen before: it changes nothing) or `refused` with the `field` at fault and a
`message`.

Every event: `event_id` (1..64 characters, the idempotency key), `session_id` (1..36, the OCPI Session id and CDR
id), `type` (`session_started`, `meter`, `session_stopped`), `time` (RFC 3339, any offset).

- `session_started`: `location_id`, `evse_uid`, `connector_id` (one of our connectors), `token_uid`, `token_type`
  (default `RFID`), `meter_wh` (start reading); optional `authorization_reference`, `auth_method`,
  `country_code` + `party_id` (our CPO party, when the location id is not unique among them). The token is
  authorized by its whitelist type (a real-time question to its eMSP when needed); a refused token starts no
  session (`field: token_uid`).
- `meter`: `meter_wh` (cumulative); optional `power_w`, `current_a`, `state` (`CHARGING` default,
  `SUSPENDED_EV`, `SUSPENDED_EVSE`: connected but not charging, parking time).
- `session_stopped`: `meter_wh`; the session is COMPLETED and its CDR issued.

Numbers may be JSON numbers or numeric strings (exact decimals). Events of one session may come out of order within
the reorder window (default 900 s). A body that is not JSON Lines nor a JSON array at all is answered 400."""


def _s(kind: OpenAPIType, description: str | None = None, **extra: Any) -> Schema:
    return Schema(type=kind, description=description, **extra)


_STR, _NUM = OpenAPIType.STRING, OpenAPIType.NUMBER
_NUMBER = Schema(one_of=[_s(_NUM), _s(_STR)], description="a number, or a numeric string (exact decimal)")
EVENT_SCHEMA = Schema(
    type=OpenAPIType.OBJECT, title="ChargingEvent", required=["event_id", "session_id", "type", "time"],
    properties={
        "event_id": _s(_STR, "idempotency key, unique across the deployment", min_length=1, max_length=64),
        "session_id": _s(_STR, "OCPI Session id (and CDR id)", min_length=1, max_length=36),
        "type": _s(_STR, enum=["session_started", "meter", "session_stopped"]),
        "time": _s(_STR, "RFC 3339", format="date-time"),
        "meter_wh": _NUMBER,
        "location_id": _s(_STR, "session_started", max_length=36),
        "evse_uid": _s(_STR, "session_started", max_length=36),
        "connector_id": _s(_STR, "session_started", max_length=36),
        "token_uid": _s(_STR, "session_started", max_length=36),
        "token_type": _s(_STR, "session_started (default RFID)", enum=["AD_HOC_USER", "APP_USER", "OTHER", "RFID"]),
        "authorization_reference": _s(_STR, "session_started, optional", max_length=36),
        "auth_method": _s(_STR, "session_started, optional", enum=["AUTH_REQUEST", "COMMAND", "WHITELIST"]),
        "country_code": _s(_STR, "session_started, optional: our CPO party", max_length=2),
        "party_id": _s(_STR, "session_started, optional: our CPO party", max_length=3),
        "power_w": _NUMBER,
        "current_a": _NUMBER,
        "state": _s(_STR, "meter (default CHARGING)", enum=["CHARGING", "SUSPENDED_EV", "SUSPENDED_EVSE"]),
    })


@dataclass
class _EventsOperation(Operation):
    """The request body is read as bytes (parsed in Rust), so its schema is stated here."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True, description="charging events",
            content={"application/x-ndjson": OpenAPIMediaType(schema=EVENT_SCHEMA),
                     "application/jsonl": OpenAPIMediaType(schema=EVENT_SCHEMA),
                     "application/json": OpenAPIMediaType(schema=Schema(type=OpenAPIType.ARRAY, items=EVENT_SCHEMA))})


class EventsAnswer(msgspec.Struct):
    accepted: int
    duplicates: int
    refused: int
    results: list[Result]


@post("/charging-events", summary="Report charging events (JSON Lines or a JSON array)", description=DESCRIPTION,
      status_code=200, operation_class=_EventsOperation, response_description="one result per event, in input order",
      responses=error_responses(e400="no event at all: an empty body, or not JSON Lines nor a JSON array",
                                e401="no live operator API key", e413="the body is larger than the limit",
                                e415="a Content-Type other than the three above",
                                e503="the batch could not be stored (nothing of it was kept): send it again"))
async def charging_events(request: Request[Any, Any, Any]) -> EventsAnswer:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise ApiError(415, f"Content-Type {media or '(none)'!r} is not one of {', '.join(MEDIA_TYPES)}")
    body = await request.body()
    if not body.strip():
        raise ApiError(400, "the body holds no events")
    if media == "application/json" and not body.lstrip().startswith(b"["):
        raise ApiError(400, "an application/json body must be a JSON array of events (or send JSON Lines as "
                            "application/x-ndjson)")
    try:
        report = await request.app.state.ingest.ingest(body)
    except BadBatch as exc:
        raise ApiError(400, f"the body is not JSON Lines nor a JSON array of events: {exc}") from None
    except NotStored as exc:
        raise ApiError(503, str(exc), headers={"Retry-After": str(RETRY_AFTER)}) from None
    return EventsAnswer(report.accepted, report.duplicates, report.refused, report.results)


ROUTES = [charging_events]
