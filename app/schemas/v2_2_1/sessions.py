"""OCPI 2.2.1 Sessions module objects and enums: Session, ChargingPreferences (digest §3.2)."""

from __future__ import annotations

from typing import Literal, TypeAlias

from app.schemas.types import (
    UTC,
    CiString2,
    CiString3,
    CiString36,
    DateTime,
    Number,
    OcpiObject,
    String255,
    String3,
    to_utc,
)
from app.schemas.v2_2_1.common import AuthMethod, CdrToken, ChargingPeriod, Price, ProfileType

__all__ = ["ChargingPreferences", "ChargingPreferencesResponse", "Session", "SessionStatus"]

SessionStatus: TypeAlias = Literal["ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION"]
ChargingPreferencesResponse: TypeAlias = Literal[
    "ACCEPTED", "DEPARTURE_REQUIRED", "ENERGY_NEED_REQUIRED", "NOT_POSSIBLE", "PROFILE_TYPE_NOT_SUPPORTED"
]


class ChargingPreferences(OcpiObject, kw_only=True):
    profile_type: ProfileType
    departure_time: DateTime | None = None
    energy_need: Number | None = None
    discharge_allowed: bool | None = None

    def __post_init__(self) -> None:
        if self.departure_time is not None and self.departure_time.tzinfo is not UTC:
            self.departure_time = to_utc(self.departure_time)


class Session(OcpiObject, kw_only=True):
    country_code: CiString2
    party_id: CiString3
    id: CiString36
    start_date_time: DateTime
    end_date_time: DateTime | None = None
    kwh: Number
    cdr_token: CdrToken
    auth_method: AuthMethod
    authorization_reference: CiString36 | None = None
    location_id: CiString36
    evse_uid: CiString36
    connector_id: CiString36
    meter_id: String255 | None = None
    currency: String3
    charging_periods: list[ChargingPeriod] = []
    total_cost: Price | None = None
    status: SessionStatus
    last_updated: DateTime

    def __post_init__(self) -> None:
        if self.start_date_time.tzinfo is not UTC:
            self.start_date_time = to_utc(self.start_date_time)
        if self.end_date_time is not None and self.end_date_time.tzinfo is not UTC:
            self.end_date_time = to_utc(self.end_date_time)
        if self.last_updated.tzinfo is not UTC:
            self.last_updated = to_utc(self.last_updated)
