"""OCPI 2.2.1 Tariffs module objects and enums: Tariff, TariffElement, PriceComponent, TariffRestrictions (§4.1)."""

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
    DateTime,
    NonNegativeInt,
    Number,
    OcpiObject,
    String3,
    to_utc,
)
from app.schemas.v2_2_1.common import DisplayText, EnergyMix, Price

__all__ = [
    "DayOfWeek",
    "PriceComponent",
    "ReservationRestrictionType",
    "Tariff",
    "TariffDimensionType",
    "TariffElement",
    "TariffRestrictions",
    "TariffType",
]

# -- enums (case-sensitive) -------------------------------------------------------------------------------------

TariffType: TypeAlias = Literal["AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR"]
TariffDimensionType: TypeAlias = Literal["ENERGY", "FLAT", "PARKING_TIME", "TIME"]
DayOfWeek: TypeAlias = Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
ReservationRestrictionType: TypeAlias = Literal["RESERVATION", "RESERVATION_EXPIRES"]

# -- small types ------------------------------------------------------------------------------------------------

# Same formats the Rust core accepts (it rejects `24:00`; the spec says to write end of day as `00:00`).
TariffTime: TypeAlias = Annotated[
    str, msgspec.Meta(max_length=5, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]" + END, description="HH:MM")
]
TariffDate: TypeAlias = Annotated[
    str,
    msgspec.Meta(
        max_length=10,
        pattern=r"^[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])" + END,
        description="YYYY-MM-DD",
    ),
]

# -- classes ----------------------------------------------------------------------------------------------------


class PriceComponent(OcpiObject, kw_only=True):
    type: TariffDimensionType
    price: Number
    vat: Number | None = None
    step_size: NonNegativeInt


class TariffRestrictions(OcpiObject, kw_only=True):
    start_time: TariffTime | None = None
    end_time: TariffTime | None = None
    start_date: TariffDate | None = None
    end_date: TariffDate | None = None
    min_kwh: Number | None = None
    max_kwh: Number | None = None
    min_current: Number | None = None
    max_current: Number | None = None
    min_power: Number | None = None
    max_power: Number | None = None
    min_duration: NonNegativeInt | None = None
    max_duration: NonNegativeInt | None = None
    day_of_week: list[DayOfWeek] = []
    reservation: ReservationRestrictionType | None = None


class TariffElement(OcpiObject, kw_only=True):
    price_components: Annotated[list[PriceComponent], msgspec.Meta(min_length=1)]
    restrictions: TariffRestrictions | None = None


class Tariff(OcpiObject, kw_only=True):
    country_code: CiString2
    party_id: CiString3
    id: CiString36
    currency: String3
    type: TariffType | None = None
    tariff_alt_text: list[DisplayText] = []
    tariff_alt_url: URL | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    elements: Annotated[list[TariffElement], msgspec.Meta(min_length=1)]
    start_date_time: DateTime | None = None
    end_date_time: DateTime | None = None
    energy_mix: EnergyMix | None = None
    last_updated: DateTime

    def __post_init__(self) -> None:
        if self.start_date_time is not None and self.start_date_time.tzinfo is not UTC:
            self.start_date_time = to_utc(self.start_date_time)
        if self.end_date_time is not None and self.end_date_time.tzinfo is not UTC:
            self.end_date_time = to_utc(self.end_date_time)
        if self.last_updated.tzinfo is not UTC:
            self.last_updated = to_utc(self.last_updated)
