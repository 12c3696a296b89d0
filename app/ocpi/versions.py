"""Versions module (digest §2.1): the versions list and each version's endpoint details, listing only the
interfaces of the roles this deployment hosts. Also the client side: discovering a peer's version."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response, Router, get
from litestar.di import Provide

from app.db import parties
from app.db.peers import Peer
from app.ocpi.auth import provide_caller
from app.ocpi.client import OcpiCallError, OcpiClient
from app.ocpi.transport import UNSUPPORTED_VERSION, OcpiError, respond_data
from app.schemas.v2_2_1 import Version, VersionDetails

OCPI_PREFIX = "/ocpi"


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    identifier: str
    interface: str
    """SENDER or RECEIVER."""
    path: str
    """Below the version's URL, e.g. "sender/locations"."""
    roles: frozenset[str] = frozenset()
    """Our roles that offer this interface; empty: always offered (credentials)."""


@dataclass(frozen=True, slots=True)
class VersionSpec:
    version: str
    endpoints: tuple[EndpointSpec, ...]
    handlers: list[Any] = field(default_factory=list)

    def url(self, public_url: str) -> str:
        return f"{public_url}{OCPI_PREFIX}/{self.version}"


def _numeric(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def versions_router(specs: list[VersionSpec]) -> Router:
    by_version = {s.version: s for s in specs}

    @get("/versions", sync_to_thread=False)
    def list_versions(request: Request[Any, Any, Any], caller: Peer) -> Response[bytes]:
        public = request.app.state.settings.public_url
        return respond_data([{"version": s.version, "url": s.url(public)} for s in specs])

    # Static paths: each version's URL is also the prefix of its modules' routers.
    @get([f"/{s.version}" for s in specs])
    async def version_details(request: Request[Any, Any, Any], caller: Peer) -> Response[bytes]:
        spec = by_version[request.url.path.rstrip("/").rsplit("/", 1)[-1]]
        roles = {p.role for p in await parties.list_all(request.app.state.pool)}
        base = spec.url(request.app.state.settings.public_url)
        endpoints = [{"identifier": e.identifier, "role": e.interface, "url": f"{base}/{e.path}"}
                     for e in spec.endpoints if not e.roles or e.roles & roles]
        return respond_data({"version": spec.version, "endpoints": endpoints})

    return Router(OCPI_PREFIX, route_handlers=[list_versions, version_details],
                  dependencies={"caller": Provide(provide_caller)}, tags=["versions"])


@dataclass(frozen=True, slots=True)
class Discovered:
    version: str
    endpoints: list[dict[str, str]]
    base64: bool


_VERSION = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}")


def _unusable(what: str, exc: Exception) -> OcpiError:
    """3001; the caller is told no more than `OcpiCallError.public` (we are not a proxy), the operator all."""
    public = exc.public if isinstance(exc, OcpiCallError) else f"not an OCPI answer: {exc}"
    return OcpiError(3001, f"cannot read {what}: {public}", detail=f"cannot read {what}: {exc}")


async def discover(client: OcpiClient, versions_url: str, token: str, supported: list[str],
                   base64: bool = True) -> Discovered:
    """Read a peer's versions with `token`, take the highest version both sides speak, read its endpoints.
    Raises OcpiError 3001 (peer unusable), 3002 (no mutual version) or 3003 (no credentials endpoint)."""
    try:
        reply = await client.call("GET", versions_url, token, base64=base64)
        offered = reply.decode(list[Version])
    except (OcpiCallError, ValueError) as exc:
        raise _unusable(f"the versions at {versions_url}", exc) from None
    mutual = sorted((v for v in offered if v.version in supported), key=lambda v: _numeric(v.version), reverse=True)
    if not mutual:
        # Only version numbers of what was fetched are repeated to the caller (we are not a proxy).
        shown = [v.version if _VERSION.fullmatch(v.version) else "(not a version number)" for v in offered]
        raise OcpiError(UNSUPPORTED_VERSION, f"no mutual OCPI version: {versions_url} offers "
                        f"{', '.join(shown) or 'none'}; we speak {', '.join(supported)}")
    chosen = mutual[0]
    what = f"the details of version {chosen.version} listed at {versions_url}"
    try:
        details = (await client.call("GET", chosen.url, token, base64=reply.used_base64)).decode(VersionDetails)
    except (OcpiCallError, ValueError) as exc:
        raise _unusable(what, exc) from None
    endpoints = [{"identifier": e.identifier, "role": e.role, "url": e.url} for e in details.endpoints]
    if not any(e["identifier"] == "credentials" for e in endpoints):
        raise OcpiError(3003, f"{what} list no credentials endpoint")
    return Discovered(chosen.version, endpoints, reply.used_base64)
