"""OCPI 2.2.1 as served here: the endpoints each hosted role offers and the routers behind them.
Another version is another module like this one, listed in `app.server.VERSIONS`."""

from __future__ import annotations

from typing import Any

from litestar import Router
from litestar.di import Provide

from app.hub import clientinfo as hub_clientinfo
from app.hub import endpoints as hub_endpoints
from app.hub import routing as hub_routing
from app.modules import access, cdrs, hubclientinfo, locations, sessions, tariffs, tokens
from app.modules.common import Module
from app.ocpi import credentials
from app.ocpi.auth import provide_caller
from app.ocpi.versions import OCPI_PREFIX, EndpointSpec, VersionSpec

VERSION = "2.2.1"
_MODULES: list[tuple[Module, list[Any], list[Any]]] = [
    (m.MODULE, m.SENDER, m.RECEIVER) for m in (locations, tariffs, sessions, cdrs, tokens)
]


def _endpoints() -> tuple[EndpointSpec, ...]:
    out = [EndpointSpec("credentials", "SENDER", "credentials")]
    for module, _, _ in _MODULES:
        # The owner role offers the Sender interface, the other side the Receiver interface (§3).
        out.append(EndpointSpec(module.identifier, "SENDER", f"sender/{module.identifier}", frozenset({module.owner_role})))
        out.append(EndpointSpec(module.identifier, "RECEIVER", f"receiver/{module.identifier}",
                                frozenset({module.viewer_role})))
    # HubClientInfo (§3.8): every party that may be behind a hub receives it; a hub sends the list.
    out.append(EndpointSpec(hubclientinfo.MODULE, "RECEIVER", f"receiver/{hubclientinfo.MODULE}", frozenset({"CPO", "EMSP"})))
    # A hub offers both interfaces of every routed module, and its HubClientInfo list (issue 9 §2).
    for identifier in hub_routing.FUNCTIONAL:
        for interface in ("SENDER", "RECEIVER"):
            out.append(EndpointSpec(identifier, interface, f"hub/{interface.lower()}/{identifier}", frozenset({"HUB"})))
    out.append(EndpointSpec(hubclientinfo.MODULE, "SENDER", f"hub/{hubclientinfo.MODULE}", frozenset({"HUB"})))
    return tuple(out)


def routers() -> list[Router]:
    base = f"{OCPI_PREFIX}/{VERSION}"
    out = [Router(base, route_handlers=credentials.HANDLERS, dependencies={"caller": Provide(provide_caller)},
                  tags=["credentials"])]
    for module, sender, receiver in _MODULES:
        for interface, handlers in (("sender", sender), ("receiver", receiver)):
            # Every route checks the caller's role and routing headers, not only its token (issue 7 §2).
            out.append(Router(f"{base}/{interface}/{module.identifier}", route_handlers=handlers,
                              dependencies={"peer": Provide(access.provider(module, interface.upper()))},
                              tags=[f"{module.identifier} {interface}"]))
    out += [hubclientinfo.receiver_router(base), hub_clientinfo.sender_router(base), hub_endpoints.router()]
    return out


SPEC = VersionSpec(VERSION, _endpoints())
