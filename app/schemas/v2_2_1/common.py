"""OCPI 2.2.1 classes and enums shared by several modules (digest §1.10, §2.2, §3.1 support classes, §3.3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, TypeAlias

import msgspec

from app.schemas.types import (
    END,
    URL,
    UTC,
    CiString2,
    CiString3,
    CiString36,
    CiString4,
    DateTime,
    Number,
    OcpiObject,
    String100,
    String2,
    String512,
    String64,
    to_utc,
    warn,
)

__all__ = [
    "AdditionalGeoLocation",
    "AuthMethod",
    "BusinessDetails",
    "CdrDimension",
    "CdrDimensionType",
    "CdrToken",
    "ChargingPeriod",
    "DisplayText",
    "EnergyMix",
    "EnergySource",
    "EnergySourceCategory",
    "EnvironmentalImpact",
    "EnvironmentalImpactCategory",
    "GeoLocation",
    "Image",
    "ImageCategory",
    "Latitude",
    "Longitude",
    "OcpiObject",
    "Price",
    "ProfileType",
    "Role",
    "TokenType",
    "later_version_values",
]

# -- enums (case-sensitive) -------------------------------------------------------------------------------------

Role: TypeAlias = Literal["CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP"]
# Values OCPI 2.3.0 added to an enum of 2.2.1 (digest §6) are accepted where the object keeps its meaning (a token
# is still a token, a connector still a connector), each with a warning: see `later_version_values`.
TOKEN_TYPES_2_3_0 = ("EMAID",)
TokenType: TypeAlias = Literal["AD_HOC_USER", "APP_USER", "OTHER", "RFID", "EMAID"]
AuthMethod: TypeAlias = Literal["AUTH_REQUEST", "COMMAND", "WHITELIST"]
ProfileType: TypeAlias = Literal["CHEAP", "FAST", "GREEN", "REGULAR"]
ImageCategory: TypeAlias = Literal["CHARGER", "ENTRANCE", "LOCATION", "NETWORK", "OPERATOR", "OTHER", "OWNER"]
EnergySourceCategory: TypeAlias = Literal[
    "NUCLEAR", "GENERAL_FOSSIL", "COAL", "GAS", "GENERAL_GREEN", "SOLAR", "WIND", "WATER"
]
EnvironmentalImpactCategory: TypeAlias = Literal["NUCLEAR_WASTE", "CARBON_DIOXIDE"]
CdrDimensionType: TypeAlias = Literal[
    "CURRENT",
    "ENERGY",
    "ENERGY_EXPORT",
    "ENERGY_IMPORT",
    "MAX_CURRENT",
    "MIN_CURRENT",
    "MAX_POWER",
    "MIN_POWER",
    "PARKING_TIME",
    "POWER",
    "RESERVATION_TIME",
    "STATE_OF_CHARGE",
    "TIME",
]



def later_version_values(field: str, values: str | Sequence[str] | None, added: tuple[str, ...]) -> None:
    """Warn (see `app.schemas.types.warn`) about each value of `values` that only OCPI 2.3.0 defines."""
    for value in [values] if isinstance(values, str) else values or ():
        if value in added:
            warn(f"{field} {value!r} is an OCPI 2.3.0 value")


# -- small types ------------------------------------------------------------------------------------------------

Latitude: TypeAlias = Annotated[
    str, msgspec.Meta(max_length=10, pattern=r"^-?[0-9]{1,2}\.[0-9]{5,7}" + END, description="string(10)")
]
Longitude: TypeAlias = Annotated[
    str, msgspec.Meta(max_length=11, pattern=r"^-?[0-9]{1,3}\.[0-9]{5,7}" + END, description="string(11)")
]
ImageSize: TypeAlias = Annotated[int, msgspec.Meta(ge=0, le=99999, description="int(5)")]


# -- classes ----------------------------------------------------------------------------------------------------


class DisplayText(OcpiObject, kw_only=True):
    language: String2
    text: String512


class Price(OcpiObject, kw_only=True):
    excl_vat: Number
    incl_vat: Number | None = None


class GeoLocation(OcpiObject, kw_only=True):
    latitude: Latitude
    longitude: Longitude


class AdditionalGeoLocation(OcpiObject, kw_only=True):
    latitude: Latitude
    longitude: Longitude
    name: DisplayText | None = None


class Image(OcpiObject, kw_only=True):
    url: URL
    thumbnail: URL | None = None
    category: ImageCategory
    type: CiString4
    width: ImageSize | None = None
    height: ImageSize | None = None


class BusinessDetails(OcpiObject, kw_only=True):
    name: String100
    website: URL | None = None
    logo: Image | None = None


class EnergySource(OcpiObject, kw_only=True):
    source: EnergySourceCategory
    percentage: Number


class EnvironmentalImpact(OcpiObject, kw_only=True):
    category: EnvironmentalImpactCategory
    amount: Number


class EnergyMix(OcpiObject, kw_only=True):
    is_green_energy: bool
    energy_sources: list[EnergySource] = []
    environ_impact: list[EnvironmentalImpact] = []
    supplier_name: String64 | None = None
    energy_product_name: String64 | None = None


class CdrToken(OcpiObject, kw_only=True):
    country_code: CiString2
    party_id: CiString3
    uid: CiString36
    type: TokenType
    contract_id: CiString36

    def __post_init__(self) -> None:
        later_version_values("token type", self.type, TOKEN_TYPES_2_3_0)


class CdrDimension(OcpiObject, kw_only=True):
    type: CdrDimensionType
    volume: Number


class ChargingPeriod(OcpiObject, kw_only=True):
    start_date_time: DateTime
    dimensions: Annotated[list[CdrDimension], msgspec.Meta(min_length=1)]
    tariff_id: CiString36 | None = None

    def __post_init__(self) -> None:
        if self.start_date_time.tzinfo is not UTC:
            self.start_date_time = to_utc(self.start_date_time)
