"""Who may call which interface of a functional module (issue 7 §2): the caller's roles, not only its token,
and the routing headers of digest §1.8. One rule for every module:

- Sender (we own the objects): the caller holds a party of one of the module's reader roles, we answer as a
  party of the owner role. Readers: Locations and Tariffs go to EMSP, NSP and OTHER parties (digest §1.9: a
  CPO's objects go to "eMSPs, NSPs, OTHER"); Sessions and CDRs only to EMSP parties (party-specific, §1.9);
  Tokens and authorize only to CPO parties (§3.5). HUB and SCSP parties read nothing here.
- Receiver (the caller's party owns the objects): the caller holds a party of the owner role, we answer as a
  party of a reader role.

Refusals: a Sender the caller's roles may not read is HTTP 403; a Receiver for objects the caller cannot own
is HTTP 404 (§1.7: "MAY answer 404 when the URL's country/party is not one of the client's roles"). Routing
headers must come in whole pairs of well-formed codes; OCPI-from must name a party of the caller with a role
of this interface, OCPI-to a party hosted here with ours; otherwise 2001 with what was wrong.

A hub peer (one holding a HUB party) acts for the parties its ClientInfo lists and has not SUSPENDED (digest §1.9,
§3.8): for this request it holds them too, with their roles, so the rules above and the Receiver's ownership
checks apply to them unchanged (objects they push are stored with the hub's peer id). It may also name itself in
OCPI-from: a broadcast reaches us from the hub (§1.9), the objects still belonging to the party in the URL."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request

from app.db.parties import Party
from app.db.reachable import listed_by_hub
from app.db.peers import Peer, PeerParty, labels
from app.modules.common import Module, own_parties
from app.ocpi.auth import provide_peer
from app.ocpi.routing import PartyRef
from app.ocpi.transport import CLIENT_ERROR, INVALID_PARAMETERS, OcpiError, not_found

SENDER, RECEIVER = "SENDER", "RECEIVER"
_CODE = {"country-code": re.compile(r"[A-Za-z]{2}"), "party-id": re.compile(r"[A-Za-z0-9]{3}")}


def caller_roles(module: Module, interface: str) -> tuple[str, ...]:
    return module.reader_roles if interface == SENDER else (module.owner_role,)


def our_roles(module: Module, interface: str) -> tuple[str, ...]:
    return (module.owner_role,) if interface == SENDER else module.reader_roles


def routing_pair(request: Request[Any, Any, Any], side: str) -> PartyRef | None:
    """OCPI-{side}-country-code/-party-id, both or neither, each a well-formed CiString (§1.8)."""
    values = {part: request.headers.get(f"ocpi-{side}-{part}") for part in _CODE}
    if not any(values.values()):
        return None
    for part, pattern in _CODE.items():
        value = values[part]
        if not value:
            other = next(p for p in _CODE if p != part)
            raise OcpiError(INVALID_PARAMETERS, f"OCPI-{side}-{other} given without OCPI-{side}-{part}: "
                                                "routing headers come in pairs (§1.8)")
        if not pattern.fullmatch(value):
            size = 2 if part == "country-code" else 3
            raise OcpiError(INVALID_PARAMETERS, f"OCPI-{side}-{part} {value!r} is not a CiString({size}) "
                                                f"{'country code' if size == 2 else 'party id'}")
    return PartyRef(str(values["country-code"]).upper(), str(values["party-id"]).upper())


def _roles(roles: tuple[str, ...]) -> str:
    return "/".join(roles)


def _names(parties: list[Party]) -> str:
    return ", ".join(p.label() for p in parties) or "none"


async def check(request: Request[Any, Any, Any], peer: Peer, module: Module, interface: str) -> None:
    theirs = caller_roles(module, interface)
    held: list[PeerParty] = [p for p in peer.parties if p.role in theirs]
    where = f"the {module.identifier} {interface.lower()} interface"
    if not held:
        message = f"{where} is for {_roles(theirs)} parties; your platform holds {labels(peer.parties)}"
        if interface == SENDER:
            raise OcpiError(CLIENT_ERROR, message, http_status=403)
        raise not_found(message)
    frm = routing_pair(request, "from")
    speakers = held + peer.parties_with_role("HUB")
    if frm is not None and not any((p.country_code, p.party_id) == (frm.country_code, frm.party_id) for p in speakers):
        raise OcpiError(INVALID_PARAMETERS, f"OCPI-from {frm.country_code}*{frm.party_id} is not a {_roles(theirs)} "
                                            f"party of your platform (yours on {where}: {labels(held)})")
    ours = [p for p in await own_parties(request) if p.role in our_roles(module, interface)]
    if not ours:
        raise not_found(f"this deployment hosts no {_roles(our_roles(module, interface))} party: {where} is not offered")
    to = routing_pair(request, "to")
    if to is not None and not any(p.key == (to.country_code, to.party_id) for p in ours):
        raise OcpiError(INVALID_PARAMETERS, f"OCPI-to {to.country_code}*{to.party_id} is not a "
                                            f"{_roles(our_roles(module, interface))} party hosted here (ours: {_names(ours)})")


async def with_hub_clients(request: Request[Any, Any, Any], peer: Peer) -> Peer:
    """A hub peer with the parties it acts for added to those it holds (this request only); others unchanged."""
    if not peer.parties_with_role("HUB"):
        return peer
    listed = await listed_by_hub(request.app.state.pool, peer.id)
    held = set(peer.parties)
    return dataclasses.replace(peer, parties=peer.parties + [p for p in listed if p not in held])


def provider(module: Module, interface: str) -> Callable[[Request[Any, Any, Any]], Awaitable[Peer]]:
    """The `peer` dependency of a module's Sender or Receiver router: a registered peer allowed there."""

    async def provide(request: Request[Any, Any, Any]) -> Peer:
        peer = await with_hub_clients(request, await provide_peer(request))
        await check(request, peer, module, interface)
        return peer

    return provide


async def our_owners(request: Request[Any, Any, Any], module: Module) -> list[tuple[str, str]]:
    """The parties of ours a Sender request addresses: OCPI-to (checked by `check`), else every one of ours
    that owns this module's objects."""
    to = routing_pair(request, "to")
    if to is not None:
        return [(to.country_code, to.party_id)]
    return [p.key for p in await own_parties(request) if p.role == module.owner_role]
