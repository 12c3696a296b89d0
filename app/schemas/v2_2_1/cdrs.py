"""OCPI 2.2.1 CDRs module objects: CDR, CdrLocation, SignedData, SignedValue (digest §3.3)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from app.schemas.types import (
    UTC,
    CiString2,
    CiString3,
    CiString32,
    CiString36,
    CiString39,
    CiString48,
    DateTime,
    Number,
    OcpiObject,
    String10,
    String255,
    String3,
    String45,
    String5000,
    String512,
    to_utc,
)
from app.schemas.v2_2_1.common import AuthMethod, CdrToken, ChargingPeriod, GeoLocation, Price
from app.schemas.v2_2_1.common import later_version_values
from app.schemas.v2_2_1.locations import CONNECTOR_TYPES_2_3_0, ConnectorFormat, ConnectorType, PowerType
from app.schemas.v2_2_1.tariffs import Tariff

__all__ = ["CDR", "CdrLocation", "SignedData", "SignedValue"]


class CdrLocation(OcpiObject, kw_only=True):
    id: CiString36
    name: String255 | None = None
    # The spec still says string(45) / string(20) here while Location's grew to 255 / 45 (post-d2 erratum); a CDR
    # copies them from the Location, so accept the longer values (digest §1.10).
    address: String255
    city: String45
    postal_code: String10 | None = None
    state: String45 | None = None
    country: String3
    coordinates: GeoLocation
    evse_uid: CiString36
    evse_id: CiString48
    connector_id: CiString36
    connector_standard: ConnectorType
    connector_format: ConnectorFormat
    connector_power_type: PowerType

    def __post_init__(self) -> None:
        later_version_values("connector standard", self.connector_standard, CONNECTOR_TYPES_2_3_0)


class SignedValue(OcpiObject, kw_only=True):
    nature: CiString32
    plain_data: String5000  # string(512) in 2.2.1-d2, 5000 after the post-d2 erratum
    signed_data: String5000


class SignedData(OcpiObject, kw_only=True):
    encoding_method: CiString36
    encoding_method_version: int | None = None
    public_key: String512 | None = None
    signed_values: Annotated[list[SignedValue], msgspec.Meta(min_length=1)]
    url: String512 | None = None


class CDR(OcpiObject, kw_only=True):
    country_code: CiString2
    party_id: CiString3
    id: CiString39
    start_date_time: DateTime
    end_date_time: DateTime
    session_id: CiString36 | None = None
    cdr_token: CdrToken
    auth_method: AuthMethod
    authorization_reference: CiString36 | None = None
    cdr_location: CdrLocation
    meter_id: String255 | None = None
    currency: String3
    tariffs: list[Tariff] = []
    charging_periods: Annotated[list[ChargingPeriod], msgspec.Meta(min_length=1)]
    signed_data: SignedData | None = None
    total_cost: Price
    total_fixed_cost: Price | None = None
    total_energy: Number
    total_energy_cost: Price | None = None
    total_time: Number
    total_time_cost: Price | None = None
    total_parking_time: Number | None = None
    total_parking_cost: Price | None = None
    total_reservation_cost: Price | None = None
    remark: String255 | None = None
    invoice_reference_id: CiString39 | None = None
    credit: bool | None = None
    credit_reference_id: CiString39 | None = None
    home_charging_compensation: bool | None = None
    last_updated: DateTime

    def __post_init__(self) -> None:
        if self.start_date_time.tzinfo is not UTC:
            self.start_date_time = to_utc(self.start_date_time)
        if self.end_date_time.tzinfo is not UTC:
            self.end_date_time = to_utc(self.end_date_time)
        if self.last_updated.tzinfo is not UTC:
            self.last_updated = to_utc(self.last_updated)
        if self.credit and self.credit_reference_id is None:
            raise ValueError("credit_reference_id is required when credit is true")
