"""The charging event format (issue 8, contract §1) as typed msgspec models.

One JSON object per event, in JSON Lines or a JSON array. Unknown fields are ignored; null means absent. The Rust `EventBatch` is what the service reads events
with; these models state the same format for Python: the OpenAPI documentation of `POST /api/v1/charging-events`,
and tests that check a generated event file. Semantic rules that need a session's history (a meter reading lower
than an earlier one, an event before its session's start, after its stop, or outside the reorder window) are the
engine's, not the format's.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal, TypeAlias

import msgspec

from app.schemas.types import CI_STRING_PATTERN, STRING_PATTERN, CiString2, CiString3

EventId: TypeAlias = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=STRING_PATTERN,
                                                 description="idempotency key, unique across the deployment")]
Id36: TypeAlias = Annotated[str, msgspec.Meta(min_length=1, max_length=36, pattern=CI_STRING_PATTERN)]
Time: TypeAlias = Annotated[dt.datetime, msgspec.Meta(
    tz=True, description="RFC 3339 with an offset (any offset; stored and echoed in UTC with Z)")]
Reading: TypeAlias = Annotated[Decimal, msgspec.Meta(
    description="a number ≥ 0, as a JSON number or a numeric string; read as an exact decimal")]
TokenType: TypeAlias = Literal["AD_HOC_USER", "APP_USER", "OTHER", "RFID"]
AuthMethod: TypeAlias = Literal["AUTH_REQUEST", "COMMAND", "WHITELIST"]
MeterState: TypeAlias = Literal["CHARGING", "SUSPENDED_EV", "SUSPENDED_EVSE"]

EVENT_TYPES = ("session_started", "meter", "session_stopped")


def _non_negative(name: str, value: Decimal | None) -> None:
    # msgspec has no bounds for Decimal; the error names the field like msgspec's own messages do.
    if value is not None and (not value.is_finite() or value < 0):
        raise ValueError(f"`{name}` must be a finite number >= 0 - at `$.{name}`")


class _Event(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="type"):
    event_id: EventId
    session_id: Id36
    time: Time


class SessionStarted(_Event, tag="session_started"):
    """A session starts on a connector of one of our Locations, for a token; `meter_wh` is the start reading."""

    location_id: Id36
    evse_uid: Id36
    connector_id: Id36
    token_uid: Id36
    meter_wh: Reading
    token_type: TokenType | None = None  # absent or null: RFID
    authorization_reference: Id36 | None = None
    auth_method: AuthMethod | None = None
    country_code: CiString2 | None = None
    party_id: CiString3 | None = None

    def __post_init__(self) -> None:
        _non_negative("meter_wh", self.meter_wh)


class Meter(_Event, tag="meter"):
    """A cumulative meter reading; `state`, `power_w` and `current_a` hold from `time` until the next reading.
    SUSPENDED_EV / SUSPENDED_EVSE: connected but not charging (parking time by the tariff rules)."""

    meter_wh: Reading
    power_w: Reading | None = None
    current_a: Reading | None = None
    state: MeterState | None = None  # absent or null: CHARGING

    def __post_init__(self) -> None:
        _non_negative("meter_wh", self.meter_wh)
        _non_negative("power_w", self.power_w)
        _non_negative("current_a", self.current_a)


class SessionStopped(_Event, tag="session_stopped"):
    """The session ends with the final reading; its CDR is issued."""

    meter_wh: Reading

    def __post_init__(self) -> None:
        _non_negative("meter_wh", self.meter_wh)


ChargingEvent: TypeAlias = SessionStarted | Meter | SessionStopped
"""One charging event, told apart by `type`."""

event_decoder = msgspec.json.Decoder(ChargingEvent)
events_decoder = msgspec.json.Decoder(list[ChargingEvent])
