"""OCPI 2.2.1 HubClientInfo module object: ClientInfo (digest §3.8)."""

from __future__ import annotations

from datetime import UTC
from typing import Literal, TypeAlias

from app.schemas.types import CiString2, CiString3, DateTime, OcpiObject, to_utc
from app.schemas.v2_2_1.common import Role

__all__ = ["ClientInfo", "ConnectionStatus"]

ConnectionStatus: TypeAlias = Literal["CONNECTED", "OFFLINE", "PLANNED", "SUSPENDED"]


class ClientInfo(OcpiObject, kw_only=True):
    party_id: CiString3
    country_code: CiString2
    role: Role
    status: ConnectionStatus
    last_updated: DateTime

    def __post_init__(self) -> None:
        if self.last_updated.tzinfo is not UTC:
            self.last_updated = to_utc(self.last_updated)
