"""Third-party services by permission (issue 9 §2): a data owner grants a service party copies of its messages of
one module and interface (e.g. every CDR a CPO sends to its eMSPs, for a billing service). The hub copies each
forwarded message to every live grant's service party through the outbox, addressed to the service party, from
the original sender, marked with the original addressee and correlation id. Allow/deny rules (stream H) apply."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.db import peers
from app.db.parties import PartyError, parse_code
from app.hub import registry
from app.outbox.queue import Push
from app.outbox.queue import enqueue_many as enqueue_pushes

log = logging.getLogger(__name__)

MODULES = ("locations", "tariffs", "sessions", "cdrs", "tokens", "commands", "chargingprofiles")
INTERFACES = ("SENDER", "RECEIVER")
PUSH_METHODS = ("POST", "PUT", "PATCH", "DELETE")
COPY_TO_COUNTRY, COPY_TO_PARTY = "X-OCPI-Copy-To-Country-Code", "X-OCPI-Copy-To-Party-Id"

try:  # stream H's allow/deny lists; absent until it merges
    _rules: Any = importlib.import_module("app.hub.rules")
except ModuleNotFoundError:
    _rules = None


class GrantError(ValueError):
    """A grant that cannot be made as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class Grant:
    id: int
    owner: tuple[str, str]
    service: tuple[str, str]
    module: str
    interface: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "owner": _party_json(self.owner), "service": _party_json(self.service),
                "module": self.module, "interface": self.interface, "created_at": self.created_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


def _party_json(party: tuple[str, str]) -> dict[str, str]:
    return {"country_code": party[0], "party_id": party[1]}


def parse_party(text: str, what: str) -> tuple[str, str]:
    """`CC/PID` (or CC*PID): a party's country code and party id."""
    try:
        return parse_code(text, what)
    except PartyError as exc:
        raise GrantError(str(exc)) from None


def check_module(module: str, interface: str) -> tuple[str, str]:
    if module.lower() not in MODULES:
        raise GrantError(f"module {module!r} must be one of {', '.join(MODULES)}")
    if interface.upper() not in INTERFACES:
        raise GrantError(f"interface {interface!r} must be SENDER or RECEIVER")
    return module.lower(), interface.upper()


_COLUMNS = """id, owner_country_code, owner_party_id, service_country_code, service_party_id, module, interface,
    created_at, revoked_at"""


def _load(r: asyncpg.Record) -> Grant:
    return Grant(r["id"], (r["owner_country_code"], r["owner_party_id"]), (r["service_country_code"], r["service_party_id"]),
                 r["module"], r["interface"], r["created_at"], r["revoked_at"])


async def create(conn: asyncpg.Connection | asyncpg.Pool, owner: tuple[str, str], service: tuple[str, str], module: str,
                 interface: str = "RECEIVER") -> Grant:
    module, interface = check_module(module, interface)
    if owner == service:
        raise GrantError("a party needs no grant to see its own messages: owner and service are the same party")
    row = await conn.fetchrow(
        f"""INSERT INTO service_grants (owner_country_code, owner_party_id, service_country_code, service_party_id,
                                        module, interface)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING {_COLUMNS}""",
        *owner, *service, module, interface)
    if row is None:
        existing = await conn.fetchval(
            """SELECT id FROM service_grants WHERE owner_country_code = $1 AND owner_party_id = $2
               AND service_country_code = $3 AND service_party_id = $4 AND module = $5 AND interface = $6
               AND revoked_at IS NULL""", *owner, *service, module, interface)
        raise GrantError(f"already granted: grant {existing}")
    return _load(row)


async def list_grants(conn: asyncpg.Connection | asyncpg.Pool, revoked: bool = False) -> list[Grant]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM service_grants WHERE $1 OR revoked_at IS NULL ORDER BY id", revoked)
    return [_load(r) for r in rows]


async def revoke(conn: asyncpg.Connection | asyncpg.Pool, grant_id: int) -> Grant | None:
    """Revoke a live grant at once (no copy is queued after this commits); None when there is no live grant `grant_id`."""
    row = await conn.fetchrow(
        f"UPDATE service_grants SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING {_COLUMNS}", grant_id)
    return None if row is None else _load(row)


async def _service_peer(conn: asyncpg.Connection, service: tuple[str, str], module: str) -> int | None:
    """The peer through which the service party is reached now (CONNECTED, or OFFLINE: it gets the copy once back)
    and that offers the module's Receiver."""
    for entry in await registry.lookup(conn, service[0], service[1]):
        if entry.status not in (registry.CONNECTED, registry.OFFLINE):
            continue
        peer = await peers.by_id(conn, entry.peer_id)
        if peer is not None and peer.registered and peer.endpoint(module, "RECEIVER"):
            return peer.id
    return None


async def copy_message(conn: asyncpg.Connection, module: str, interface: str, method: str, path: str,
                       body: bytes | None, sender: tuple[str, str], receiver: tuple[str, str],
                       correlation_id: str | None) -> int:
    """Queue a copy of one forwarded message for every live grant of (owner = `sender`, module, interface): to the
    service party's Receiver of `module`, same path and body, to = the service party, from = the original sender,
    with the original addressee and X-Correlation-ID in headers. Reads (GET) are not copied. Returns how many
    copies were queued. Call in the transaction that records the forward."""
    if method.upper() not in PUSH_METHODS:
        return 0
    sender = (sender[0].upper(), sender[1].upper())
    receiver = (receiver[0].upper(), receiver[1].upper())
    rows = await conn.fetch(
        """SELECT DISTINCT service_country_code, service_party_id FROM service_grants
           WHERE owner_country_code = $1 AND owner_party_id = $2 AND module = $3 AND interface = $4 AND revoked_at IS NULL
           ORDER BY 1, 2""", sender[0], sender[1], module.lower(), interface.upper())
    headers = {COPY_TO_COUNTRY: receiver[0], COPY_TO_PARTY: receiver[1]}
    if correlation_id:
        headers["X-Correlation-ID"] = correlation_id
    pushes = []
    for r in rows:
        service = (r["service_country_code"], r["service_party_id"])
        if service == receiver:
            continue  # the addressee has the message itself
        if _rules is not None:
            reason = await _rules.blocked(conn, sender, service)
            if reason:
                log.info("hub: copy blocked by a rule", extra={"service": "*".join(service), "reason": reason})
                continue
        peer_id = await _service_peer(conn, service, module.lower())
        if peer_id is None:
            log.info("hub: no connected peer offers the service party a receiver", extra={"service": "*".join(service),
                                                                                        "module": module})
            continue
        pushes.append(Push(peer_id=peer_id, module=module.lower(), method=method.upper(), path=path, body=body,
                           sender=sender, receiver=service, headers=dict(headers)))
    return await enqueue_pushes(conn, pushes)
