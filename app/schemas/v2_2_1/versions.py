"""OCPI 2.2.1 Versions module objects: Version, VersionDetails, Endpoint (digest §2.1)."""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

import msgspec

from app.schemas.types import CI_STRING_PATTERN, URL, CiString255, OcpiObject

__all__ = ["Endpoint", "InterfaceRole", "ModuleID", "Version", "VersionDetails", "VersionNumber", "VersionString"]

VersionNumber: TypeAlias = Literal["2.0", "2.1", "2.1.1", "2.2", "2.2.1", "2.3.0"]
"""Versions known to OCPI 2.2.1 (`2.1`, `2.2` deprecated) plus `2.3.0`, which peers list next to 2.2.1."""

VersionString: TypeAlias = Annotated[str, msgspec.Meta(max_length=16, pattern=CI_STRING_PATTERN)]
"""A version as a peer lists it. Any printable string, so that one version we do not know (say `2.3.1`) does not
make a whole version list unreadable: compare it with `VersionNumber` values and skip the others."""

ModuleID: TypeAlias = Literal[
    "cdrs", "chargingprofiles", "commands", "credentials", "hubclientinfo", "locations", "sessions", "tariffs", "tokens"
]
"""The standard module ids. `Endpoint.identifier` is a plain string, because custom (prefixed) ids are allowed."""

InterfaceRole: TypeAlias = Literal["SENDER", "RECEIVER"]


class Version(OcpiObject, kw_only=True):
    version: VersionString
    url: URL


class Endpoint(OcpiObject, kw_only=True):
    identifier: CiString255
    role: InterfaceRole
    url: URL


class VersionDetails(OcpiObject, kw_only=True):
    version: VersionNumber
    endpoints: Annotated[list[Endpoint], msgspec.Meta(min_length=1)]
