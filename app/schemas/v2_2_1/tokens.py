"""OCPI 2.2.1 Tokens module objects and enums: Token, EnergyContract, AuthorizationInfo, LocationReferences (§3.5)."""

from __future__ import annotations

from typing import Literal, TypeAlias

from app.schemas.types import (
    UTC,
    CiString2,
    CiString3,
    CiString36,
    DateTime,
    OcpiObject,
    String2,
    String64,
    to_utc,
)
from app.schemas.v2_2_1.common import TOKEN_TYPES_2_3_0, DisplayText, ProfileType, TokenType, later_version_values

__all__ = [
    "AllowedType",
    "AuthorizationInfo",
    "EnergyContract",
    "LocationReferences",
    "Token",
    "WhitelistType",
]

AllowedType: TypeAlias = Literal["ALLOWED", "BLOCKED", "EXPIRED", "NO_CREDIT", "NOT_ALLOWED"]
WhitelistType: TypeAlias = Literal["ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"]


class EnergyContract(OcpiObject, kw_only=True):
    supplier_name: String64
    contract_id: String64 | None = None


class Token(OcpiObject, kw_only=True):
    country_code: CiString2
    party_id: CiString3
    uid: CiString36
    type: TokenType
    contract_id: CiString36
    visual_number: String64 | None = None
    issuer: String64
    group_id: CiString36 | None = None
    valid: bool
    whitelist: WhitelistType
    language: String2 | None = None
    default_profile_type: ProfileType | None = None
    energy_contract: EnergyContract | None = None
    last_updated: DateTime

    def __post_init__(self) -> None:
        if self.last_updated.tzinfo is not UTC:
            self.last_updated = to_utc(self.last_updated)
        later_version_values("token type", self.type, TOKEN_TYPES_2_3_0)


class LocationReferences(OcpiObject, kw_only=True):
    location_id: CiString36
    evse_uids: list[CiString36] = []


class AuthorizationInfo(OcpiObject, kw_only=True):
    allowed: AllowedType
    token: Token
    location: LocationReferences | None = None
    authorization_reference: CiString36 | None = None
    info: DisplayText | None = None
