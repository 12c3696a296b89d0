"""OCPI 2.2.1 Locations module objects and enums: Location, EVSE, Connector and their classes (digest §3.1)."""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

import msgspec

from app.schemas.types import (
    END,
    URL,
    UTC,
    CiString2,
    CiString3,
    CiString36,
    CiString48,
    DateTime,
    OcpiObject,
    String10,
    String16,
    String255,
    String3,
    String4,
    String45,
    String64,
    to_utc,
)
from app.schemas.v2_2_1.common import (
    AdditionalGeoLocation,
    BusinessDetails,
    DisplayText,
    EnergyMix,
    EnergySourceCategory,
    EnvironmentalImpactCategory,
    GeoLocation,
    Image,
    ImageCategory,
    TokenType,
    TOKEN_TYPES_2_3_0,
    later_version_values,
)

__all__ = [
    "EVSE",
    "Capability",
    "Connector",
    "ConnectorFormat",
    "ConnectorType",
    "EnergySourceCategory",
    "EnvironmentalImpactCategory",
    "ExceptionalPeriod",
    "Facility",
    "Hours",
    "ImageCategory",
    "Location",
    "ParkingRestriction",
    "ParkingType",
    "PowerType",
    "PublishTokenType",
    "RegularHours",
    "Status",
    "StatusSchedule",
]

# -- enums (case-sensitive) -------------------------------------------------------------------------------------

Status: TypeAlias = Literal[
    "AVAILABLE", "BLOCKED", "CHARGING", "INOPERATIVE", "OUTOFORDER", "PLANNED", "REMOVED", "RESERVED", "UNKNOWN"
]
Capability: TypeAlias = Literal[
    "CHARGING_PROFILE_CAPABLE",
    "CHARGING_PREFERENCES_CAPABLE",
    "CHIP_CARD_SUPPORT",
    "CONTACTLESS_CARD_SUPPORT",
    "CREDIT_CARD_PAYABLE",
    "DEBIT_CARD_PAYABLE",
    "PED_TERMINAL",
    "REMOTE_START_STOP_CAPABLE",
    "RESERVABLE",
    "RFID_READER",
    "START_SESSION_CONNECTOR_REQUIRED",
    "TOKEN_GROUP_CAPABLE",
    "UNLOCK_CAPABLE",
]
ConnectorFormat: TypeAlias = Literal["SOCKET", "CABLE"]
ConnectorType: TypeAlias = Literal[
    "CHADEMO",
    "CHAOJI",
    "DOMESTIC_A",
    "DOMESTIC_B",
    "DOMESTIC_C",
    "DOMESTIC_D",
    "DOMESTIC_E",
    "DOMESTIC_F",
    "DOMESTIC_G",
    "DOMESTIC_H",
    "DOMESTIC_I",
    "DOMESTIC_J",
    "DOMESTIC_K",
    "DOMESTIC_L",
    "DOMESTIC_M",
    "DOMESTIC_N",
    "DOMESTIC_O",
    "GBT_AC",
    "GBT_DC",
    "IEC_60309_2_single_16",
    "IEC_60309_2_three_16",
    "IEC_60309_2_three_32",
    "IEC_60309_2_three_64",
    "IEC_62196_T1",
    "IEC_62196_T1_COMBO",
    "IEC_62196_T2",
    "IEC_62196_T2_COMBO",
    "IEC_62196_T3A",
    "IEC_62196_T3C",
    "NEMA_5_20",
    "NEMA_6_30",
    "NEMA_6_50",
    "NEMA_10_30",
    "NEMA_10_50",
    "NEMA_14_30",
    "NEMA_14_50",
    "PANTOGRAPH_BOTTOM_UP",
    "PANTOGRAPH_TOP_DOWN",
    "TESLA_R",
    "TESLA_S",
    "MCS",
    "SAE_J3400",
]
CONNECTOR_TYPES_2_3_0 = ("MCS", "SAE_J3400")
PowerType: TypeAlias = Literal["AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC"]
ParkingType: TypeAlias = Literal[
    "ALONG_MOTORWAY", "PARKING_GARAGE", "PARKING_LOT", "ON_DRIVEWAY", "ON_STREET", "UNDERGROUND_GARAGE"
]
ParkingRestriction: TypeAlias = Literal[
    "EV_ONLY", "PLUGGED", "DISABLED", "CUSTOMERS", "MOTORCYCLES", "EMPLOYEES", "TAXIS", "TENANTS"
]
PARKING_RESTRICTIONS_2_3_0 = ("EMPLOYEES", "TAXIS", "TENANTS")
Facility: TypeAlias = Literal[
    "HOTEL",
    "RESTAURANT",
    "CAFE",
    "MALL",
    "SUPERMARKET",
    "SPORT",
    "RECREATION_AREA",
    "NATURE",
    "MUSEUM",
    "BIKE_SHARING",
    "BUS_STOP",
    "TAXI_STAND",
    "TRAM_STOP",
    "METRO_STATION",
    "TRAIN_STATION",
    "AIRPORT",
    "PARKING_LOT",
    "CARPOOL_PARKING",
    "FUEL_STATION",
    "WIFI",
]

