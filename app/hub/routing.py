"""Who receives a message sent to the hub (digest §1.9): the party in OCPI-to (direct routing), every connected
party of the opposite role when OCPI-to is the hub itself (broadcast push), or, without OCPI-to, the party the
URL names or a broadcast (open routing). Decides only; `forward` and `broadcast` deliver."""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncpg

from app.db import peers
from app.db.parties import Party
from app.db.peers import Peer
from app.hub import registry, rules
from app.hub.registry import CONNECTED, Entry
from app.ocpi.routing import PartyRef
from app.ocpi.transport import (
    HUB_ERROR,
    INVALID_PARAMETERS,
    RECEIVER_NOT_CONNECTED,
    UNKNOWN_RECEIVER,
    OcpiError,
)

FUNCTIONAL = ("locations", "tariffs", "sessions", "cdrs", "tokens", "commands", "chargingprofiles")
"""The modules routed through the hub (digest §1.8); configuration modules never are."""
BROADCAST_MODULES = ("locations", "tariffs", "tokens")
"""Meant for every party; sessions and CDRs are party-specific (GDPR) and never broadcast (§1.9)."""
PUSHES = ("POST", "PUT", "PATCH", "DELETE")
OPPOSITE = {"CPO": ("EMSP", "NSP", "OTHER"), "EMSP": ("CPO",), "OTHER": ("CPO",)}
"""Who receives a broadcast push of a party of each role (§1.9: OTHER counts as an eMSP-like role)."""
OWNER = {"locations": "CPO", "tariffs": "CPO", "sessions": "CPO", "cdrs": "CPO", "tokens": "EMSP"}
_CC, _PID = re.compile(r"[A-Za-z]{2}"), re.compile(r"[A-Za-z0-9]{3}")


@dataclass(frozen=True, slots=True)
class Message:
    """A request a connected party sent to the hub's `interface` of `module`."""

    caller: Peer
    module: str
    interface: str
    """SENDER or RECEIVER: the interface of the receiving party the message is for."""
    method: str
    path: str
    """Below the module's endpoint, exactly as received (percent-encoding kept): "" or "/NL/CPO/LOC1"."""
    query: str
    """The raw query string, "" when none."""
    sender: PartyRef
    sender_role: str
    to: PartyRef | None


@dataclass(frozen=True, slots=True)
class Direct:
    """Forward to one party: `url` is its endpoint of the module and interface with the path appended."""

    receiver: Entry
    peer: Peer
    endpoint: str
    path: str

    @property
    def to(self) -> PartyRef:
        return PartyRef(self.receiver.country_code, self.receiver.party_id)


@dataclass(frozen=True, slots=True)
class Broadcast:
    receivers: list[Entry]
    skipped: list[tuple[Entry, str]]
    """Connected parties the rules keep out, with the reason."""


@dataclass(frozen=True, slots=True)
class GetAll:
    """GET All via the hub (`getall`): every connected owner party's Sender list, in this order."""

    owners: list[Direct]


def key(p: PartyRef) -> rules.Key:
    return (p.country_code, p.party_id)


def label(p: PartyRef) -> str:
    return f"{p.country_code}*{p.party_id}"


def sender_role(caller: Peer, sender: PartyRef, module: str) -> str:
    """The role the sender speaks in: the module's owner role when its party has it (a party with CPO and EMSP
    roles broadcasts locations as CPO), else OTHER, else its first role."""
    held = [p.role for p in caller.parties if (p.country_code, p.party_id) == key(sender)]
    for role in (OWNER.get(module), "OTHER"):
        if role in held:
            return role
    return held[0]


async def decide(conn: asyncpg.Connection | asyncpg.Pool, msg: Message,
                 hub_parties: list[Party]) -> Direct | Broadcast | GetAll:
    if msg.to is None:
        return await _open(conn, msg)
    if key(msg.to) in {p.key for p in hub_parties}:
        if msg.interface == "SENDER" and msg.method == "GET" and msg.path == "" and msg.module in OWNER:
            return await get_all_targets(conn, msg)
        if msg.interface != "RECEIVER" or msg.method not in PUSHES or msg.module not in BROADCAST_MODULES:
            raise OcpiError(INVALID_PARAMETERS, f"OCPI-to {label(msg.to)} is the hub: a broadcast is a push (POST, PUT, "
                                                f"PATCH or DELETE) to a Receiver interface of {', '.join(BROADCAST_MODULES)}, "
                                                f"a GET all is a GET of a Sender list of {', '.join(OWNER)}; "
                                                "address another message to the party it is for")
        return await broadcast_targets(conn, msg)
    return await direct(conn, msg, msg.to, msg.path)


