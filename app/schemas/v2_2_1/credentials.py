"""OCPI 2.2.1 Credentials module objects: Credentials, CredentialsRole (digest §2.2)."""

from __future__ import annotations

from typing import Annotated, TypeAlias

import msgspec

from app.schemas.types import END, URL, CiString2, CiString3, OcpiObject
from app.schemas.v2_2_1.common import BusinessDetails, Role

__all__ = ["Credentials", "CredentialsRole", "CredentialsToken"]

CredentialsToken: TypeAlias = Annotated[
    str,
    msgspec.Meta(max_length=64, pattern=r"^[\x21-\x7E]+" + END, description="string(64), printable non-space ASCII"),
]


class CredentialsRole(OcpiObject, kw_only=True):
    role: Role
    business_details: BusinessDetails
    party_id: CiString3
    country_code: CiString2


class Credentials(OcpiObject, kw_only=True):
    token: CredentialsToken
    url: URL
    roles: Annotated[list[CredentialsRole], msgspec.Meta(min_length=1)]

    def __post_init__(self) -> None:
        # (role, party_id, country_code) must be unique; party and country are case-insensitive.
        if len(self.roles) > 1:
            seen = {(r.role, r.party_id.upper(), r.country_code.upper()) for r in self.roles}
            if len(seen) != len(self.roles):
                raise ValueError("roles: the same (role, party_id, country_code) is listed twice")