# -- small types ------------------------------------------------------------------------------------------------

_HHMM = r"([01][0-9]|2[0-3]):[0-5][0-9]"
TimeOfDay: TypeAlias = Annotated[str, msgspec.Meta(max_length=5, pattern="^" + _HHMM + END, description="HH:MM")]
EndTimeOfDay: TypeAlias = Annotated[
    str, msgspec.Meta(max_length=5, pattern="^(" + _HHMM + "|24:00)" + END, description="HH:MM, 24:00 accepted")
]
Weekday: TypeAlias = Annotated[int, msgspec.Meta(ge=1, le=7, description="1 = Monday .. 7 = Sunday")]

# -- classes ----------------------------------------------------------------------------------------------------


class PublishTokenType(OcpiObject, kw_only=True):
    uid: CiString36 | None = None
    type: TokenType | None = None
    visual_number: String64 | None = None
    issuer: String64 | None = None
    group_id: CiString36 | None = None

    def __post_init__(self) -> None:
        if self.uid is None and self.visual_number is None and self.group_id is None:
            raise ValueError("one of uid, visual_number or group_id is required")
        if self.uid is not None and self.type is None:
            raise ValueError("type is required when uid is given")
        if self.visual_number is not None and self.issuer is None:
            raise ValueError("issuer is required when visual_number is given")
        later_version_values("token type", self.type, TOKEN_TYPES_2_3_0)


class RegularHours(OcpiObject, kw_only=True):
    weekday: Weekday
    period_begin: TimeOfDay
    period_end: EndTimeOfDay


class ExceptionalPeriod(OcpiObject, kw_only=True):
    period_begin: DateTime
    period_end: DateTime

    def __post_init__(self) -> None:
        if self.period_begin.tzinfo is not UTC:
            self.period_begin = to_utc(self.period_begin)
        if self.period_end.tzinfo is not UTC:
            self.period_end = to_utc(self.period_end)


class Hours(OcpiObject, kw_only=True):
    twentyfourseven: bool
    regular_hours: list[RegularHours] = []
    exceptional_openings: list[ExceptionalPeriod] = []
    exceptional_closings: list[ExceptionalPeriod] = []


class StatusSchedule(OcpiObject, kw_only=True):
    period_begin: DateTime
    period_end: DateTime | None = None
    status: Status

    def __post_init__(self) -> None:
        if self.period_begin.tzinfo is not UTC:
            self.period_begin = to_utc(self.period_begin)
        if self.period_end is not None and self.period_end.tzinfo is not UTC:
            self.period_end = to_utc(self.period_end)


class Connector(OcpiObject, kw_only=True):
    id: CiString36
    standard: ConnectorType
    format: ConnectorFormat
    power_type: PowerType
    max_voltage: int
    max_amperage: int
    max_electric_power: int | None = None
    tariff_ids: list[CiString36] = []
    terms_and_conditions: URL | None = None
    last_updated: DateTime

    def __post_init__(self) -> None:
        if self.last_updated.tzinfo is not UTC:
            self.last_updated = to_utc(self.last_updated)
        later_version_values("connector standard", self.standard, CONNECTOR_TYPES_2_3_0)


class EVSE(OcpiObject, kw_only=True):
    uid: CiString36
    evse_id: CiString48 | None = None
    status: Status
    status_schedule: list[StatusSchedule] = []
    capabilities: list[Capability] = []
    connectors: Annotated[list[Connector], msgspec.Meta(min_length=1)]
    floor_level: String4 | None = None
    coordinates: GeoLocation | None = None
    physical_reference: String16 | None = None
    directions: list[DisplayText] = []
    parking_restrictions: list[ParkingRestriction] = []
    images: list[Image] = []
    last_updated: DateTime

    def __post_init__(self) -> None:
        if self.last_updated.tzinfo is not UTC:
            self.last_updated = to_utc(self.last_updated)
        later_version_values("parking restriction", self.parking_restrictions, PARKING_RESTRICTIONS_2_3_0)


class Location(OcpiObject, kw_only=True):
    country_code: CiString2
    party_id: CiString3
    id: CiString36
    publish: bool
    publish_allowed_to: list[PublishTokenType] = []
    name: String255 | None = None
    address: String255  # string(45) in 2.2.1-d2, 255 after the post-d2 erratum
    city: String45
    postal_code: String10 | None = None
    state: String45 | None = None  # string(20) in 2.2.1-d2, 45 after the post-d2 erratum
    country: String3
    coordinates: GeoLocation
    related_locations: list[AdditionalGeoLocation] = []
    parking_type: ParkingType | None = None
    evses: list[EVSE] = []
    directions: list[DisplayText] = []
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    facilities: list[Facility] = []
    time_zone: String255
    opening_times: Hours | None = None
    charging_when_closed: bool | None = None
    images: list[Image] = []
    energy_mix: EnergyMix | None = None
    last_updated: DateTime

    def __post_init__(self) -> None:
        if self.last_updated.tzinfo is not UTC:
            self.last_updated = to_utc(self.last_updated)
        if self.publish_allowed_to and self.publish:
            raise ValueError("publish_allowed_to may only be given when publish is false")