async def direct(conn: asyncpg.Connection | asyncpg.Pool, msg: Message, to: PartyRef, path: str) -> Direct:
    found = await registry.lookup(conn, to.country_code, to.party_id)
    if not found:
        raise OcpiError(UNKNOWN_RECEIVER, f"unknown receiver {label(to)}: no such party is connected to this hub")
    reason = await rules.blocked(conn, key(msg.sender), key(to))
    if reason is not None:
        raise OcpiError(HUB_ERROR, f"blocked by the hub's rules: {reason}")
    connected = [e for e in found if e.status == CONNECTED]
    if not connected:
        raise OcpiError(RECEIVER_NOT_CONNECTED, f"receiver {label(to)} is not connected ({found[0].status})")
    for entry in connected:
        peer = await peers.by_id(conn, entry.peer_id)
        endpoint = peer.endpoint(msg.module, msg.interface) if peer is not None and peer.registered else None
        if peer is not None and endpoint is not None and peer.token_out_enc is not None:
            return Direct(entry, peer, endpoint, path)
    raise OcpiError(HUB_ERROR, f"receiver {label(to)} offers no {msg.module} {msg.interface.lower()} interface")


async def _open(conn: asyncpg.Connection | asyncpg.Pool, msg: Message) -> Direct | Broadcast:
    """Open routing (no OCPI-to): a push of objects meant for everyone is broadcast; a Sender GET or POST of one
    object goes to the party its URL starts with (`/{cc}/{pid}/...`, which is taken off the path: Sender URLs carry
    no party); anything else cannot be routed."""
    if msg.interface == "RECEIVER" and msg.method in PUSHES and msg.module in BROADCAST_MODULES:
        return await broadcast_targets(conn, msg)
    segments = msg.path.split("/")[1:]
    if msg.interface == "SENDER" and msg.method in ("GET", "POST") and len(segments) >= 3 \
            and _CC.fullmatch(segments[0]) and _PID.fullmatch(segments[1]):
        to = PartyRef(segments[0].upper(), segments[1].upper())
        return await direct(conn, msg, to, "/" + "/".join(segments[2:]))
    raise OcpiError(UNKNOWN_RECEIVER, "cannot choose a receiver: without OCPI-to the hub routes a Receiver push of "
                                      f"{', '.join(BROADCAST_MODULES)} to everyone, and a Sender GET or POST of one object "
                                      "to the party its URL starts with (/{country_code}/{party_id}/...)")


async def broadcast_targets(conn: asyncpg.Connection | asyncpg.Pool, msg: Message) -> Broadcast:
    roles = OPPOSITE.get(msg.sender_role)
    if roles is None:
        raise OcpiError(INVALID_PARAMETERS, f"a {msg.sender_role} party cannot broadcast (only CPO, EMSP and OTHER)")
    segments = msg.path.split("/")[1:]
    if len(segments) >= 2 and (segments[0].upper(), segments[1].upper()) != key(msg.sender):
        raise OcpiError(INVALID_PARAMETERS, f"a broadcast push carries the sender's own objects: the URL names "
                                            f"{segments[0]}*{segments[1]}, OCPI-from is {label(msg.sender)}")
    seen: set[tuple[int, str, str]] = set()
    candidates: list[Entry] = []
    # OFFLINE parties too: their queue (coalesced per object) is what they get when they answer again; leaving
    # them out would lose every update made while they were away.
    for e in await registry.connected_with_role(conn, roles, msg.module, "RECEIVER", offline=True):
        if e.key != key(msg.sender) and (e.peer_id, *e.key) not in seen:
            seen.add((e.peer_id, *e.key))
            candidates.append(e)
    lists = await rules.load(conn, [key(msg.sender), *(e.key for e in candidates)])
    receivers: list[Entry] = []
    skipped: list[tuple[Entry, str]] = []
    for e in candidates:
        reason = lists.blocked(key(msg.sender), e.key)
        if reason is None:
            receivers.append(e)
        else:
            skipped.append((e, reason))
    return Broadcast(receivers, skipped)


async def get_all_targets(conn: asyncpg.Connection | asyncpg.Pool, msg: Message) -> GetAll:
    """Every CONNECTED party of the module's owner role offering its Sender list (not the asker, nor one the rules
    keep apart from it), ordered by country code and party id."""
    candidates = sorted({e.key: e for e in await registry.connected_with_role(conn, [OWNER[msg.module]], msg.module,
                                                                               "SENDER") if e.key != key(msg.sender)}.values(),
                        key=lambda e: e.key)
    lists = await rules.load(conn, [key(msg.sender), *(e.key for e in candidates)])
    owners = [await direct(conn, msg, PartyRef(*e.key), "") for e in candidates if lists.blocked(key(msg.sender), e.key) is None]
    return GetAll(owners)
